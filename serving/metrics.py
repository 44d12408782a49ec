"""Prometheus metrics of one app instance, kept in the instance itself.

The values live in this object (plain numbers under a lock) and are exposed through a
custom collector on the instance's own :class:`~prometheus_client.CollectorRegistry`.  They
deliberately do not use ``prometheus_client``'s ``Counter``/``Histogram`` classes: those
store values through a process-wide ``ValueClass`` that switches to multiprocess mode
(memory-mapped files keyed by metric name and labels, shared by every metric of that name
in the process) whenever ``PROMETHEUS_MULTIPROC_DIR`` is set before ``prometheus_client``
is first imported — and importing ``feast`` sets it.  Two apps in one process (tests, a
reload of the app) then counted each other's requests.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["BUCKETS", "PROMETHEUS_CONTENT_TYPE", "ServiceMetrics"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[str, ...]


class _Counter:
    """Counts per label tuple (not thread-safe on its own: the owner holds the lock)."""

    def __init__(self, name: str, doc: str, labelnames: Labels = ()) -> None:
        self.name, self.doc, self.labelnames = name, doc, labelnames
        self.values: dict[Labels, float] = {}
        if not labelnames:
            self.values[()] = 0.0

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"metric {self.name}: labels {labels} do not match {self.labelnames}")
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def family(self) -> Metric:
        fam = CounterMetricFamily(self.name, self.doc, labels=list(self.labelnames))
        for labels, value in sorted(self.values.items()):
            fam.add_metric(list(labels), value)
        return fam


class _Histogram:
    """Bucket counts and sums per label tuple (the owner holds the lock)."""

    def __init__(self, name: str, doc: str, labelnames: Labels, buckets: tuple[float, ...]):
        self.name, self.doc, self.labelnames, self.buckets = name, doc, labelnames, buckets
        self.counts: dict[Labels, list[int]] = {}  # per bucket (not cumulative), then +Inf
        self.sums: dict[Labels, float] = {}

    def observe(self, labels: Labels, value: float) -> None:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"metric {self.name}: labels {labels} do not match {self.labelnames}")
        counts = self.counts.setdefault(labels, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] = self.sums.get(labels, 0.0) + value

    def family(self) -> Metric:
        fam = HistogramMetricFamily(self.name, self.doc, labels=list(self.labelnames))
        for labels, counts in sorted(self.counts.items()):
            cumulative, running = [], 0
            for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
                running += n
                cumulative.append((_le(bound), float(running)))
            fam.add_metric(list(labels), cumulative, sum_value=self.sums[labels])
        return fam


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class ServiceMetrics(Collector):
    """Request counts, latency, predictions, escalations, pushes and store errors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = _Counter(
            "nordlid_requests",
            "HTTP requests by route template, method and status code.",
            ("route", "method", "status"),
        )
        self.latency = _Histogram(
            "nordlid_request_latency_seconds",
            "Request latency by route template and answering model.",
            ("route", "model"),
            BUCKETS,
        )
        self.predictions = _Counter(
            "nordlid_predictions",
            "Predictions by route, answering model and whether the cascade escalated.",
            ("route", "model", "escalated"),
        )
        self.cascade_decisions = _Counter(
            "nordlid_cascade_decisions",
            "Predictions the cascade decided on (denominator of the escalation rate).",
        )
        self.escalations = _Counter(
            "nordlid_escalations", "Predictions escalated from the mini to the premium model."
        )
        self.pushes = _Counter(
            "nordlid_online_pushes", "Feature rows pushed to the online store, by view.", ("view",)
        )
        self.push_failures = _Counter(
            "nordlid_online_push_failures",
            "Online-store pushes dropped after all retries (or a full queue), by view.",
            ("view",),
        )
        self.online_store_errors = _Counter(
            "nordlid_online_store_errors",
            "Online-store reads that failed because the store did not answer.",
        )
        self.bad_requests = _Counter(
            "nordlid_bad_requests", "Rejected inputs by route and status code.", ("route", "status")
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # --- recording ----------------------------------------------------------------------
    def record_request(
        self, route: str, method: str, status: int, model: str, seconds: float
    ) -> None:
        with self._lock:
            self.requests.inc((route, method, str(status)))
            self.latency.observe((route, model), seconds)
            if 400 <= status < 500:
                self.bad_requests.inc((route, str(status)))

    def record_prediction(self, route: str, model: str, escalated: bool) -> None:
        with self._lock:
            self.predictions.inc((route, model, str(escalated).lower()))
            self.cascade_decisions.inc()
            if escalated:
                self.escalations.inc()

    def record_push(self, view: str, ok: bool) -> None:
        with self._lock:
            (self.pushes if ok else self.push_failures).inc((view,))

    def record_online_store_error(self) -> None:
        with self._lock:
            self.online_store_errors.inc()

    # --- exposition ---------------------------------------------------------------------
    def escalation_rate(self) -> float:
        with self._lock:
            return self._escalation_rate_locked()

    def _escalation_rate_locked(self) -> float:
        decided = self.cascade_decisions.values[()]
        return self.escalations.values[()] / decided if decided else 0.0

    def collect(self) -> Iterator[Metric]:
        """The collector protocol of ``prometheus_client`` (a consistent snapshot)."""
        with self._lock:
            families = [
                self.requests.family(),
                self.latency.family(),
                self.predictions.family(),
                self.cascade_decisions.family(),
                self.escalations.family(),
                GaugeMetricFamily(
                    "nordlid_escalation_rate",
                    "Share of predictions escalated to the premium model since start.",
                    value=self._escalation_rate_locked(),
                ),
                self.pushes.family(),
                self.push_failures.family(),
                self.online_store_errors.family(),
                self.bad_requests.family(),
            ]
        yield from families

    def render(self) -> bytes:
        return generate_latest(self.registry)
