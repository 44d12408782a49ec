"""The model registry under ``workdir/models/``.

Layout::

    models/<name>/<version>/card.json          model card (ModelCard)
    models/<name>/<version>/weights.safetensors, head.json, *.png, promotion-*.json
    models/<name>/aliases.json                 per-model aliases  {"production": 3}
    models/aliases.json                        global aliases     {"production": "name@3"}
    models/promotions.jsonl                    every promotion decision with its numbers

Refs: ``name`` (latest version), ``name@3``, ``name@alias`` (the model's own alias, or a
global alias that points at this name) and ``@alias`` (global: ``@mini``, ``@premium``,
``@production``, ``@staging``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nordlid.atomic import atomic_write_text
from nordlid.errors import NordlidError
from nordlid.model_store import CARD_FILE, ModelNotFoundError, ModelStore
from training.features import FeatureMismatchError, FeatureRef, check_against_registry, flatten

log = logging.getLogger(__name__)

GLOBAL_ALIASES = ("production", "staging", "mini", "premium")


class ModelCard(BaseModel):
    """Everything needed to reproduce, compare and serve one model version."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    # "zero-shot": a pretrained model's own classifier, scored without training (not servable)
    kind: Literal["head", "backbone", "zero-shot"] = "head"
    head: str | None = None
    feature_service: str | None = None
    features: list[FeatureRef] = Field(default_factory=list)
    feature_views: dict[str, str] = Field(default_factory=dict)  # view -> extractor version
    # view -> checkpoint identity of its backbone (e.g. "lidnet@2:ab12..."): embeddings of
    # another checkpoint mean something else even when the dimension is unchanged
    feature_checkpoints: dict[str, str] = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list)
    threshold: float | None = None
    # softmax temperature fitted on dev (training.calibration); None: the head's own softmax
    temperature: float | None = Field(default=None, gt=0)
    metrics: dict[str, Any] = Field(default_factory=dict)  # {"dev": {...}, "test": {...}}
    cost: dict[str, float] = Field(default_factory=dict)  # backbone_gflops_per_s, head_latency_ms
    training_time_s: float | None = None
    data_version: str | None = None
    git_sha: str | None = None
    git_dirty: bool | None = None
    wandb_run_id: str | None = None
    recipe: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    files: list[str] = Field(default_factory=list)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    notes: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.model_validate_json(text)


class GateConfig(BaseModel):
    """Promotion gate: dev macro-F1 may not drop, no language's recall may drop by more than
    ``max_recall_drop`` (absolute)."""

    model_config = ConfigDict(extra="forbid")

    split: str = "dev"
    max_recall_drop: float = 0.02
    min_macro_f1_gain: float = 0.0


class PromotionDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    promoted: bool
    alias: str
    candidate: str
    champion: str | None
    reasons: list[str]
    candidate_metrics: dict[str, Any]
    champion_metrics: dict[str, Any] | None
    gate: GateConfig
    decided_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


@dataclass
class LoadedModel:
    """A registered head ready to predict from a frame with the card's feature refs."""

    card: ModelCard
    head: Any  # training.heads.Head
    path: Path

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        x = flatten(frame, self.card.features, what=f"input to model {self.card.ref}")
        bad = np.isnan(x).any(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise FeatureMismatchError(
                f"model {self.card.ref}: {int(bad.sum())} rows have missing feature values "
                f"(rows {rows}); features must be present for every utterance"
            )
        return x

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n, len(card.labels))`` probabilities, columns in ``card.labels`` order."""
        return self.predict_matrix(self.matrix(frame))

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (the card's temperature) of a feature matrix."""
        from training.calibration import apply_temperature

        return apply_temperature(np.asarray(self.head.predict_proba(x)), self.card.temperature)


