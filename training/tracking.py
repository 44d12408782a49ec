"""Weights & Biases tracking of every training run (offline by default).

``WANDB_MODE`` defaults to ``offline`` and the run directory to ``workdir/wandb``; a user
with a configured server sets ``WANDB_MODE=online`` (or runs ``wandb sync`` later).
"""

from __future__ import annotations

import logging
import os
import subprocess
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from nordlid.workdir import Workdir

log = logging.getLogger(__name__)

PROJECT_ENV = "WANDB_PROJECT"
DEFAULT_PROJECT = "nordlid"
CODE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class GitState:
    sha: str | None
    dirty: bool | None
    branch: str | None


def git_state(root: Path = CODE_ROOT) -> GitState:
    """Commit, dirty flag and branch of the code that runs (None outside a git checkout)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return GitState(
        sha=sha,
        dirty=None if status is None else bool(status),
        branch=git("rev-parse", "--abbrev-ref", "HEAD"),
    )


class Tracker(AbstractContextManager["Tracker"]):
    """One W&B run; every method is a no-op once the run is finished."""

    def __init__(
        self,
        workdir: Workdir,
        *,
        name: str,
        job_type: str,
        config: dict[str, Any],
        tags: list[str] | None = None,
    ) -> None:
        import wandb

        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_SILENT", "true")
        workdir.wandb.mkdir(parents=True, exist_ok=True)
        self._wandb = wandb
        self.run = wandb.init(
            project=os.environ.get(PROJECT_ENV, DEFAULT_PROJECT),
            dir=str(workdir.root),
            name=name,
            job_type=job_type,
            config=config,
            tags=tags or [],
            reinit="create_new",
            save_code=False,
        )
        self.id: str = str(self.run.id)
        self.mode = os.environ.get("WANDB_MODE", "offline")

    def log(self, metrics: dict[str, Any]) -> None:
        self.run.log(metrics)

    def summary(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            self.run.summary[k] = v

    def confusion(self, key: str, labels: list[str], cm: list[list[int]], png: Path | None) -> None:
        rows = [[t, p, int(cm[i][j])] for i, t in enumerate(labels) for j, p in enumerate(labels)]
        payload: dict[str, Any] = {
            f"{key}/confusion_table": self._wandb.Table(
                columns=["true", "predicted", "n"], data=rows
            )
        }
        if png is not None and png.exists():
            payload[f"{key}/confusion_matrix"] = self._wandb.Image(str(png))
        self.run.log(payload)

    def artifact(self, name: str, kind: str, directory: Path, metadata: dict[str, Any]) -> None:
        art = self._wandb.Artifact(name=name, type=kind, metadata=metadata)
        art.add_dir(str(directory))
        self.run.log_artifact(art)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.run.finish(exit_code=0 if exc_type is None else 1)
