"""Live accuracy from labelled feedback joined to the serving log by ``request_id``.

``POST /v1/feedback`` stores ``(request_id, language, timestamp)`` rows in
``data/feedback/``; the serving log holds what was predicted.  When a request got feedback
more than once the latest label counts.
"""

from __future__ import annotations

import logging

import pandas as pd
from pydantic import BaseModel

from monitoring.drift import DriftDataError

log = logging.getLogger(__name__)


class LanguageAccuracy(BaseModel):
    n: int
    correct: int
    recall: float


class LiveAccuracy(BaseModel):
    """Accuracy of served predictions on the requests that received a true label."""

    n: int
    accuracy: float
    per_language: dict[str, LanguageAccuracy]

    def recall(self) -> dict[str, float]:
        return {lang: a.recall for lang, a in self.per_language.items()}


def join_feedback(serving_log: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """``request_id``, ``predicted``, ``true`` for every served request with feedback."""
    if feedback.empty or serving_log.empty:
        return pd.DataFrame(columns=["request_id", "predicted", "true"])
    for name, frame, cols in (
        ("serving log", serving_log, ("request_id", "language")),
        ("feedback", feedback, ("request_id", "language")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DriftDataError(f"{name} lacks columns {missing}")
    fb = feedback
    if "timestamp" in fb.columns:
        fb = fb.assign(timestamp=pd.to_datetime(fb["timestamp"], utc=True)).sort_values(
            "timestamp", kind="stable"
        )
    fb = fb.drop_duplicates("request_id", keep="last")[["request_id", "language"]]
    served = serving_log.drop_duplicates("request_id", keep="last")[["request_id", "language"]]
    joined = served.merge(fb, on="request_id", how="inner", suffixes=("_pred", "_true"))
    return joined.rename(columns={"language_pred": "predicted", "language_true": "true"})


def live_accuracy(serving_log: pd.DataFrame, feedback: pd.DataFrame) -> LiveAccuracy:
    joined = join_feedback(serving_log, feedback)
    correct = joined["predicted"].astype(str) == joined["true"].astype(str)
    per_language: dict[str, LanguageAccuracy] = {}
    for lang, mask in joined.groupby(joined["true"].astype(str)).groups.items():
        c = int(correct.loc[mask].sum())
        n = len(mask)
        per_language[str(lang)] = LanguageAccuracy(n=n, correct=c, recall=c / n)
    n = len(joined)
    result = LiveAccuracy(
        n=n, accuracy=float(correct.mean()) if n else 0.0, per_language=per_language
    )
    log.info("live accuracy on %d labelled requests: %.3f", n, result.accuracy)
    return result
