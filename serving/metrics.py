"""Prometheus metrics of one app instance (own registry, so several apps never collide)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["PROMETHEUS_CONTENT_TYPE", "ServiceMetrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nordlid_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nordlid_request_latency_seconds",
            "Request latency by route template and answering model.",
            ["route", "model"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "nordlid_predictions",
            "Predictions by route, answering model and whether the cascade escalated.",
            ["route", "model", "escalated"],
            registry=self.registry,
        )
        self.cascade_decisions = Counter(
            "nordlid_cascade_decisions",
            "Predictions the cascade decided on (denominator of the escalation rate).",
            registry=self.registry,
        )
        self.escalations = Counter(
            "nordlid_escalations",
            "Predictions escalated from the mini to the premium model.",
            registry=self.registry,
        )
        self.escalation_rate = Gauge(
            "nordlid_escalation_rate",
            "Share of predictions escalated to the premium model since start.",
            registry=self.registry,
        )
        self._n_decided = 0
        self._n_escalated = 0
        self.escalation_rate.set_function(self._escalation_rate)
        self.pushes = Counter(
            "nordlid_online_pushes",
            "Feature rows pushed to the online store, by view.",
            ["view"],
            registry=self.registry,
        )
        self.push_failures = Counter(
            "nordlid_online_push_failures",
            "Online-store pushes dropped after all retries (or a full queue), by view.",
            ["view"],
            registry=self.registry,
        )
        self.online_store_errors = Counter(
            "nordlid_online_store_errors",
            "Online-store reads that failed because the store did not answer.",
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "nordlid_bad_requests",
            "Rejected inputs by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )

    def _escalation_rate(self) -> float:
        return self._n_escalated / self._n_decided if self._n_decided else 0.0

    def record_prediction(self, route: str, model: str, escalated: bool) -> None:
        self.predictions.labels(route=route, model=model, escalated=str(escalated).lower()).inc()
        self.cascade_decisions.inc()
        self._n_decided += 1
        if escalated:
            self.escalations.inc()
            self._n_escalated += 1

    def record_push(self, view: str, ok: bool) -> None:
        (self.pushes if ok else self.push_failures).labels(view=view).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
