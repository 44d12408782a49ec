"""Retraining triggers: each decides from monitoring evidence and records why it fired.

- ``drift_share``: the share of drifted scalar feature columns reaches a threshold;
- ``embedding_drift``: Evidently's embedding drift method flags a feature view;
- ``prediction_drift``: the predicted language distribution drifted (off by default);
- ``accuracy_drop``: live accuracy (feedback) fell below the champion's dev accuracy, overall
  or for one language with enough labelled requests, by more than a threshold;
- ``schedule``: the production model is older than a maximum age.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from monitoring.drift import DriftResult
from monitoring.feedback import LiveAccuracy


class TriggerConfig(BaseModel):
    """Which triggers are active and their thresholds (None disables a trigger)."""

    model_config = ConfigDict(extra="forbid")

    drift_share: float | None = Field(default=0.3, gt=0, le=1)
    embedding_drift: bool = True
    prediction_drift: bool = False
    accuracy_drop: float | None = Field(default=0.1, gt=0, le=1)
    min_feedback: int = Field(default=20, ge=1)
    schedule_days: float | None = Field(default=None, gt=0)


class TriggerFiring(BaseModel):
    """One trigger that fired: what, why, and the numbers."""

    trigger: str
    reason: str
    value: float | None = None
    threshold: float | None = None


def _drift_triggers(config: TriggerConfig, drift: DriftResult) -> list[TriggerFiring]:
    out: list[TriggerFiring] = []
    if config.drift_share is not None and drift.columns and drift.drift_share >= config.drift_share:
        out.append(
            TriggerFiring(
                trigger="drift_share",
                reason=(
                    f"{drift.n_drifted_columns}/{len(drift.columns)} feature columns drifted "
                    f"({drift.drift_share:.0%} >= {config.drift_share:.0%}): "
                    + ", ".join(drift.drifted_columns[:10])
                ),
                value=drift.drift_share,
                threshold=config.drift_share,
            )
        )
    if config.embedding_drift and drift.embedding_drift:
        vectors = [e.feature for e in drift.embeddings if e.drifted]
        out.append(
            TriggerFiring(
                trigger="embedding_drift",
                reason=(
                    f"embedding drift in view(s) {', '.join(drift.drifted_views)} "
                    f"({len(vectors)} vectors: {', '.join(vectors[:10])})"
                ),
                value=float(len(vectors)),
            )
        )
    if config.prediction_drift and drift.prediction is not None and drift.prediction.drifted:
        dist = drift.language_distribution
        out.append(
            TriggerFiring(
                trigger="prediction_drift",
                reason=(
                    f"predicted language distribution drifted ({drift.prediction.method} "
                    f"{drift.prediction.score:.3g}): reference {dist.get('reference')}, "
                    f"current {dist.get('current')}"
                ),
                value=drift.prediction.score,
                threshold=drift.prediction.threshold,
            )
        )
    return out


def _accuracy_triggers(
    config: TriggerConfig, live: LiveAccuracy, champion_dev: dict[str, Any]
) -> list[TriggerFiring]:
    if config.accuracy_drop is None or live.n < config.min_feedback:
        return []
    out: list[TriggerFiring] = []
    base = champion_dev.get("accuracy")
    if base is not None and float(base) - live.accuracy > config.accuracy_drop:
        out.append(
            TriggerFiring(
                trigger="accuracy_drop",
                reason=(
                    f"live accuracy {live.accuracy:.3f} on {live.n} labelled requests is "
                    f"{float(base) - live.accuracy:.3f} below the champion's dev accuracy "
                    f"{float(base):.3f} (threshold {config.accuracy_drop})"
                ),
                value=float(base) - live.accuracy,
                threshold=config.accuracy_drop,
            )
        )
    for lang, acc in sorted(live.per_language.items()):
        dev_recall = champion_dev.get("recall", {}).get(lang)
        if dev_recall is None or acc.n < config.min_feedback:
            continue
        drop = float(dev_recall) - acc.recall
        if drop > config.accuracy_drop:
            out.append(
                TriggerFiring(
                    trigger="accuracy_drop",
                    reason=(
                        f"live recall[{lang}] {acc.recall:.3f} on {acc.n} requests is "
                        f"{drop:.3f} below dev recall {float(dev_recall):.3f}"
                    ),
                    value=drop,
                    threshold=config.accuracy_drop,
                )
            )
    return out


def evaluate_triggers(
    config: TriggerConfig,
    *,
    drift: DriftResult | None = None,
    live: LiveAccuracy | None = None,
    champion_dev: dict[str, Any] | None = None,
    champion_created_at: datetime | None = None,
    now: datetime | None = None,
) -> list[TriggerFiring]:
    """Every trigger that fires on the evidence given (missing evidence fires nothing)."""
    fired: list[TriggerFiring] = []
    if drift is not None:
        fired += _drift_triggers(config, drift)
    if live is not None and champion_dev is not None:
        fired += _accuracy_triggers(config, live, champion_dev)
    if config.schedule_days is not None and champion_created_at is not None and now is not None:
        age = now - champion_created_at
        if age >= timedelta(days=config.schedule_days):
            fired.append(
                TriggerFiring(
                    trigger="schedule",
                    reason=(
                        f"production model is {age.total_seconds() / 86400:.1f} days old "
                        f"(schedule: every {config.schedule_days:g} days)"
                    ),
                    value=age.total_seconds() / 86400,
                    threshold=config.schedule_days,
                )
            )
    return fired
