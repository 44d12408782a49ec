"""Reading a manifest *before* validation: no schema check, so bad rows can be quarantined."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.manifest import ManifestError


def read_raw_manifest(path: str | Path) -> pd.DataFrame:
    """The manifest Parquet as written, or a :class:`ManifestError` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ManifestError(
            f"{p}: manifest not found (run `nordlid corpus synth` or `nordlid corpus ingest`)"
        )
    try:
        return pq.read_table(p).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{p}: not a readable Parquet manifest ({exc})") from exc
