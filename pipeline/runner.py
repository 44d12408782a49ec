"""Up-to-date checks for pipeline stages (what `nordlid run` skips on a second run).

A stage is up to date when its outputs exist and a stamp written after its last success
records the same parameters and the same fingerprint of its inputs (sizes and mtimes of
every file under each dependency).  This mirrors what ``dvc.yaml`` declares, so a user who
prefers DVC gets the same behaviour from ``dvc repro``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nordlid.atomic import atomic_write_text

log = logging.getLogger(__name__)


def fingerprint(paths: Iterable[Path]) -> str:
    """Hash of (relative path, size, mtime_ns) of every file under ``paths``.

    Paths enter relative to each root's parent, so a work directory that was moved or
    copied with its timestamps (``cp -a``) keeps its stages up to date."""
    h = hashlib.sha256()
    for root in paths:
        if not root.exists():
            h.update(f"missing:{root.name}".encode())
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            if f.name.startswith(".") and f.name.endswith(".tmp"):
                continue
            st = f.stat()
            rel = f.relative_to(root.parent)
            h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


@dataclass
class Stage:
    name: str
    action: Callable[[], Any]
    deps: list[Path] = field(default_factory=list)
    outs: list[Path] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def _signature(self) -> dict[str, str]:
        return {
            "params": hashlib.sha256(
                json.dumps(self.params, sort_keys=True, default=str).encode()
            ).hexdigest(),
            "deps": fingerprint(self.deps),
        }


@dataclass
class StageRunner:
    """Runs stages in order, skipping those whose stamp matches."""

    stamp_dir: Path
    results: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage

    def _stamp(self, stage: Stage) -> Path:
        return self.stamp_dir / f"{stage.name}.json"

    def up_to_date(self, stage: Stage) -> bool:
        stamp = self._stamp(stage)
        if not stamp.exists() or not all(o.exists() for o in stage.outs):
            return False
        recorded = json.loads(stamp.read_text())
        return bool(recorded.get("signature") == stage._signature())

    def run(self, stage: Stage, *, force: bool = False) -> Any:
        start = time.perf_counter()
        try:
            return self._run(stage, force)
        finally:
            self.seconds[stage.name] = time.perf_counter() - start

    def _run(self, stage: Stage, force: bool) -> Any:
        if not force and self.up_to_date(stage):
            log.info("stage %s: up to date, skipped", stage.name)
            self.results[stage.name] = "skipped (up to date)"
            return None
        log.info("stage %s: running", stage.name)
        value = stage.action()
        atomic_write_text(
            self._stamp(stage),
            json.dumps(
                {"signature": stage._signature(), "params": stage.params}, default=str, indent=2
            ),
        )
        self.results[stage.name] = "ran"
        return value
