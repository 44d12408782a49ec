"""The predictor: features → ``mini`` model → (when unsure) ``premium`` model.

It depends on three small protocols so it can be built and tested on its own:

- :class:`FeatureComputer` turns 16 kHz waves into per-view feature rows (the real one,
  :class:`serving.adapters.ExtractorFeatureComputer`, runs the batch extractors' code);
- :class:`ModelLoader` loads a model by registry reference (real one:
  :class:`serving.adapters.RegistryModelLoader` over ``training.registry``);
- :class:`OnlineStore` reads feature services by utterance id and pushes rows (real one:
  :class:`serving.adapters.FeastOnlineStore` over ``feature_repo.store``).

A model is anything with a ``card`` (name, version, feature_service, features
``[{"ref": "view__feature", "length": n|None}]``, labels, threshold) and
``predict_proba(frame) -> (n, len(labels))``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from serving.errors import ModelUnavailableError, UnknownUtteranceError

log = logging.getLogger(__name__)

FeatureRow = dict[str, Any]


class Model(Protocol):
    card: Any

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...


class ModelLoader(Protocol):
    def load(self, ref: str) -> Model:
        """Load ``ref``; raise :class:`ModelUnavailableError` when it does not exist."""
        ...


class FeatureComputer(Protocol):
    def compute(self, views: Sequence[str], waves: list[np.ndarray]) -> dict[str, list[FeatureRow]]:
        """Per view: one row per wave with that view's feature columns (unprefixed names)."""
        ...


@dataclass(frozen=True)
class OnlineResult:
    """Rows of a feature service for the ids found (columns = refs), and the ids not found."""

    frame: pd.DataFrame
    missing: list[str]


class OnlineStore(Protocol):
    def online_features(self, service: str, utterance_ids: list[str]) -> OnlineResult:
        """Raise :class:`OnlineStoreUnavailableError` when the store does not answer."""
        ...

    def push(self, view: str, rows: pd.DataFrame) -> None: ...

    def ping(self) -> None: ...


# --- model cards ------------------------------------------------------------------------
def card_get(card: Any, key: str, default: Any = None) -> Any:
    """Read a card field whether the card is an object or a mapping."""
    if isinstance(card, Mapping):
        return card.get(key, default)
    return getattr(card, key, default)


@dataclass(frozen=True)
class FeatureRef:
    view: str
    feature: str
    length: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.view}__{self.feature}"

    @classmethod
    def parse(cls, item: Any) -> FeatureRef:
        ref = card_get(item, "ref") if not isinstance(item, str) else item
        length = None if isinstance(item, str) else card_get(item, "length")
        view, sep, feature = str(ref).partition("__")
        if not sep or not view or not feature:
            raise ModelUnavailableError(f"model card feature {ref!r} is not 'view__feature'")
        return cls(view=view, feature=feature, length=length)


def model_refs(model: Model) -> list[FeatureRef]:
    return [FeatureRef.parse(f) for f in card_get(model.card, "features", [])]


def model_views(model: Model) -> list[str]:
    return list(dict.fromkeys(r.view for r in model_refs(model)))


def model_label(model: Model) -> str:
    card = model.card
    return f"{card_get(card, 'name', 'model')}@{card_get(card, 'version', '?')}"


