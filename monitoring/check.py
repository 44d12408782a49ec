"""The `nordlid drift` stage: reference vs served window → report + verdict (+ live accuracy)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from monitoring.data import (
    HistoricalFetch,
    Reference,
    load_feedback,
    load_reference,
    load_serving_log,
)
from monitoring.drift import DriftConfig, DriftDataError, DriftResult, compute_drift
from monitoring.feedback import LiveAccuracy, live_accuracy
from monitoring.report import report_dir, write_report
from nordlid.workdir import Workdir

log = logging.getLogger(__name__)


@dataclass
class DriftRun:
    result: DriftResult
    report_dir: Path
    live: LiveAccuracy | None
    reference: Reference
    current: pd.DataFrame


def served_features(reference: Reference, current: pd.DataFrame) -> list[str]:
    """The reference features the serving log holds values for (a clear error if none)."""
    present = [f for f in reference.features if f in current.columns and current[f].notna().any()]
    absent = [f for f in reference.features if f not in present]
    if absent:
        log.warning(
            "%d of %d features of %s are not in the serving log window: %s",
            len(absent),
            len(reference.features),
            reference.model_ref,
            ", ".join(absent[:8]),
        )
    if not present:
        raise DriftDataError(
            f"the serving log window has none of the features of {reference.model_ref} "
            f"({', '.join(reference.features[:5])}, ...)"
        )
    return present


def run_drift(
    workdir: Workdir,
    *,
    window: int | None = None,
    since: timedelta | None = None,
    model_ref: str = "@production",
    config: DriftConfig | None = None,
    now: datetime | None = None,
    fetch: HistoricalFetch | None = None,
    with_models: Sequence[str] = (),
) -> DriftRun:
    """Compare the served window with ``model_ref``'s training reference (plus the features
    of ``with_models``, e.g. the cascade's ``@mini``); write the report."""
    config = config or DriftConfig()
    now = now or datetime.now(UTC)
    current = load_serving_log(workdir, window=window, since=since, now=now)
    if current.empty:
        raise DriftDataError(
            "the serving log has no requests in the chosen window"
            + (f" (--since {since})" if since else "")
        )
    reference = load_reference(workdir, model_ref, fetch=fetch, with_models=with_models)
    features = served_features(reference, current)
    outcome = compute_drift(
        reference.frame,
        current,
        config,
        features=features,
        prediction_reference=reference.predictions,
    )
    feedback = load_feedback(workdir)
    live = live_accuracy(current, feedback) if not feedback.empty else None
    out = report_dir(workdir.reports, now)
    meta: dict[str, object] = {
        "model": reference.model_ref,
        "feature_service": reference.card.feature_service,
        "with_models": ", ".join(with_models),
        "window": f"last {window} requests" if window else "",
        "since": str(since) if since else "",
        "current_from": str(current["timestamp"].min()),
        "current_to": str(current["timestamp"].max()),
        "created_at": now.isoformat(),
    }
    if live is not None and live.n:
        meta["live_accuracy"] = f"{live.accuracy:.3f} on {live.n} labelled requests"
        meta["live_recall"] = ", ".join(
            f"{k}: {v.recall:.2f} (n={v.n})" for k, v in sorted(live.per_language.items())
        )
    write_report(outcome, out, {k: v for k, v in meta.items() if v != ""})
    if live is not None:
        (out / "live_accuracy.json").write_text(live.model_dump_json(indent=2))
    return DriftRun(
        result=outcome.result, report_dir=out, live=live, reference=reference, current=current
    )
