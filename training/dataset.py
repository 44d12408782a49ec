"""Training / dev / test sets from Feast's point-in-time join.

The entity frame comes from the validated manifest (``utterance_id``, ``event_timestamp``,
``language``, ``split`` plus ``source`` and ``condition`` for breakdowns).  Features come
from ``feature_repo.store.historical_features`` — never from a side-channel read of the
Parquet files — so a re-extracted utterance contributes the feature row that was valid at
the entity's timestamp.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from nordlid.errors import NordlidError
from nordlid.workdir import Workdir
from training.features import FeatureRef, flatten

log = logging.getLogger(__name__)

ENTITY_COLUMNS = ("utterance_id", "event_timestamp", "language", "split", "source", "condition")
HistoricalFetch = Callable[[Workdir, str, pd.DataFrame], pd.DataFrame]


class TrainingDataError(NordlidError):
    """The training set cannot be built (no manifest, no features, an empty split...)."""


def entity_frame(manifest: pd.DataFrame, *, as_of: datetime | None = None) -> pd.DataFrame:
    """Entity rows for the point-in-time join.

    Each utterance is looked up at its manifest ``event_timestamp`` (when it entered the
    corpus); ``as_of`` replaces that by one timestamp for every row (a training set as the
    feature store knew it at that moment).
    """
    missing = [
        c for c in ("utterance_id", "event_timestamp", "language", "split") if c not in manifest
    ]
    if missing:
        raise TrainingDataError(f"manifest lacks columns {missing} needed for the entity frame")
    frame = pd.DataFrame(
        {c: manifest[c] if c in manifest else "unknown" for c in ENTITY_COLUMNS}
    ).reset_index(drop=True)
    if as_of is not None:
        frame["event_timestamp"] = pd.Timestamp(as_of)
    ts = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame["event_timestamp"] = ts
    for col in ("language", "split", "source", "condition"):
        frame[col] = frame[col].astype(str)
    return frame


def load_entity_frame(workdir: Workdir, *, as_of: datetime | None = None) -> pd.DataFrame:
    from corpus.manifest import read_manifest

    path = workdir.validated_manifest
    if not path.exists():
        raise TrainingDataError(f"{path}: validated manifest not found (run `nordlid validate`)")
    return entity_frame(read_manifest(path), as_of=as_of)


def feast_fetch(workdir: Workdir, service: str, entity_df: pd.DataFrame) -> pd.DataFrame:
    """The default :data:`HistoricalFetch`: Feast's point-in-time join (imported on use)."""
    from feature_repo.store import historical_features

    return historical_features(workdir, service, entity_df)


@dataclass
class SplitData:
    """One split: matrix ``x``, label indices ``y`` and the entity columns for breakdowns."""

    x: np.ndarray
    y: np.ndarray
    meta: pd.DataFrame  # utterance_id, language, source, condition

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class TrainingSet:
    labels: list[str]
    features: list[FeatureRef]
    splits: dict[str, SplitData]
    dropped: int  # entity rows without features at their timestamp

    def split(self, name: str) -> SplitData:
        return self.splits[name]


def build_training_set(
    joined: pd.DataFrame,
    features: Sequence[FeatureRef],
    labels: Sequence[str],
) -> TrainingSet:
    """Flatten a joined frame into per-split matrices, dropping rows without features."""
    labels = list(labels)
    x = flatten(joined, features, what="historical features")
    bad = np.isnan(x).any(axis=1)
    dropped = int(bad.sum())
    if dropped:
        log.warning(
            "%d of %d utterances have no (complete) features at their timestamp; left out",
            dropped,
            len(x),
        )
    unknown = sorted(set(joined["language"]) - set(labels))
    if unknown:
        raise TrainingDataError(f"labels {unknown} are not in the label set {labels}")
    index = {lab: i for i, lab in enumerate(labels)}
    splits: dict[str, SplitData] = {}
    for split in ("train", "dev", "test"):
        mask = (joined["split"].to_numpy() == split) & ~bad
        meta = joined.loc[mask, ["utterance_id", "language", "source", "condition"]].reset_index(
            drop=True
        )
        y = np.array([index[v] for v in meta["language"]], dtype=np.int64)
        splits[split] = SplitData(x=x[mask], y=y, meta=meta)
    if len(splits["train"]) == 0:
        raise TrainingDataError(
            "no training rows with features: extract and materialize features first "
            "(`nordlid extract`, `nordlid features apply`)"
        )
    return TrainingSet(labels=labels, features=list(features), splits=splits, dropped=dropped)


def fetch_training_frame(
    workdir: Workdir,
    service: str,
    entity_df: pd.DataFrame,
    *,
    fetch: HistoricalFetch | None = None,
) -> pd.DataFrame:
    """Point-in-time join of ``service``'s features onto the entity frame (row order kept)."""
    fetch = fetch or feast_fetch
    ordered = entity_df.reset_index(drop=True).copy()
    ordered["_row"] = np.arange(len(ordered))
    joined = fetch(workdir, service, ordered)
    if "_row" not in joined.columns:
        raise TrainingDataError(
            f"feature service {service!r}: the historical join dropped the entity row marker"
        )
    # Feast's file store leaves out entity rows without any feature row at their timestamp:
    # put them back (with missing features) so the caller sees and counts them.
    feature_cols = [c for c in joined.columns if c not in ordered.columns or c == "_row"]
    out = ordered.merge(joined[feature_cols], on="_row", how="left", validate="one_to_one")
    return out.sort_values("_row").drop(columns="_row").reset_index(drop=True)
