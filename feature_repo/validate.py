"""Check feature Parquet files against the registered schema before they reach the online store.

A vector whose length differs from the feature view's ``vector_length`` would be served to a
model that expects another width; this fails early with the view, the feature, the file and
both lengths.  Files already checked (same size and mtime) are remembered in
``data/feast/checked_files.json`` so re-running materialization stays cheap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nordlid.atomic import atomic_write_text
from nordlid.errors import NordlidError

logger = logging.getLogger(__name__)

CACHE_NAME = "checked_files.json"
KEY_COLUMNS = ("utterance_id", "event_timestamp")


class FeatureTableError(NordlidError):
    """A feature Parquet file does not match the registered feature view."""


@dataclass(frozen=True)
class ViewSchema:
    """What a feature view expects of its files: feature name → vector length (None: scalar)."""

    view: str
    path: Path
    features: dict[str, int | None]


def parquet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*.parquet") if p.is_file())


def _signature(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def check_file(schema: ViewSchema, path: Path) -> int:
    """Validate one file; returns its row count. Raises :class:`FeatureTableError`."""
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise FeatureTableError(f"view {schema.view!r}: cannot read {path}: {exc}") from None
    names = set(pf.schema_arrow.names)
    for column in KEY_COLUMNS:
        if column not in names:
            raise FeatureTableError(f"view {schema.view!r}: {path} has no column {column!r}")
    for feature, length in schema.features.items():
        if feature not in names:
            raise FeatureTableError(
                f"view {schema.view!r}: feature {feature!r} is missing from {path}"
            )
        if length is None:
            continue
        col = pf.read(columns=[feature]).column(feature)
        if not (
            pa.types.is_list(col.type)
            or pa.types.is_large_list(col.type)
            or pa.types.is_fixed_size_list(col.type)
        ):
            raise FeatureTableError(
                f"view {schema.view!r}: feature {feature!r} in {path} is {col.type}, "
                f"expected a list of {length} float32"
            )
        lengths = pc.list_value_length(col)
        nulls = lengths.null_count
        if nulls:
            raise FeatureTableError(
                f"view {schema.view!r}: feature {feature!r} in {path} has {nulls} null vectors"
            )
        bad = pc.not_equal(lengths, pa.scalar(length, lengths.type))
        if pc.any(bad).as_py():
            found = sorted({int(x) for x in pc.unique(pc.filter(lengths, bad)).to_pylist()})
            shown = ", ".join(str(x) for x in found[:5])
            raise FeatureTableError(
                f"view {schema.view!r}: feature {feature!r} in {path} has vectors of length "
                f"{shown}, but the registry declares vector_length {length}"
            )
    return int(pf.metadata.num_rows)


def check_views(schemas: Iterable[ViewSchema], cache_dir: Path | None = None) -> dict[str, int]:
    """Validate every file of every view; returns rows per view (0: no data yet)."""
    cache: dict[str, str] = {}
    cache_path = cache_dir / CACHE_NAME if cache_dir is not None else None
    if cache_path is not None and cache_path.exists():
        try:
            cache = json.loads(cache_path.read_text())
        except (OSError, json.JSONDecodeError):
            cache = {}
    rows: dict[str, int] = {}
    fresh: dict[str, str] = {}
    for schema in schemas:
        total = 0
        spec_key = json.dumps(schema.features, sort_keys=True)
        for path in parquet_files(schema.path):
            sig = f"{_signature(path)}|{spec_key}"
            key = str(path)
            if cache.get(key, "").split("#", 1)[0] == sig:
                total += int(cache[key].split("#", 1)[1])
                fresh[key] = cache[key]
                continue
            n = check_file(schema, path)
            total += n
            fresh[key] = f"{sig}#{n}"
        rows[schema.view] = total
    if cache_path is not None:
        atomic_write_text(cache_path, json.dumps(fresh, indent=0, sort_keys=True))
    return rows
