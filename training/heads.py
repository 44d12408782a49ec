"""LID heads over a flat feature matrix: logistic regression, LDA, MLP and multi-view fusion.

All heads standardise with statistics fitted on the training split only, weight classes
inversely to their frequency, select / stop on dev macro-F1 and are seeded.  Weights are
saved as safetensors plus a JSON description (never pickle):

- ``logreg``: scikit-learn multinomial logistic regression; ``C`` chosen on dev macro-F1;
  saved as its coefficients.
- ``lda``: the classic Gaussian back end of LID / speaker embeddings — linear discriminant
  analysis (one shared covariance, equal class priors), covariance shrinkage chosen on dev
  macro-F1; its posteriors are a softmax of an affine map, saved like ``logreg``'s.
- ``mlp``: one hidden layer (torch), early stopping on dev macro-F1.
- ``fusion``: one projection branch per feature view, concatenated, then the MLP.

Views with ``layerNN_mean/std`` columns enter the torch heads through a learned softmax
weighting of the layers (the standard probing set-up); the learned weights are reported.

Each kind is a :class:`Head` subclass with its own config model (``extra="forbid"``);
:data:`HEADS` is the one table from kind to class, :data:`HeadConfig` the discriminated
union of the configs on ``kind``.  ``head.save_pretrained(dir)`` writes ``head.json`` with
the kind, so :func:`load_head` (``Head.from_pretrained``) picks the class back from it.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from training.early_stopping import EarlyStopping
from training.features import Group
from training.metrics import class_weights, macro_f1

log = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.safetensors"
HEAD_FILE = "head.json"
# head.json format: 1 (unversioned) stored one flat config with every kind's fields
HEAD_FORMAT = 2


# --------------------------------------------------------------------------- configs
class HeadConfigBase(BaseModel):
    """Settings every head kind has."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    seed: int = 0
    class_weighting: bool = True


class LogRegConfig(HeadConfigBase):
    kind: Literal["logreg"] = "logreg"
    c_grid: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0])
    max_iter: int = 1000


class LdaConfig(HeadConfigBase):
    kind: Literal["lda"] = "lda"
    # covariance shrinkage towards a scaled identity (0 = the pooled sample covariance)
    shrinkage_grid: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.5])


class TorchHeadConfig(HeadConfigBase):
    """Settings of the torch heads (AdamW, early stopping on dev macro-F1)."""

    hidden: int = 128
    dropout: float = 0.2
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 150
    patience: int = Field(default=15, ge=1)


class MlpConfig(TorchHeadConfig):
    kind: Literal["mlp"] = "mlp"


class FusionConfig(TorchHeadConfig):
    kind: Literal["fusion"] = "fusion"
    proj: int = 64  # width of each view's projection branch


HeadConfig = Annotated[
    LogRegConfig | LdaConfig | MlpConfig | FusionConfig, Field(discriminator="kind")
]
"""Hyper-parameters of one head (the sweep varies these), discriminated on ``kind``."""

_CONFIG_ADAPTER: TypeAdapter[HeadConfig] = TypeAdapter(HeadConfig)


@dataclass
class FitReport:
    """What fitting chose: best dev macro-F1, epochs / C, learned layer weights."""

    dev_macro_f1: float
    chosen: dict[str, Any] = field(default_factory=dict)


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale < 1e-8, 1.0, scale)
    return mean.astype(np.float32), scale.astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- base class
