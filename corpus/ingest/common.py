"""Shared ingest machinery: candidates in, manifest rows + a reject report out.

Every adapter turns its source's layout into :class:`Candidate` objects; :func:`build`
checks each one (language code, split, audio decodes) and either makes a manifest row or a
:class:`Reject` naming the file/row and the reason.  Nothing is dropped silently:
``result.n_read == len(result.rows) + len(result.rejects)`` always holds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from corpus.manifest import COLUMNS, utterance_id
from corpus.splits import assign_speaker_splits
from nordlid import LANGUAGES
from nordlid.atomic import atomic_write_bytes
from nordlid.audio import file_info, pcm_sha256
from nordlid.errors import AudioDecodeError, NordlidError

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
T = TypeVar("T")

REJECT_COLUMNS: tuple[str, ...] = ("source", "name", "code", "reason")

# Source language codes (lower-cased, '_' → '-') → nordlid language.
_LANGUAGE_CODES: dict[str, str] = {
    "da": "da", "dan": "da", "da-dk": "da", "danish": "da",
    "fo": "fo", "fao": "fo", "fo-fo": "fo", "faroese": "fo",
    "is": "is", "isl": "is", "ice": "is", "is-is": "is", "icelandic": "is",
    "no": "no", "nor": "no", "norwegian": "no",
    "nb": "no", "nob": "no", "nb-no": "no", "bokmål": "no", "bokmal": "no",
    "nn": "no", "nno": "no", "nn-no": "no", "nynorsk": "no",
    "sv": "sv", "swe": "sv", "sv-se": "sv", "sv-fi": "sv", "swedish": "sv",
}  # fmt: skip

_SPLIT_CODES: dict[str, str] = {
    "train": "train", "training": "train",
    "dev": "dev", "validation": "dev", "valid": "dev", "val": "dev", "development": "dev",
    "test": "test", "testing": "test",
}  # fmt: skip


class IngestError(NordlidError):
    """The source as a whole cannot be read (missing layout, file or column)."""


def map_language(code: object) -> str | None:
    """nordlid language for a source code (``nn-NO`` → ``no``), or None when unknown."""
    if not isinstance(code, str) or not code.strip():
        return None
    key = code.strip().lower().replace("_", "-")
    if key in LANGUAGES:
        return key
    return _LANGUAGE_CODES.get(key)


def map_split(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return _SPLIT_CODES.get(value.strip().lower())


def map_gender(value: object) -> str | None:
    """``male``/``female`` (Common Voice's ``male_masculine``, FLEURS' ``MALE`` …) or None."""
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    if v.startswith("female") or v in ("f", "woman", "kvinna", "kvinde", "kvinne", "kona"):
        return "female"
    if v.startswith("male") or v in ("m", "man", "mann", "mand", "maður"):
        return "male"
    return None


def blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


@dataclass
class Candidate:
    """One utterance as the source describes it (not yet checked)."""

    source_id: str  # stable id inside the source (→ utterance_id)
    name: str  # what the report calls it: file path or "labels.tsv row 12"
    source_language: object
    audio_path: Path | None = None
    audio_bytes: bytes | None = None  # written to ``store_path`` before decoding
    store_path: Path | None = None
    speaker_id: object = None
    gender: object = None
    split: object = None
    text: object = None
    problem: tuple[str, str] | None = None  # (code, reason) found by the adapter itself


@dataclass(frozen=True)
class Reject:
    source: str
    name: str
    code: str
    reason: str


@dataclass
class IngestResult:
    source: str
    rows: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    n_read: int = 0
    report_path: Path | None = None

    @property
    def n_written(self) -> int:
        return len(self.rows)

    def rejects_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.rejects], columns=list(REJECT_COLUMNS))

    def summary(self) -> str:
        text = (
            f"{self.source}: read {self.n_read}, written {self.n_written}, "
            f"rejected {len(self.rejects)}"
        )
        if self.report_path is not None:
            text += f" (reject report: {self.report_path})"
        return text


def subsample(items: Sequence[T], limit: int | None, seed: int) -> list[T]:
    """A seeded random subset of ``limit`` items (kept in source order), not the first N."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise IngestError(f"limit must be >= 0, got {limit}")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(items), size=limit, replace=False))
    return [items[int(i)] for i in keep]


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _write_atomic(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data)