class ModelRegistry(ModelStore):
    """Model cards, loading and promotion over the versions of a :class:`ModelStore`."""

    def cards(self) -> list[ModelCard]:
        return [self.card(n, v) for n in self.names() for v in self.versions(n)]

    def card(self, name: str, version: int) -> ModelCard:
        path = self.version_dir(name, version) / CARD_FILE
        if not path.exists():
            raise ModelNotFoundError(f"model {name}@{version} not found under {self.root}")
        return ModelCard.from_json(path.read_text())

    def write_card(self, card: ModelCard) -> Path:
        path = self.version_dir(card.name, card.version) / CARD_FILE
        atomic_write_text(path, card.to_json())
        return path

    def load_card(self, ref: str) -> ModelCard:
        return self.card(*self.resolve(ref))

    def load(self, ref: str, *, check_features: bool = True) -> LoadedModel:
        """Load a head; fails clearly when its features no longer match the extractor registry."""
        from training.heads import load_head

        name, version = self.resolve(ref)
        card = self.card(name, version)
        if card.kind != "head":
            raise NordlidError(
                f"{card.ref} is a {card.kind}, not an LID head; it is used through the "
                f"extractor {card.name!r}"
            )
        if check_features:
            check_against_registry(card.features, model=card.ref)
            check_checkpoints(card)
        path = self.version_dir(name, version)
        head = load_head(path)
        if list(head.labels) != list(card.labels):
            raise NordlidError(f"{card.ref}: weights' labels {head.labels} != card's {card.labels}")
        return LoadedModel(card=card, head=head, path=path)

    # ------------------------------------------------------------------ promotion
    def promote(
        self, candidate_ref: str, alias: str = "production", gate: GateConfig | None = None
    ) -> PromotionDecision:
        """Move ``alias`` to the candidate only if it passes the gate against the champion."""
        gate = gate or GateConfig()
        cand = self.load_card(candidate_ref)
        cand_m = cand.metrics.get(gate.split)
        if not cand_m:
            raise NordlidError(f"{cand.ref} has no {gate.split} metrics; evaluate it first")
        champion: ModelCard | None = None
        try:
            champion = self.load_card(f"@{alias}")
        except ModelNotFoundError:
            champion = None
        reasons: list[str] = []
        promoted = True
        champ_m: dict[str, Any] | None = None
        if champion is None:
            reasons.append(f"no champion holds @{alias}")
        elif champion.ref == cand.ref:
            reasons.append(f"{cand.ref} already holds @{alias}")
        else:
            champ_m = champion.metrics.get(gate.split) or {}
            c_f1 = float(cand_m.get("macro_f1", 0.0))
            h_f1 = float(champ_m.get("macro_f1", 0.0))
            if c_f1 < h_f1 + gate.min_macro_f1_gain:
                promoted = False
                reasons.append(
                    f"{gate.split} macro-F1 {c_f1:.4f} < champion {h_f1:.4f}"
                    + (f" + {gate.min_macro_f1_gain}" if gate.min_macro_f1_gain else "")
                )
            else:
                reasons.append(f"{gate.split} macro-F1 {c_f1:.4f} >= champion {h_f1:.4f}")
            c_rec = cand_m.get("recall", {})
            for lang, h_r in sorted(champ_m.get("recall", {}).items()):
                c_r = float(c_rec.get(lang, 0.0))
                if h_r - c_r > gate.max_recall_drop:
                    promoted = False
                    reasons.append(
                        f"recall[{lang}] drops {h_r:.4f} → {c_r:.4f} "
                        f"(more than {gate.max_recall_drop:.4f})"
                    )
        decision = PromotionDecision(
            promoted=promoted,
            alias=alias,
            candidate=cand.ref,
            champion=champion.ref if champion else None,
            reasons=reasons,
            candidate_metrics=_gate_view(cand_m),
            champion_metrics=_gate_view(champ_m) if champ_m is not None else None,
            gate=gate,
        )
        if promoted:
            self.set_alias(cand.ref, alias)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        atomic_write_text(
            self.version_dir(cand.name, cand.version) / f"promotion-{alias}-{stamp}.json",
            decision.model_dump_json(indent=2),
        )
        with open(self.root / "promotions.jsonl", "a") as f:
            f.write(decision.model_dump_json() + "\n")
        log.info(
            "promotion of %s to @%s: %s (%s)",
            cand.ref,
            alias,
            "accepted" if promoted else "rejected",
            "; ".join(reasons),
        )
        return decision


def check_checkpoints(card: ModelCard) -> None:
    """Fail when a view's backbone checkpoint changed since the model was trained."""
    if not card.feature_checkpoints:
        return
    from extractors import registry

    current = {s.view_name: s.checkpoint or "" for s in registry.all_specs()}
    changed = [
        f"{view}: trained on {ckpt!r}, registry now has {current.get(view)!r}"
        for view, ckpt in sorted(card.feature_checkpoints.items())
        if current.get(view, "") != ckpt
    ]
    if changed:
        raise FeatureMismatchError(
            f"model {card.ref} was trained on embeddings of another backbone checkpoint: "
            + "; ".join(changed)
            + " — retrain it on the current features"
        )


def _gate_view(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in ("accuracy", "macro_f1", "uar", "recall") if k in m}