class Head(ABC):
    """A fitted head: ``predict_proba(X)`` → ``(n, len(labels))``.

    Subclasses set ``kind`` and ``config_type`` and implement ``fit``, ``predict_proba``
    and the weights' half of persistence (``_save_weights`` / ``_from_saved``); the
    ``head.json`` half is shared, so every kind saves and loads the same way.
    """

    kind: ClassVar[str]
    config_type: ClassVar[type[HeadConfigBase]]
    labels: list[str]
    config: HeadConfigBase

    @classmethod
    @abstractmethod
    def fit(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_dev: np.ndarray,
        y_dev: np.ndarray,
        labels: list[str],
        config: HeadConfigBase,
        groups: list[Group] | None = None,
    ) -> tuple[Self, FitReport]:
        """Fit on train, select on dev; ``y_*`` are integer indices into ``labels``."""

    @abstractmethod
    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: Path) -> list[str]:
        """Write ``weights.safetensors`` + ``head.json``; returns the file names."""
        directory.mkdir(parents=True, exist_ok=True)
        self._save_weights(directory / WEIGHTS_FILE)
        meta = {
            "format": HEAD_FORMAT,
            "kind": self.kind,
            "labels": self.labels,
            "config": self.config.model_dump(),
            **self._extra_meta(),
        }
        (directory / HEAD_FILE).write_text(json.dumps(meta, indent=2))
        return [WEIGHTS_FILE, HEAD_FILE]

    @classmethod
    def from_pretrained(cls, directory: Path) -> Self:
        """Load a head this class saved with :meth:`save_pretrained`."""
        meta = read_head_meta(directory)
        if meta.get("kind") != cls.kind:
            raise ValueError(
                f"{directory / HEAD_FILE}: a {meta.get('kind')!r} head, not {cls.kind!r}"
            )
        return cls._from_saved(directory / WEIGHTS_FILE, meta, _saved_config(cls, meta))

    @abstractmethod
    def _save_weights(self, path: Path) -> None: ...

    def _extra_meta(self) -> dict[str, Any]:
        return {}

    @classmethod
    @abstractmethod
    def _from_saved(cls, weights: Path, meta: dict[str, Any], config: HeadConfigBase) -> Self: ...


