"""Synthetic feature tables with the declared shapes (for benchmarks and demos of the repo)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from extractors.spec import ExtractorSpec
from nordlid.workdir import Workdir


def synthetic_table(
    spec: ExtractorSpec, ids: Sequence[str], *, seed: int = 0, event: datetime | None = None
) -> pa.Table:
    """Random values of the right dtypes and vector lengths for ``ids``."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    ts = pa.array([event or datetime(2025, 1, 1, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC"))
    arrays: list[pa.Array] = [pa.array(list(ids), pa.string()), ts, ts]
    for c in spec.columns:
        if c.length is not None:
            flat = rng.standard_normal(n * c.length, dtype=np.float32)
            offsets = np.arange(0, (n + 1) * c.length, c.length, dtype=np.int32)
            arrays.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)))
        elif c.dtype == "int64":
            arrays.append(pa.array(rng.integers(0, 1000, n), pa.int64()))
        elif c.dtype == "string":
            arrays.append(pa.array([f"v{i}" for i in range(n)], pa.string()))
        else:
            arrays.append(pa.array(rng.standard_normal(n).astype(c.dtype)))
    return pa.Table.from_arrays(arrays, schema=spec.arrow_schema())


def write_synthetic_features(
    workdir: Workdir, specs: Sequence[ExtractorSpec], ids: Sequence[str], *, seed: int = 0
) -> list[Path]:
    """One ``part-synthetic.parquet`` per extractor under ``data/features/<name>/``."""
    paths = []
    for k, spec in enumerate(specs):
        out = workdir.feature_dir(spec.name)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "part-synthetic.parquet"
        pq.write_table(synthetic_table(spec, ids, seed=seed + k), path)
        paths.append(path)
    return paths
