"""Lineage recorded in every feature part: code version, data version, extractor settings."""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from extractors.base import Extractor
from extractors.store import spec_fingerprint

_REPO = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """The code's git commit (``unknown`` outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(_REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def frame_hash(manifest: pd.DataFrame) -> str:
    """Content hash of an in-memory manifest (ids, audio hashes and timestamps)."""
    cols = [c for c in ("utterance_id", "audio_sha256", "event_timestamp") if c in manifest.columns]
    hashed = pd.util.hash_pandas_object(manifest[cols], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def build_lineage(
    extractor: Extractor, *, manifest_hash: str, engine_params: dict[str, Any]
) -> dict[str, Any]:
    spec = extractor.spec
    lineage: dict[str, Any] = {"checkpoint": spec.checkpoint or ""}
    lineage.update(extractor.lineage())  # checkpoint id, revision / weights hash, extras
    lineage.update(
        {
            "extractor": spec.name,
            "extractor_version": spec.version,
            "spec_fingerprint": spec_fingerprint(spec),
            "manifest_hash": manifest_hash,
            "git_sha": git_sha(),
            "parameters": spec.params,
            "engine": engine_params,
        }
    )
    return lineage
