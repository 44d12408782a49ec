"""Inputs of a drift comparison: the served window and the production model's reference.

- current: ``data/serving_log/*.parquet`` over the last N requests or a time window;
- reference: the training features of a registered model, read from the Feast offline
  store (``feature_repo.store.historical_features``) for its training entities — the
  sliding window continuous training recorded next to the version
  (``train_entities.parquet``), else the train split of the validated manifest — plus the
  model's predictions on its dev split (the reference for prediction/confidence drift).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.drift import DriftDataError
from nordlid.errors import ConfigError, NordlidError
from nordlid.workdir import Workdir
from training.dataset import HistoricalFetch, feast_fetch

log = logging.getLogger(__name__)

# in a model version directory: the entities it was trained on (its drift reference)
TRAIN_ENTITIES_FILE = "train_entities.parquet"
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` → timedelta (ConfigError otherwise)."""
    m = _DURATION_RE.match(text)
    if not m:
        raise ConfigError(
            f"--since {text!r}: expected a number and a unit s/m/h/d/w, e.g. 24h or 7d"
        )
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def read_parts(directory: Path) -> pd.DataFrame:
    """Concatenate ``directory/*.parquet`` (empty frame when there are none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    frames = []
    for part in parts:
        try:
            frames.append(pq.read_table(part).to_pandas())
        except (OSError, pa.ArrowException) as exc:
            raise NordlidError(f"{part}: unreadable Parquet part ({exc})") from exc
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def select_window(
    log_df: pd.DataFrame,
    *,
    window: int | None = None,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The last ``window`` requests and/or those newer than ``now - since`` (oldest first)."""
    if window is not None and window < 1:
        raise ConfigError(f"--window must be >= 1, got {window}")
    if log_df.empty:
        return log_df
    if "timestamp" not in log_df.columns:
        raise DriftDataError("serving log has no 'timestamp' column")
    frame = log_df.copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame = frame.sort_values("timestamp", kind="stable")
    if since is not None:
        cutoff = pd.Timestamp(now or datetime.now(UTC)) - since
        frame = frame[frame["timestamp"] >= cutoff]
    if window is not None:
        frame = frame.tail(window)
    return frame.reset_index(drop=True)


def load_serving_log(
    workdir: Workdir,
    *,
    window: int | None = None,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    frame = read_parts(workdir.serving_log)
    if frame.empty:
        raise DriftDataError(
            f"{workdir.serving_log}: no serving log yet (serve requests, or "
            "`nordlid drift simulate` to produce one)"
        )
    return select_window(frame, window=window, since=since, now=now)


def load_feedback(workdir: Workdir) -> pd.DataFrame:
    return read_parts(workdir.feedback_log)


@dataclass
class Reference:
    """The reference of one model: its training features and its dev predictions."""

    model_ref: str
    features: list[str]
    frame: pd.DataFrame  # training rows: utterance_id, language, feature refs
    predictions: pd.DataFrame  # dev rows: language (predicted), confidence, true_language
    card: Any  # training.registry.ModelCard


def training_entities(workdir: Workdir, version_dir: Path) -> pd.DataFrame:
    """Entities a version was trained on (its recorded window, else the validated manifest)."""
    recorded = version_dir / TRAIN_ENTITIES_FILE
    if recorded.exists():
        return pd.read_parquet(recorded)
    from training.dataset import load_entity_frame

    return load_entity_frame(workdir)


def predict_frame(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """``language`` / ``confidence`` / ``probabilities`` of ``model`` on the feature frame."""
    import json

    proba = np.asarray(model.predict_proba(frame))
    labels = list(model.card.labels)
    idx = proba.argmax(axis=1)
    return pd.DataFrame(
        {
            "language": [labels[i] for i in idx],
            "confidence": proba.max(axis=1).astype(float),
            "probabilities": [
                json.dumps({lab: float(p) for lab, p in zip(labels, row, strict=True)})
                for row in proba
            ],
        }
    )


def _found_rows(
    workdir: Workdir, card: Any, entities: pd.DataFrame, fetch: HistoricalFetch
) -> pd.DataFrame:
    """Rows of ``card``'s feature service for ``entities`` with every feature present."""
    if not card.feature_service:
        raise DriftDataError(f"model {card.ref} has no feature service on its card")
    joined = fetch(workdir, card.feature_service, entities)
    if "found" in joined.columns:
        joined = joined[joined["found"].astype(bool)]
    return joined.dropna(subset=[f.ref for f in card.features]).reset_index(drop=True)


def load_reference(
    workdir: Workdir,
    model_ref: str = "@production",
    *,
    fetch: HistoricalFetch | None = None,
    with_models: Sequence[str] = (),
) -> Reference:
    """Training features (offline store) and dev predictions of ``model_ref``.

    ``with_models`` adds the features of further models (e.g. ``@mini``, whose features
    the serving cascade computes for every request) on the same training utterances; the
    predictions stay ``model_ref``'s.
    """
    from training.registry import ModelRegistry

    registry = ModelRegistry(workdir.models)
    model = registry.load(model_ref)
    card = model.card
    fetch = fetch or feast_fetch
    entities = training_entities(workdir, model.path)
    joined = _found_rows(workdir, card, entities, fetch)
    features = [f.ref for f in card.features]
    for ref in with_models:
        extra_card = registry.load(ref).card
        extra = [f.ref for f in extra_card.features if f.ref not in features]
        if not extra:
            continue
        rows = _found_rows(workdir, extra_card, entities, fetch)
        joined = joined.drop(columns=extra, errors="ignore").merge(
            rows[["utterance_id", *extra]], on="utterance_id", how="inner"
        )
        features += extra
        log.info("drift reference: %d features of %s added", len(extra), extra_card.ref)
    train = joined[joined["split"] == "train"].reset_index(drop=True)
    dev = joined[joined["split"] == "dev"].reset_index(drop=True)
    if train.empty:
        raise DriftDataError(
            f"model {card.ref}: no training rows with features in the offline store "
            f"(service {card.feature_service})"
        )
    pred_rows = dev if len(dev) else train
    predictions = predict_frame(model, pred_rows)
    predictions["true_language"] = pred_rows["language"].to_numpy()
    log.info(
        "reference of %s: %d training rows, %d dev predictions, %d features",
        card.ref,
        len(train),
        len(predictions),
        len(features),
    )
    return Reference(
        model_ref=card.ref,
        features=features,
        frame=train,
        predictions=predictions,
        card=card,
    )
