"""Weights & Biases tracking of every training run (offline by default).

``WANDB_MODE`` defaults to ``offline`` and the run directory to ``workdir/wandb``; a user
with a configured server sets ``WANDB_MODE=online`` (or runs ``wandb sync`` later).
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from nordlid.workdir import Workdir

if TYPE_CHECKING:
    from training.registry import ModelCard

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


def log_run(
    workdir: Workdir,
    *,
    name: str,
    job_type: str,
    config: dict[str, Any],
    tags: list[str],
    values: dict[str, Any],
    summary: dict[str, Any] | None = None,
    steps: Iterable[dict[str, Any]] = (),
    confusions: Iterable[Confusion] = (),
    artifact: Artifact | None = None,
) -> str:
    """One W&B run, the way every nordlid job logs: ``steps`` (one W&B step each), the
    confusion matrices, ``values`` as the final step and the summary (``summary`` or
    ``values``), then an artifact; returns the run id."""
    with Tracker(workdir, name=name, job_type=job_type, config=config, tags=tags) as tracker:
        for step in steps:
            tracker.log(step)
        for c in confusions:
            tracker.confusion(c.key, c.labels, c.matrix, c.png)
        tracker.log(values)
        tracker.summary(values if summary is None else summary)
        if artifact is not None:
            tracker.artifact(artifact.name, artifact.kind, artifact.directory, artifact.metadata)
        return tracker.id


@dataclass(frozen=True)
class Confusion:
    key: str
    labels: list[str]
    matrix: list[list[int]]
    png: Path | None


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: str
    directory: Path
    metadata: dict[str, Any]


def track_model(workdir: Workdir, card: ModelCard, path: Path) -> str:
    """The W&B run of a newly registered model version (head or backbone).

    Logs the card's provenance and hyper-parameters as the run config, the training history
    (``hyperparameters["history"]``, one step per epoch) when there is one, the headline,
    per-language and per-group metrics of every split with its confusion matrix, and the
    version directory as a ``model`` artifact.
    """
    backbone = card.kind == "backbone"
    config = {
        "model": card.name,
        "version": card.version,
        "kind": card.kind,
        "head": card.head,
        "feature_service": card.feature_service,
        "feature_views": card.feature_views,
        "features": [f.model_dump() for f in card.features],
        "data_version": card.data_version,
        "git_sha": card.git_sha,
        "git_dirty": card.git_dirty,
        "recipe": card.recipe,
        "hyperparameters": {k: v for k, v in card.hyperparameters.items() if k != "history"},
    }
    values: dict[str, Any] = {"training_time_s": card.training_time_s, **card.cost}
    for split, m in card.metrics.items():
        values.update(_split_metrics(split, m))
    metadata: dict[str, Any] = {"version": card.version}
    if card.feature_service is not None:
        metadata["feature_service"] = card.feature_service
    return log_run(
        workdir,
        name=card.ref,
        job_type="train-backbone" if backbone else "train",
        config=config,
        tags=["backbone", card.name] if backbone else [card.feature_service or "", card.head or ""],
        values=values,
        steps=(
            {f"epoch/{k}": v for k, v in row.items()}
            for row in card.hyperparameters.get("history", [])
        ),
        confusions=[
            Confusion(split, card.labels, m["confusion"], path / f"confusion_{split}.png")
            for split, m in card.metrics.items()
        ],
        artifact=Artifact(card.name, "model", path, metadata),
    )


def _split_metrics(split: str, m: dict[str, Any]) -> dict[str, Any]:
    """``split/accuracy``, ..., per-language recall / precision and per-group accuracy."""
    flat = {f"{split}/{key}": m[key] for key in ("accuracy", "macro_f1", "uar", "ece")}
    for lang, r in m.get("recall", {}).items():
        flat[f"{split}/recall_{lang}"] = r
    for lang, p in m.get("precision", {}).items():
        flat[f"{split}/precision_{lang}"] = p
    for group in ("source", "condition"):
        for value, sub in m.get(f"by_{group}", {}).items():
            flat[f"{split}/{group}/{value}/accuracy"] = sub["accuracy"]
    return flat