def model_info(model: Model, role: str) -> dict[str, Any]:
    card = model.card
    return {
        "role": role,
        "model": model_label(model),
        "name": card_get(card, "name"),
        "version": card_get(card, "version"),
        "feature_service": card_get(card, "feature_service"),
        "labels": list(card_get(card, "labels", [])),
        "threshold": card_get(card, "threshold"),
        "features": [r.ref for r in model_refs(model)],
        "metrics": _jsonable(card_get(card, "metrics", {})),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# --- predictions ------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    language: str
    confidence: float
    probabilities: dict[str, float]
    model: str
    escalated: bool
    # view → feature row (unprefixed), for pushing and logging
    features: dict[str, FeatureRow] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def feature_columns(self) -> dict[str, Any]:
        """Features keyed by Feast reference (``view__feature``), for the serving log."""
        return {f"{view}__{k}": v for view, row in self.features.items() for k, v in row.items()}


def should_escalate(confidence: float, threshold: float | None, premium_available: bool) -> bool:
    """The cascade rule: ask the premium model only when the mini model is unsure."""
    return premium_available and threshold is not None and confidence < float(threshold)


def frame_for(model: Model, features: Mapping[str, FeatureRow]) -> pd.DataFrame:
    """A one-row frame with exactly the model's feature refs as columns."""
    data: dict[str, list[Any]] = {}
    for r in model_refs(model):
        try:
            value = features[r.view][r.feature]
        except KeyError:
            raise ModelUnavailableError(
                f"model {model_label(model)} needs feature {r.ref!r}, which the "
                f"{r.view!r} extractor did not produce"
            ) from None
        data[r.ref] = [value]
    return pd.DataFrame(data)


def decide(model: Model, proba_row: np.ndarray) -> tuple[str, float, dict[str, float]]:
    labels = [str(x) for x in card_get(model.card, "labels", [])]
    probs = np.asarray(proba_row, dtype=np.float64).reshape(-1)
    if len(labels) != probs.shape[0]:
        raise ModelUnavailableError(
            f"model {model_label(model)} returned {probs.shape[0]} probabilities for "
            f"{len(labels)} labels"
        )
    best = int(np.argmax(probs))
    return (
        labels[best],
        float(probs[best]),
        {lab: float(p) for lab, p in zip(labels, probs, strict=True)},
    )


class Predictor:
    """mini → premium cascade over audio (``identify``) or online features (``by_id``)."""

    def __init__(self, mini: Model, premium: Model | None, features: FeatureComputer) -> None:
        self.mini = mini
        self.premium = premium
        self.features = features

    @classmethod
    def load(
        cls,
        loader: ModelLoader,
        features: FeatureComputer,
        mini_ref: str = "@mini",
        premium_ref: str | None = "@premium",
    ) -> Predictor:
        mini = loader.load(mini_ref)
        premium: Model | None = None
        if premium_ref:
            try:
                premium = loader.load(premium_ref)
            except ModelUnavailableError as exc:
                log.info("no premium model (%s): the cascade stops at %s", exc, mini_ref)
        return cls(mini, premium, features)

    def models(self) -> list[dict[str, Any]]:
        out = [model_info(self.mini, "mini")]
        if self.premium is not None:
            out.append(model_info(self.premium, "premium"))
        return out

    def _predict(self, model: Model, frame: pd.DataFrame) -> tuple[str, float, dict[str, float]]:
        proba = np.asarray(model.predict_proba(frame))
        return decide(model, proba[0])

    def identify(self, wave: np.ndarray) -> Prediction:
        """Predict one 16 kHz mono wave (computing only the features the cascade needs)."""
        import time

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        feats = self._compute(model_views(self.mini), wave, {})
        t1 = time.perf_counter()
        language, conf, probs = self._predict(self.mini, frame_for(self.mini, feats))
        t2 = time.perf_counter()
        timings.update(features_ms=(t1 - t0) * 1e3, model_ms=(t2 - t1) * 1e3)
        model = self.mini
        threshold = card_get(self.mini.card, "threshold")
        escalated = should_escalate(conf, threshold, self.premium is not None)
        if escalated and self.premium is not None:
            feats = self._compute(model_views(self.premium), wave, feats)
            t3 = time.perf_counter()
            language, conf, probs = self._predict(self.premium, frame_for(self.premium, feats))
            t4 = time.perf_counter()
            timings.update(premium_features_ms=(t3 - t2) * 1e3, premium_model_ms=(t4 - t3) * 1e3)
            model = self.premium
        return Prediction(
            language=language,
            confidence=conf,
            probabilities=probs,
            model=model_label(model),
            escalated=escalated,
            features=feats,
            timings_ms=timings,
        )

    def _compute(
        self, views: list[str], wave: np.ndarray, have: dict[str, FeatureRow]
    ) -> dict[str, FeatureRow]:
        need = [v for v in views if v not in have]
        out = dict(have)
        if need:
            computed = self.features.compute(need, [wave])
            for view in need:
                out[view] = computed[view][0]
        return out

    def by_id(self, utterance_id: str, store: OnlineStore) -> Prediction:
        """Predict from the online store's feature service rows for one utterance."""
        service = str(card_get(self.mini.card, "feature_service"))
        result = store.online_features(service, [utterance_id])
        if utterance_id in result.missing or result.frame.empty:
            raise UnknownUtteranceError(utterance_id, service)
        language, conf, probs = self._predict(self.mini, _select(self.mini, result.frame))
        model = self.mini
        threshold = card_get(self.mini.card, "threshold")
        escalated = False
        if should_escalate(conf, threshold, self.premium is not None) and self.premium is not None:
            p_service = str(card_get(self.premium.card, "feature_service"))
            p_result = store.online_features(p_service, [utterance_id])
            if utterance_id not in p_result.missing and not p_result.frame.empty:
                language, conf, probs = self._predict(
                    self.premium, _select(self.premium, p_result.frame)
                )
                model, escalated = self.premium, True
            else:
                log.info(
                    "premium features missing online for %s; answering with mini", utterance_id
                )
        return Prediction(language, conf, probs, model_label(model), escalated)


def _select(model: Model, frame: pd.DataFrame) -> pd.DataFrame:
    refs = [r.ref for r in model_refs(model)]
    absent = [r for r in refs if r not in frame.columns]
    if absent:
        raise ModelUnavailableError(
            f"online store rows lack features {absent} that model {model_label(model)} needs"
        )
    return frame[refs].iloc[[0]].reset_index(drop=True)