def _check(
    c: Candidate, source: str, seen: set[str]
) -> tuple[dict[str, object] | None, Reject | None]:
    def reject(code: str, reason: str) -> tuple[None, Reject]:
        return None, Reject(source, c.name, code, reason)

    if c.problem is not None:
        return reject(*c.problem)
    lang = map_language(c.source_language)
    if lang is None:
        return reject("unknown_language", f"unknown language code {c.source_language!r}")
    split = None
    if not blank(c.split):
        split = map_split(c.split)
        if split is None:
            return reject("bad_split", f"split {c.split!r} is not train/dev/test")
    uid = utterance_id(source, c.source_id)
    if uid in seen:
        return reject("duplicate", f"duplicate source id {c.source_id!r}")
    path = c.audio_path
    if c.audio_bytes is not None:
        if c.store_path is None:
            raise ValueError(f"{c.name}: audio bytes without a store path")
        _write_atomic(c.store_path, c.audio_bytes)
        path = c.store_path
    if path is None:
        return reject("missing_file", "no audio file or bytes")
    try:
        sha = pcm_sha256(path, c.name)
        info = file_info(path)
    except AudioDecodeError as exc:
        if c.audio_bytes is not None and c.store_path is not None:
            c.store_path.unlink(missing_ok=True)
        return reject(exc.code, exc.reason)
    seen.add(uid)
    row: dict[str, object] = {
        "utterance_id": uid,
        "path": str(Path(path).resolve()),
        "language": lang,
        "source": source,
        "source_language": str(c.source_language).strip(),
        "speaker_id": None if blank(c.speaker_id) else str(c.speaker_id).strip(),
        "gender": map_gender(c.gender),
        "split": split,
        "duration_s": float(info.frames) / float(info.samplerate),
        "sample_rate": int(info.samplerate),
        "num_channels": int(info.channels),
        "file_size": int(Path(path).stat().st_size),
        "audio_sha256": sha,
        "text": None if blank(c.text) else str(c.text),
        "condition": "clean",
    }
    return row, None


def fill_splits(frame: pd.DataFrame, seed: int) -> pd.Series:
    """Keep given splits; give rows without one a speaker-independent split.

    A speaker that already has a split (from other rows) keeps it for all its rows.
    """
    split = frame["split"].copy()
    missing = split.isna()
    if not missing.any():
        return split
    known = frame.loc[~missing & frame["speaker_id"].notna()].groupby("speaker_id")["split"]
    speaker_split = known.agg(lambda s: s.value_counts().index[0]).to_dict() if len(known) else {}
    inherit = missing & frame["speaker_id"].map(speaker_split).notna()
    split.loc[inherit] = frame.loc[inherit, "speaker_id"].map(speaker_split)
    rest = missing & ~inherit
    if rest.any():
        split.loc[rest] = assign_speaker_splits(frame.loc[rest], seed=seed)
    return split


def build(
    candidates: Iterable[Candidate],
    *,
    source: str,
    seed: int = 0,
    event_time: datetime | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Check every candidate; return manifest rows (splits filled) and the rejects."""
    when = event_time or datetime.now(UTC)
    rows: list[dict[str, object]] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    n_read = 0
    for c in candidates:
        n_read += 1
        row, rej = _check(c, source, seen)
        if rej is not None:
            log.warning("%s: rejected %s: %s", source, rej.name, rej.reason)
            rejects.append(rej)
        elif row is not None:
            rows.append(row)
        if progress:
            progress(1)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    if len(frame):
        frame["split"] = fill_splits(frame, seed)
    frame["event_timestamp"] = pd.Series([when] * len(frame), index=frame.index, dtype="object")
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    for col in ("sample_rate", "num_channels", "file_size"):
        frame[col] = frame[col].astype("int64")
    frame["duration_s"] = frame["duration_s"].astype("float64")
    result = IngestResult(source=source, rows=frame, rejects=rejects, n_read=n_read)
    assert result.n_read == result.n_written + len(result.rejects)
    return result


def write_report(result: IngestResult, reports_dir: Path) -> Path:
    """Write the rejects (possibly none) as CSV; returns the path and sets ``report_path``."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = reports_dir / f"{safe_name(result.source)}-{stamp}-rejects.csv"
    result.rejects_frame().to_csv(path, index=False)
    result.report_path = path
    return path
