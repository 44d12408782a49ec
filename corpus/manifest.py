"""The manifest: one row per utterance, the contract every later stage reads.

Column names, types and allowed values follow DESIGN.md exactly.  ``check_manifest``
returns every problem it finds (with the column and offending values) instead of stopping
at the first one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nordlid import LANGUAGES
from nordlid.atomic import atomic_path
from nordlid.errors import NordlidError

SOURCES: tuple[str, ...] = ("synthetic", "fleurs-r", "common-voice-17", "ravnursson", "folder")
GENDERS: tuple[str, ...] = ("female", "male")
SPLITS: tuple[str, ...] = ("train", "dev", "test")

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("utterance_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_language", pa.string(), nullable=False),
        pa.field("speaker_id", pa.string(), nullable=True),
        pa.field("gender", pa.string(), nullable=True),
        pa.field("split", pa.string(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        pa.field("sample_rate", pa.int64(), nullable=False),
        pa.field("num_channels", pa.int64(), nullable=False),
        pa.field("file_size", pa.int64(), nullable=False),
        pa.field("audio_sha256", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=True),
        pa.field("condition", pa.string(), nullable=False),
        pa.field("event_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
COLUMNS: tuple[str, ...] = tuple(MANIFEST_SCHEMA.names)


class ManifestError(NordlidError):
    """A manifest violates the schema; the message lists every problem."""


def utterance_id(source: str, source_id: str) -> str:
    """Stable id: a hash of the source name and the source's own id for the utterance."""
    digest = hashlib.sha256(f"{source}\x1f{source_id}".encode()).hexdigest()
    return f"{source[:3]}-{digest[:20]}"


def check_manifest(df: pd.DataFrame, *, name: str = "manifest") -> list[str]:
    """Return human-readable schema problems (empty list when the frame conforms)."""
    problems: list[str] = []
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        problems.append(f"{name}: missing columns {missing}")
        return problems
    for field in MANIFEST_SCHEMA:
        if not field.nullable and df[field.name].isna().any():
            n = int(df[field.name].isna().sum())
            problems.append(f"{name}: column {field.name!r} has {n} null values")

    def _bad(col: str, allowed: tuple[str, ...], nullable: bool = False) -> None:
        values = df[col].dropna() if nullable else df[col]
        bad = sorted(set(values.astype(str)) - set(allowed))
        if bad:
            problems.append(f"{name}: column {col!r} has values {bad[:5]} outside {list(allowed)}")

    _bad("language", LANGUAGES)
    _bad("source", SOURCES)
    _bad("split", SPLITS)
    _bad("gender", GENDERS, nullable=True)
    if df["utterance_id"].duplicated().any():
        dups = df.loc[df["utterance_id"].duplicated(), "utterance_id"].head(3).tolist()
        problems.append(f"{name}: utterance_id not unique, e.g. {dups}")
    return problems


def to_table(df: pd.DataFrame) -> pa.Table:
    frame = df.loc[:, list(COLUMNS)].copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    for col in ("speaker_id", "gender", "text"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return pa.Table.from_pandas(frame, schema=MANIFEST_SCHEMA, preserve_index=False)


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Validate against the schema, then write atomically (temp name + rename)."""
    problems = check_manifest(df, name=str(path))
    if problems:
        raise ManifestError("; ".join(problems))
    out = Path(path)
    with atomic_path(out) as tmp:
        pq.write_table(to_table(df), tmp)
    return out


def read_manifest(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise ManifestError(
            f"{p}: manifest not found (run `nordlid corpus synth` or `corpus ingest`)"
        )
    df = pq.read_table(p).to_pandas()
    problems = check_manifest(df, name=str(p))
    if problems:
        raise ManifestError("; ".join(problems))
    return df


def manifest_hash(path: str | Path) -> str:
    """Content hash of a manifest file: the data version recorded in lineage and model cards."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def merge_manifest(
    path: str | Path, rows: pd.DataFrame, *, replace_sources: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Add ``rows`` to the manifest at ``path`` (created when absent) and write it.

    Existing rows with the same ``utterance_id`` are replaced, and so are all existing rows
    whose ``source`` is in ``replace_sources`` (a re-synthesized corpus supersedes the old
    one).  Returns the merged frame.
    """
    p = Path(path)
    new = rows.loc[:, list(COLUMNS)]
    if p.exists():
        old = read_manifest(p)
        keep = ~old["utterance_id"].isin(new["utterance_id"]) & ~old["source"].isin(replace_sources)
        kept = old.loc[keep, list(COLUMNS)]
        if len(new) == 0:
            merged = kept.reset_index(drop=True)
        elif len(kept) == 0:
            merged = new.reset_index(drop=True)
        else:
            merged = pd.concat([kept, new], ignore_index=True)
    else:
        merged = new.reset_index(drop=True)
    write_manifest(merged, p)
    return merged
