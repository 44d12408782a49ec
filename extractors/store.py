"""Feature tables on disk: ``data/features/<extractor>/part-*.parquet`` with lineage.

- Parts are written atomically: a hidden temp file (``.part-….tmp``, ignored by every
  Parquet reader) is fsync'ed and renamed, so a killed run never leaves a half-written part.
- Each part's Parquet schema metadata holds the lineage JSON under ``nordlid.lineage``,
  including the spec fingerprint (name, version, columns, parameters, checkpoint).
- Parts of an older fingerprint are moved out of the view directory, to
  ``data/superseded/<extractor>/<fingerprint>/`` (:meth:`Workdir.superseded_dir`), when a
  new version is extracted: Feast's file offline store reads every folder under a source
  path, so old rows left beside the new ones would enter point-in-time joins.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from extractors.spec import ExtractorSpec
from nordlid.atomic import atomic_path, writer_pid
from nordlid.errors import NordlidError
from nordlid.workdir import Workdir

log = logging.getLogger(__name__)

LINEAGE_KEY = b"nordlid.lineage"
PART_GLOB = "part-*.parquet"
LEGACY_SUPERSEDED = "_superseded"  # inside the view directory, before data/superseded/


class FeaturesNotFoundError(NordlidError):
    """No feature table exists yet for an extractor."""


class FeatureRowError(ValueError):
    """An extractor returned a row that does not match its declared spec (a bug)."""


def spec_fingerprint(spec: ExtractorSpec) -> str:
    """Hash of everything that changes the values or shape of the features."""
    doc = {
        "name": spec.name,
        "version": spec.version,
        "checkpoint": spec.checkpoint,
        "columns": [[c.name, c.dtype, c.length] for c in spec.columns],
        "params": spec.params,
    }
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------------------
# Rows → Arrow
# --------------------------------------------------------------------------------------
def _vector_array(values: Sequence[Any], length: int, column: str) -> pa.Array:
    flat = np.empty(len(values) * length, dtype=np.float32)
    offsets = np.arange(len(values) + 1, dtype=np.int32) * length
    for i, v in enumerate(values):
        arr = np.asarray(v, dtype=np.float32).reshape(-1)
        if arr.shape[0] != length:
            raise FeatureRowError(
                f"column {column!r}: vector of length {arr.shape[0]}, declared {length}"
            )
        flat[i * length : (i + 1) * length] = arr
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=pa.float32()))


def rows_to_table(
    spec: ExtractorSpec,
    utterance_ids: Sequence[str],
    event_timestamps: Sequence[Any],
    rows: Sequence[dict[str, Any]],
    created: datetime,
) -> pa.Table:
    """Build a table with the spec's exact Arrow schema (``list<float32>`` vectors)."""
    schema = spec.arrow_schema()
    n = len(rows)
    if not (len(utterance_ids) == len(event_timestamps) == n):
        raise FeatureRowError("utterance ids, timestamps and rows differ in number")
    arrays: list[pa.Array] = [
        pa.array(list(utterance_ids), type=pa.string()),
        pa.array(
            pd.to_datetime(pd.Series(event_timestamps), utc=True), type=pa.timestamp("us", tz="UTC")
        ),
        pa.array([created] * n, type=pa.timestamp("us", tz="UTC")),
    ]
    for col in spec.columns:
        values = [row[col.name] for row in rows]
        if col.length is not None:
            arrays.append(_vector_array(values, col.length, col.name))
        else:
            arrays.append(pa.array(values, type=col.arrow_type()))
    return pa.Table.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def write_part(directory: Path, table: pa.Table, lineage: dict[str, Any]) -> Path:
    """Write one part atomically (temp name, fsync, rename); returns the final path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    name = f"part-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    meta = dict(table.schema.metadata or {})
    meta[LINEAGE_KEY] = json.dumps(lineage, sort_keys=True, default=str).encode()
    final = directory / name
    with atomic_path(final, fsync=True) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")
    return final


def clean_stale_temps(directory: Path) -> int:
    """Remove temp files left by killed runs (their writer process no longer exists)."""
    removed = 0
    for tmp in directory.glob(".part-*.tmp"):
        pid = writer_pid(tmp)
        if pid is not None and pid > 0 and pid != os.getpid() and _alive(pid):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def part_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(PART_GLOB)) if directory.is_dir() else []


def read_lineage(path: Path) -> dict[str, Any]:
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(LINEAGE_KEY)
    if raw is None:
        return {}
    result: dict[str, Any] = json.loads(raw)
    return result


def done_ids(directory: Path, fingerprint: str) -> set[str]:
    """Utterance ids already extracted with this exact spec fingerprint."""
    done: set[str] = set()
    for path in part_files(directory):
        if read_lineage(path).get("spec_fingerprint") != fingerprint:
            continue
        table = pq.read_table(path, columns=["utterance_id"])
        done.update(table.column("utterance_id").to_pylist())
    return done


def supersede_other_versions(directory: Path, fingerprint: str, archive: Path) -> list[Path]:
    """Move parts of any other spec fingerprint to ``archive/<their fingerprint>/``.

    Parts without lineage (rows pushed through Feast's push source) are left in place.
    A ``_superseded/`` folder inside ``directory`` (where earlier nordlid versions kept old
    parts, and where Feast still joined them) is moved to ``archive`` as well.
    """
    moved: list[Path] = []
    legacy = directory / LEGACY_SUPERSEDED
    if legacy.is_dir():
        for old in sorted(legacy.rglob(PART_GLOB)):
            target = archive / old.relative_to(legacy)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(old), target)
            moved.append(target)
        shutil.rmtree(legacy)
    for path in part_files(directory):
        other = read_lineage(path).get("spec_fingerprint")
        if other is None or other == fingerprint:
            continue
        target_dir = archive / str(other)
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / path.name
        shutil.move(str(path), target)
        moved.append(target)
    return moved


def read_features(
    workdir: Workdir, name: str, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """The feature table of ``name``: the latest row (by ``created_timestamp``) per utterance."""
    directory = workdir.feature_dir(name)
    parts = part_files(directory)
    if not parts:
        raise FeaturesNotFoundError(
            f"no features for extractor {name!r} in {directory} "
            f"(run `nordlid extract --extractor {name}`)"
        )
    wanted = list(columns) if columns is not None else None
    if wanted is not None:
        wanted = list(
            dict.fromkeys(["utterance_id", "event_timestamp", "created_timestamp", *wanted])
        )
    tables = [pq.read_table(p, columns=wanted) for p in parts]
    table = pa.concat_tables(
        [t.replace_schema_metadata(None) for t in tables], promote_options="default"
    )
    frame = table.to_pandas()
    frame = frame.sort_values(["created_timestamp", "utterance_id"], kind="stable")
    frame = frame.drop_duplicates("utterance_id", keep="last")
    return frame.sort_values("utterance_id", kind="stable").reset_index(drop=True)