def read_head_meta(directory: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((directory / HEAD_FILE).read_text())
    return meta


def _saved_config(cls: type[Head], meta: dict[str, Any]) -> HeadConfigBase:
    raw = dict(meta.get("config") or {})
    if meta.get("format", 1) < 2:  # one flat config of every kind's fields: keep this kind's
        raw = {k: v for k, v in raw.items() if k in cls.config_type.model_fields}
    raw["kind"] = cls.kind
    return cls.config_type.model_validate(raw)


# --------------------------------------------------------------------------- linear heads
class LinearHead(Head):
    """``softmax(((x - mean) / scale) coef^T + intercept)`` of a scikit-learn linear
    classifier; the subclass names the tuned parameter, its grid and the estimator."""

    def __init__(
        self,
        labels: list[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        mean: np.ndarray,
        scale: np.ndarray,
        config: HeadConfigBase,
    ) -> None:
        self.labels = labels
        self.coef, self.intercept, self.mean, self.scale = coef, intercept, mean, scale
        self.config = config

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        return _softmax(z.astype(np.float64))

    @classmethod
    def fit(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_dev: np.ndarray,
        y_dev: np.ndarray,
        labels: list[str],
        config: HeadConfigBase,
        groups: list[Group] | None = None,
    ) -> tuple[Self, FitReport]:
        """Fit one scikit-learn model per grid value on standardised features; keep the one
        with the best dev macro-F1 (``groups`` are not used)."""
        config = cls.config_type.model_validate(config.model_dump())
        param, grid, make = cls._candidates(config, y_train)
        mean, scale = _standardiser(x_train)
        xs_train = (x_train - mean) / scale
        best: tuple[float, float, Self] | None = None
        for value in grid:
            model = make(value).fit(xs_train, y_train)
            coef, intercept = _affine_scores(model, len(labels), xs_train.shape[1])
            head = cls(labels, coef, intercept, mean, scale, config)
            score = macro_f1(labels, y_dev, head.predict_proba(x_dev))
            log.debug("%s %s=%s dev macro-F1 %.4f", cls.kind, param, value, score)
            if best is None or score > best[0]:
                best = (score, value, head)
        assert best is not None
        score, value, head = best
        return head, FitReport(dev_macro_f1=score, chosen={param: value})

    @classmethod
    @abstractmethod
    def _candidates(
        cls, config: Any, y_train: np.ndarray
    ) -> tuple[str, list[float], Callable[[float], Any]]:
        """(name of the tuned parameter, its grid, grid value → unfitted model)."""

    def _save_weights(self, path: Path) -> None:
        from safetensors.numpy import save_file

        save_file(
            {
                "coef": np.ascontiguousarray(self.coef, dtype=np.float32),
                "intercept": np.ascontiguousarray(self.intercept, dtype=np.float32),
                "mean": self.mean.astype(np.float32),
                "scale": self.scale.astype(np.float32),
            },
            str(path),
        )

    @classmethod
    def _from_saved(cls, weights: Path, meta: dict[str, Any], config: HeadConfigBase) -> Self:
        from safetensors.numpy import load_file

        w = load_file(str(weights))
        return cls(meta["labels"], w["coef"], w["intercept"], w["mean"], w["scale"], config)


class LogRegHead(LinearHead):
    """Multinomial logistic regression, ``C`` chosen on dev macro-F1."""

    kind: ClassVar[str] = "logreg"
    config_type: ClassVar[type[HeadConfigBase]] = LogRegConfig

    @classmethod
    def _candidates(
        cls, config: LogRegConfig, y_train: np.ndarray
    ) -> tuple[str, list[float], Callable[[float], Any]]:
        from sklearn.linear_model import LogisticRegression

        def make(c: float) -> Any:
            return LogisticRegression(
                C=c,
                class_weight="balanced" if config.class_weighting else None,
                max_iter=config.max_iter,
                random_state=config.seed,
            )

        return "C", config.c_grid, make


class LdaHead(LinearHead):
    """Linear discriminant analysis over standardised features (equal class priors when
    ``class_weighting``), stored and applied as ``softmax(x W^T + b)`` like ``logreg``."""

    kind: ClassVar[str] = "lda"
    config_type: ClassVar[type[HeadConfigBase]] = LdaConfig

    @classmethod
    def _candidates(
        cls, config: LdaConfig, y_train: np.ndarray
    ) -> tuple[str, list[float], Callable[[float], Any]]:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        present = np.unique(y_train)
        if len(present) < 2:
            raise ValueError(f"lda needs two classes in the training rows, got {len(present)}")
        priors = np.full(len(present), 1.0 / len(present)) if config.class_weighting else None

        def make(shrinkage: float) -> Any:
            return LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage, priors=priors)

        return "shrinkage", config.shrinkage_grid, make


def _affine_scores(model: Any, n_labels: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(coef, intercept)`` over every label of a fitted scikit-learn linear classifier
    whose probabilities are ``softmax(x coef^T + intercept)``; a label absent from its
    training rows gets a score that never wins."""
    coef = np.zeros((n_labels, n_features), dtype=np.float64)
    intercept = np.zeros(n_labels, dtype=np.float64)
    if len(model.classes_) == 2:  # sklearn stores one row for binary problems
        coef[model.classes_[1]] = model.coef_[0]
        intercept[model.classes_[1]] = model.intercept_[0]
    else:
        coef[model.classes_] = model.coef_
        intercept[model.classes_] = model.intercept_
    absent = np.setdiff1d(np.arange(n_labels), model.classes_)
    intercept[absent] = -1e4  # a language with no training data is never predicted
    return coef, intercept


# --------------------------------------------------------------------------- torch heads
def _build_net(in_dim: int, groups: list[Group], n_classes: int, config: TorchHeadConfig) -> Any:
    import torch
    from torch import nn

    proj = config.proj if isinstance(config, FusionConfig) else None

    class ProbeNet(nn.Module):
        """Standardise → per-view branch (layer mix, optional projection) → MLP."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(in_dim))
            self.register_buffer("scale", torch.ones(in_dim))
            self.layered: list[bool] = []
            self.layer_logits = nn.ParameterList()
            self.proj = nn.ModuleList()
            width = 0
            for i, g in enumerate(groups):
                if g.layers:
                    self.register_buffer(f"idx{i}", torch.tensor(g.layers, dtype=torch.long))
                    self.layer_logits.append(nn.Parameter(torch.zeros(len(g.layers))))
                else:
                    self.register_buffer(f"idx{i}", torch.tensor(g.indices, dtype=torch.long))
                    self.layer_logits.append(nn.Parameter(torch.zeros(0), requires_grad=False))
                self.layered.append(bool(g.layers))
                if proj is not None:
                    self.proj.append(
                        nn.Sequential(
                            nn.Linear(g.width, proj), nn.ReLU(), nn.Dropout(config.dropout)
                        )
                    )
                    width += proj
                else:
                    self.proj.append(nn.Identity())
                    width += g.width
            self.classifier = nn.Sequential(
                nn.Dropout(config.dropout / 2),
                nn.Linear(width, config.hidden),
                nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, n_classes),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean: torch.Tensor = self.mean  # type: ignore[assignment]
            scale: torch.Tensor = self.scale  # type: ignore[assignment]
            x = (x - mean) / scale
            parts = []
            for i, layered in enumerate(self.layered):
                idx = getattr(self, f"idx{i}")
                if layered:
                    w = torch.softmax(self.layer_logits[i], dim=0)
                    v = (x[:, idx] * w[None, :, None]).sum(dim=1)
                else:
                    v = x[:, idx]
                parts.append(self.proj[i](v))
            return self.classifier(torch.cat(parts, dim=1))

    return ProbeNet()


def _groups_to_json(groups: list[Group]) -> list[dict[str, Any]]:
    return [{"view": g.view, "indices": g.indices, "layers": g.layers} for g in groups]


def _groups_from_json(raw: list[dict[str, Any]]) -> list[Group]:
    return [Group(view=g["view"], indices=g["indices"], layers=g["layers"]) for g in raw]


class TorchHead(Head):
    """A :func:`_build_net` network trained with AdamW, early-stopped on dev macro-F1."""

    config: TorchHeadConfig

    def __init__(
        self, labels: list[str], net: Any, groups: list[Group], config: TorchHeadConfig, in_dim: int
    ) -> None:
        self.labels = labels
        self.net = net
        self.groups = groups
        self.config = config
        self.in_dim = in_dim

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        with torch.no_grad():
            logits = self.net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
            return torch.softmax(logits, dim=1).double().numpy()

    def layer_weights(self) -> dict[str, list[float]]:
        import torch

        out: dict[str, list[float]] = {}
        for i, g in enumerate(self.groups):
            if g.layers:
                out[g.view] = torch.softmax(self.net.layer_logits[i].detach(), 0).tolist()
        return out

    def describe(self) -> dict[str, Any]:
        return {"layer_weights": self.layer_weights()} if self.layer_weights() else {}

    def _save_weights(self, path: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(path))

    def _extra_meta(self) -> dict[str, Any]:
        return {"in_dim": self.in_dim, "groups": _groups_to_json(self.groups)}

    @classmethod
    def _from_saved(cls, weights: Path, meta: dict[str, Any], config: HeadConfigBase) -> Self:
        from safetensors.torch import load_file

        assert isinstance(config, TorchHeadConfig)
        groups = _groups_from_json(meta["groups"])
        net = _build_net(meta["in_dim"], groups, len(meta["labels"]), config)
        net.load_state_dict(load_file(str(weights)))
        net.eval()
        return cls(meta["labels"], net, groups, config, meta["in_dim"])

    @classmethod
    def fit(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_dev: np.ndarray,
        y_dev: np.ndarray,
        labels: list[str],
        config: HeadConfigBase,
        groups: list[Group] | None = None,
    ) -> tuple[Self, FitReport]:
        """Train on one thread; ``groups`` default to one view of every column."""
        import torch

        cfg = cls.config_type.model_validate(config.model_dump())
        assert isinstance(cfg, TorchHeadConfig)
        if groups is None:
            groups = [Group(view="x", indices=list(range(x_train.shape[1])), layers=None)]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny matrices: one thread is faster and deterministic
        try:
            return cls._fit(x_train, y_train, x_dev, y_dev, labels, cfg, groups)
        finally:
            torch.set_num_threads(threads)

    @classmethod
    def _fit(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_dev: np.ndarray,
        y_dev: np.ndarray,
        labels: list[str],
        config: TorchHeadConfig,
        groups: list[Group],
    ) -> tuple[Self, FitReport]:
        import torch

        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        in_dim = x_train.shape[1]
        net = _build_net(in_dim, groups, len(labels), config)
        mean, scale = _standardiser(x_train)
        net.mean.copy_(torch.from_numpy(mean))
        net.scale.copy_(torch.from_numpy(scale))
        weight = (
            torch.tensor(class_weights(y_train, len(labels)), dtype=torch.float32)
            if config.class_weighting
            else None
        )
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
        yt = torch.from_numpy(y_train.astype(np.int64))
        head = cls(labels, net, groups, config, in_dim)
        stopper = EarlyStopping(config.patience, [net])
        epoch = 0
        for epoch in range(1, config.max_epochs + 1):
            net.train()
            order = torch.randperm(len(xt), generator=gen)
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                opt.zero_grad()
                loss = loss_fn(net(xt[batch]), yt[batch])
                loss.backward()
                opt.step()
            stopper.update(epoch, macro_f1(labels, y_dev, head.predict_proba(x_dev)))
            if stopper.should_stop:
                break
        stopper.restore()
        net.eval()
        chosen: dict[str, Any] = {"best_epoch": stopper.best_epoch, "epochs_run": epoch}
        chosen.update(head.describe())
        return head, FitReport(dev_macro_f1=stopper.best_score, chosen=chosen)


class MlpHead(TorchHead):
    """One hidden layer over the (layer-mixed) views side by side."""

    kind: ClassVar[str] = "mlp"
    config_type: ClassVar[type[HeadConfigBase]] = MlpConfig


class FusionHead(TorchHead):
    """One projection branch per view, concatenated, then the MLP."""

    kind: ClassVar[str] = "fusion"
    config_type: ClassVar[type[HeadConfigBase]] = FusionConfig


# --------------------------------------------------------------------------- the table
HEADS: dict[str, type[Head]] = {h.kind: h for h in (LogRegHead, LdaHead, MlpHead, FusionHead)}
"""Every head kind → its class; the class names its config type."""


def _check_table() -> None:
    """HEADS and the HeadConfig union list the same kinds (checked on import)."""
    from typing import get_args

    union = {m.model_fields["kind"].default: m for m in get_args(get_args(HeadConfig)[0])}
    table = {kind: cls.config_type for kind, cls in HEADS.items()}
    if union != table:
        raise RuntimeError(f"HeadConfig union {union} does not match the HEADS table {table}")


_check_table()


def head_kinds() -> tuple[str, ...]:
    return tuple(HEADS)


def head_class(kind: str) -> type[Head]:
    try:
        return HEADS[kind]
    except KeyError:
        raise ValueError(f"unknown head kind {kind!r}; known: {', '.join(HEADS)}") from None


def head_config_fields() -> set[str]:
    """Every setting of any head kind (what a sweep may vary)."""
    return {name for cls in HEADS.values() for name in cls.config_type.model_fields}


def parse_head_config(values: Mapping[str, Any], *, lenient: bool = False) -> HeadConfig:
    """Validate ``values`` as the config of its ``kind`` (default ``logreg``).

    Unknown kinds and names that are no setting of any kind fail.  ``lenient`` drops the
    settings of *other* kinds instead of failing on them — a sweep grid crosses the kind
    with the torch heads' settings, which ``logreg`` and ``lda`` do not have.
    """
    values = {"kind": "logreg", **values}
    kind = values["kind"]
    if lenient and kind in HEADS:
        own = HEADS[kind].config_type.model_fields
        unknown = set(values) - head_config_fields()
        dropped = sorted(set(values) - set(own) - unknown)
        if dropped:
            log.info("%s head: ignoring settings of other head kinds: %s", kind, ", ".join(dropped))
        values = {k: v for k, v in values.items() if k not in dropped}
    return _CONFIG_ADAPTER.validate_python(values)


def config_for_kind(config: HeadConfigBase, kind: str) -> HeadConfig:
    """``config`` as a ``kind`` config: the same object when the kind matches, otherwise the
    settings both kinds have (seed, class weighting, ...) carried over to the new kind."""
    if config.kind == kind:
        return parse_head_config(config.model_dump())
    target = head_class(kind).config_type.model_fields
    return parse_head_config(
        {**{k: v for k, v in config.model_dump().items() if k in target}, "kind": kind}
    )


def fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_dev: np.ndarray,
    y_dev: np.ndarray,
    labels: list[str],
    config: HeadConfigBase,
    groups: list[Group] | None = None,
) -> tuple[Head, FitReport]:
    """Fit the head ``config.kind``; ``y_*`` are integer indices into ``labels``."""
    if len(x_train) == 0:
        raise ValueError("no training rows")
    return head_class(config.kind).fit(x_train, y_train, x_dev, y_dev, labels, config, groups)


def load_head(directory: Path) -> Head:
    """The head saved in ``directory``, of the class its ``head.json`` names."""
    return head_class(read_head_meta(directory)["kind"]).from_pretrained(directory)
