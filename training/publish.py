"""`publish`: register one trained model — the steps every trainer shares.

reserve the next version → save the weights into its directory → evaluate (metrics and
confusion plots next to the weights) → cost → model card (with data version and git
state) → W&B run (:func:`training.tracking.track_model`) → aliases.  Heads
(:func:`training.train.train_model`) and the lidnet backbone
(:func:`training.lidnet_train.train_lidnet`) differ only in what they pass in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nordlid.workdir import Workdir
from training.registry import ModelCard, ModelRegistry

log = logging.getLogger(__name__)


@dataclass
class ModelVersion:
    name: str
    version: int
    path: Path
    card: ModelCard

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class Evaluation:
    """Metrics per split and the files the evaluation wrote into the version directory."""

    metrics: dict[str, Any]
    files: list[str] = field(default_factory=list)


def provenance(workdir: Workdir) -> dict[str, Any]:
    """Card fields naming the data and code a model was trained from."""
    from corpus.manifest import manifest_hash
    from training.tracking import git_state

    git = git_state()
    manifest = workdir.validated_manifest
    return {
        "data_version": manifest_hash(manifest) if manifest.exists() else None,
        "git_sha": git.sha,
        "git_dirty": git.dirty,
    }


def publish(
    workdir: Workdir,
    name: str,
    *,
    save: Callable[[Path], list[str]],
    evaluate: Callable[[Path, str], Evaluation],
    cost: Callable[[], dict[str, float]],
    card: dict[str, Any],
    track: bool = True,
    aliases: tuple[str, ...] = (),
    alias_scope: Literal["global", "model"] = "global",
) -> ModelVersion:
    """Register a trained model as the next version of ``name``.

    ``save(dir)`` writes the weights and returns their file names; ``evaluate(dir, ref)``
    measures the model (``ref`` is ``name@version``, for plot titles); ``cost()`` runs after
    it; ``card`` holds the remaining :class:`ModelCard` fields (kind, head, labels,
    hyper-parameters, training time, ...).
    """
    registry = ModelRegistry(workdir.models)
    version, path = registry.new_version(name)
    files = save(path)
    evaluation = evaluate(path, f"{name}@{version}")
    model_card = ModelCard(
        name=name,
        version=version,
        metrics=evaluation.metrics,
        cost=cost(),
        files=files + evaluation.files,
        **provenance(workdir),
        **card,
    )
    registry.write_card(model_card)
    if track:
        from training.tracking import track_model

        model_card.wandb_run_id = track_model(workdir, model_card, path)
        registry.write_card(model_card)
    for alias in aliases:
        registry.set_alias(model_card.ref, alias, scope=alias_scope)
    return ModelVersion(name=name, version=version, path=path, card=model_card)
