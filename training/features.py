"""Feature references and their flattening into one matrix, in card order.

A feature reference is Feast's full name ``{view}__{feature}``.  Vectors arrive as lists
(or arrays) of a declared length and are flattened in the order the model card lists them,
so training and serving build identical matrices.  The extractor registry is the source
of truth for lengths; :func:`check_against_registry` tells a user when a saved model no
longer matches it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from nordlid.errors import NordlidError

LAYER_RE = re.compile(r"^layer(\d+)_(mean|std)$")


class FeatureMismatchError(NordlidError):
    """Features given to (or registered for) a model do not match what it was trained on."""


class FeatureRef(BaseModel):
    """One feature a model consumes: ``ref`` = ``view__feature``, ``length`` None = scalar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str
    length: int | None = None

    @property
    def view(self) -> str:
        return self.ref.split("__", 1)[0]

    @property
    def feature(self) -> str:
        return self.ref.split("__", 1)[1]

    @property
    def width(self) -> int:
        return self.length or 1


def split_ref(ref: str) -> tuple[str, str]:
    view, sep, feature = ref.partition("__")
    if not sep or not view or not feature:
        raise FeatureMismatchError(f"feature reference {ref!r} is not of the form 'view__feature'")
    return view, feature


def refs_from_registry(views: Sequence[str]) -> list[FeatureRef]:
    """Every numeric feature of the given views (Feast view names), lengths from the registry."""
    from extractors import registry

    by_view = {spec.view_name: spec for spec in registry.all_specs()}
    refs: list[FeatureRef] = []
    for view in views:
        spec = by_view.get(view)
        if spec is None:
            raise FeatureMismatchError(
                f"feature view {view!r} is not in the extractor registry "
                f"(known: {', '.join(sorted(by_view))})"
            )
        for col in spec.columns:
            if col.dtype == "string":
                continue
            refs.append(FeatureRef(ref=f"{view}__{col.name}", length=col.length))
    return refs


def check_against_registry(features: Sequence[FeatureRef], *, model: str) -> None:
    """Raise :class:`FeatureMismatchError` naming every feature that is missing or changed."""
    from extractors import registry

    by_view = {spec.view_name: spec for spec in registry.all_specs()}
    problems: list[str] = []
    for f in features:
        view, feature = split_ref(f.ref)
        spec = by_view.get(view)
        if spec is None:
            problems.append(f"view {view!r} is no longer registered")
            continue
        try:
            col = spec.column(feature)
        except KeyError:
            problems.append(f"{f.ref}: view {view!r} (v{spec.version}) has no feature {feature!r}")
            continue
        if col.length != f.length:
            problems.append(
                f"{f.ref}: trained with length {f.length}, registry now declares {col.length}"
            )
    if problems:
        raise FeatureMismatchError(
            f"model {model!r} does not match the current extractor registry: "
            + "; ".join(sorted(set(problems)))
            + " — retrain it on the current feature service"
        )


def flatten(
    frame: pd.DataFrame, features: Sequence[FeatureRef], *, what: str = "frame"
) -> np.ndarray:
    """``(n, sum(width))`` float32 matrix; errors name the missing/ill-shaped feature."""
    missing = [f.ref for f in features if f.ref not in frame.columns]
    if missing:
        raise FeatureMismatchError(f"{what}: missing feature columns {missing}")
    n = len(frame)
    blocks: list[np.ndarray] = []
    for f in features:
        col = frame[f.ref]
        if f.length is None:
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
            block = values.reshape(n, 1)
        else:
            block = np.full((n, f.length), np.nan, dtype=np.float64)
            for i, v in enumerate(col.tolist()):
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    continue
                arr = np.asarray(v, dtype=np.float64).ravel()
                if arr.shape[0] != f.length:
                    raise FeatureMismatchError(
                        f"{what}: feature {f.ref} row {i} has length {arr.shape[0]}, "
                        f"expected {f.length}"
                    )
                block[i] = arr
        blocks.append(block)
    out = np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))
    return out.astype(np.float32)


def missing_rows(matrix: np.ndarray) -> np.ndarray:
    """Boolean mask of rows with any NaN (feature absent for that utterance)."""
    return np.isnan(matrix).any(axis=1)


@dataclass(frozen=True)
class Group:
    """A contiguous set of columns fed to the head together (one feature view)."""

    view: str
    indices: list[int]  # flat column indices, in card order
    layers: list[list[int]] | None  # per layer: flat indices of [mean, std] (layer probing)

    @property
    def width(self) -> int:
        if self.layers:
            return len(self.layers[0])
        return len(self.indices)


def groups(features: Sequence[FeatureRef]) -> list[Group]:
    """One group per view; a view whose columns are all ``layerNN_mean/std`` of one length
    becomes a layer stack for the learned softmax layer weighting."""
    offsets: list[tuple[FeatureRef, list[int]]] = []
    pos = 0
    for f in features:
        offsets.append((f, list(range(pos, pos + f.width))))
        pos += f.width
    views: dict[str, list[tuple[FeatureRef, list[int]]]] = {}
    for f, idx in offsets:
        views.setdefault(f.view, []).append((f, idx))
    out: list[Group] = []
    for view, items in views.items():
        indices = [i for _, idx in items for i in idx]
        per_layer: dict[int, dict[str, list[int]]] = {}
        layered = True
        for f, idx in items:
            m = LAYER_RE.match(f.feature)
            if not m:
                layered = False
                break
            per_layer.setdefault(int(m.group(1)), {})[m.group(2)] = idx
        layers: list[list[int]] | None = None
        if layered and len(per_layer) > 1:
            stacks = [
                per_layer[k].get("mean", []) + per_layer[k].get("std", [])
                for k in sorted(per_layer)
            ]
            if len({len(s) for s in stacks}) == 1:
                layers = stacks
        out.append(Group(view=view, indices=indices, layers=layers))
    return out
