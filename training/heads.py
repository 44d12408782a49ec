"""LID heads over a flat feature matrix: logistic regression, MLP and multi-view fusion.

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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from training.features import Group
from training.metrics import confusion_matrix, metrics_from_confusion

log = logging.getLogger(__name__)

HeadKind = Literal["logreg", "lda", "mlp", "fusion"]
WEIGHTS_FILE = "weights.safetensors"
HEAD_FILE = "head.json"


class HeadConfig(BaseModel):
    """Hyper-parameters of a head (the sweep varies these)."""

    model_config = ConfigDict(extra="forbid")

    kind: HeadKind = "logreg"
    seed: int = 0
    class_weighting: bool = True
    # logreg
    c_grid: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0])
    max_iter: int = 1000
    # lda: covariance shrinkage towards a scaled identity (0 = the pooled sample covariance)
    shrinkage_grid: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.5])
    # torch heads
    hidden: int = 128
    proj: int = 64
    dropout: float = 0.2
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 150
    patience: int = 15


@dataclass
class FitReport:
    """What fitting chose: best dev macro-F1, epochs / C, learned layer weights."""

    dev_macro_f1: float
    chosen: dict[str, Any] = field(default_factory=dict)


def _macro_f1(labels: list[str], y_idx: np.ndarray, proba: np.ndarray) -> float:
    lab = np.asarray(labels, dtype=object)
    cm = confusion_matrix(lab[y_idx], lab[proba.argmax(axis=1)], labels)
    return float(metrics_from_confusion(cm, labels)["macro_f1"])


def _class_weights(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(y_idx, minlength=n_classes).astype(np.float64)
    weights = np.zeros(n_classes)
    present = counts > 0
    weights[present] = len(y_idx) / (present.sum() * counts[present])
    return weights


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale < 1e-8, 1.0, scale)
    return mean.astype(np.float32), scale.astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Head:
    """A fitted head: ``predict_proba(X)`` → ``(n, len(labels))``."""

    kind: HeadKind
    labels: list[str]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def save(self, directory: Path) -> list[str]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {}


# --------------------------------------------------------------------------- logreg
class LogRegHead(Head):
    kind: HeadKind = "logreg"

    def __init__(
        self,
        labels: list[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        mean: np.ndarray,
        scale: np.ndarray,
        config: HeadConfig,
    ) -> None:
        self.labels = labels
        self.coef, self.intercept, self.mean, self.scale = coef, intercept, mean, scale
        self.config = config

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        return _softmax(z.astype(np.float64))

    def save(self, directory: Path) -> list[str]:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            {
                "coef": np.ascontiguousarray(self.coef, dtype=np.float32),
                "intercept": np.ascontiguousarray(self.intercept, dtype=np.float32),
                "mean": self.mean.astype(np.float32),
                "scale": self.scale.astype(np.float32),
            },
            str(directory / WEIGHTS_FILE),
        )
        (directory / HEAD_FILE).write_text(
            json.dumps(
                {"kind": self.kind, "labels": self.labels, "config": self.config.model_dump()},
                indent=2,
            )
        )
        return [WEIGHTS_FILE, HEAD_FILE]

    @classmethod
    def fit(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_dev: np.ndarray,
        y_dev: np.ndarray,
        labels: list[str],
        config: HeadConfig,
    ) -> tuple[LogRegHead, FitReport]:
        """Fit one scikit-learn model per grid value on standardised features; keep the one
        with the best dev macro-F1."""
        param, grid, make = cls._candidates(config, y_train)
        mean, scale = _standardiser(x_train)
        xs_train = (x_train - mean) / scale
        best: tuple[float, float, LogRegHead] | None = None
        for value in grid:
            model = make(value).fit(xs_train, y_train)
            coef, intercept = _affine_scores(model, len(labels), xs_train.shape[1])
            head = cls(labels, coef, intercept, mean, scale, config)
            score = _macro_f1(labels, y_dev, head.predict_proba(x_dev))
            log.debug("%s %s=%s dev macro-F1 %.4f", cls.kind, param, value, score)
            if best is None or score > best[0]:
                best = (score, value, head)
        assert best is not None
        score, value, head = best
        return head, FitReport(dev_macro_f1=score, chosen={param: value})

    @classmethod
    def _candidates(
        cls, config: HeadConfig, y_train: np.ndarray
    ) -> tuple[str, list[float], Callable[[float], Any]]:
        """(name of the tuned parameter, its grid, grid value → unfitted model)."""
        from sklearn.linear_model import LogisticRegression

        def make(c: float) -> Any:
            return LogisticRegression(
                C=c,
                class_weight="balanced" if config.class_weighting else None,
                max_iter=config.max_iter,
                random_state=config.seed,
            )

        return "C", config.c_grid, make

    @classmethod
    def load(cls, directory: Path) -> LogRegHead:
        from safetensors.numpy import load_file

        meta = json.loads((directory / HEAD_FILE).read_text())
        w = load_file(str(directory / WEIGHTS_FILE))
        return cls(
            meta["labels"],
            w["coef"],
            w["intercept"],
            w["mean"],
            w["scale"],
            HeadConfig.model_validate(meta["config"]),
        )


class LdaHead(LogRegHead):
    """Linear discriminant analysis over standardised features (equal class priors when
    ``class_weighting``), stored and applied as ``softmax(x W^T + b)`` like ``logreg``."""

    kind: HeadKind = "lda"

    @classmethod
    def _candidates(
        cls, config: HeadConfig, y_train: np.ndarray
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
def _build_net(in_dim: int, groups: list[Group], n_classes: int, config: HeadConfig) -> Any:
    import torch
    from torch import nn

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
                if config.kind == "fusion":
                    self.proj.append(
                        nn.Sequential(
                            nn.Linear(g.width, config.proj), nn.ReLU(), nn.Dropout(config.dropout)
                        )
                    )
                    width += config.proj
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
    def __init__(
        self, labels: list[str], net: Any, groups: list[Group], config: HeadConfig, in_dim: int
    ) -> None:
        self.labels = labels
        self.net = net
        self.groups = groups
        self.config = config
        self.in_dim = in_dim
        self.kind = config.kind

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

    def save(self, directory: Path) -> list[str]:
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))
        (directory / HEAD_FILE).write_text(
            json.dumps(
                {
                    "kind": self.kind,
                    "labels": self.labels,
                    "in_dim": self.in_dim,
                    "groups": _groups_to_json(self.groups),
                    "config": self.config.model_dump(),
                }
            )
        )
        return [WEIGHTS_FILE, HEAD_FILE]

    @classmethod
    def load(cls, directory: Path) -> TorchHead:
        from safetensors.torch import load_file

        meta = json.loads((directory / HEAD_FILE).read_text())
        config = HeadConfig.model_validate(meta["config"])
        groups = _groups_from_json(meta["groups"])
        net = _build_net(meta["in_dim"], groups, len(meta["labels"]), config)
        net.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
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
        config: HeadConfig,
        groups: list[Group],
    ) -> tuple[TorchHead, FitReport]:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny matrices: one thread is faster and deterministic
        try:
            return cls._fit(x_train, y_train, x_dev, y_dev, labels, config, groups)
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
        config: HeadConfig,
        groups: list[Group],
    ) -> tuple[TorchHead, FitReport]:
        import torch

        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        in_dim = x_train.shape[1]
        net = _build_net(in_dim, groups, len(labels), config)
        mean, scale = _standardiser(x_train)
        net.mean.copy_(torch.from_numpy(mean))
        net.scale.copy_(torch.from_numpy(scale))
        weight = (
            torch.tensor(_class_weights(y_train, len(labels)), dtype=torch.float32)
            if config.class_weighting
            else None
        )
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
        yt = torch.from_numpy(y_train.astype(np.int64))
        head = cls(labels, net, groups, config, in_dim)
        best_score, best_state, best_epoch, stale = -1.0, None, 0, 0
        for epoch in range(1, config.max_epochs + 1):
            net.train()
            order = torch.randperm(len(xt), generator=gen)
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                opt.zero_grad()
                loss = loss_fn(net(xt[batch]), yt[batch])
                loss.backward()
                opt.step()
            score = _macro_f1(labels, y_dev, head.predict_proba(x_dev))
            if score > best_score:
                best_score, best_epoch, stale = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= config.patience:
                    break
        assert best_state is not None
        net.load_state_dict(best_state)
        net.eval()
        chosen: dict[str, Any] = {"best_epoch": best_epoch, "epochs_run": epoch}
        chosen.update(head.describe())
        return head, FitReport(dev_macro_f1=best_score, chosen=chosen)


def fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_dev: np.ndarray,
    y_dev: np.ndarray,
    labels: list[str],
    config: HeadConfig,
    groups: list[Group],
) -> tuple[Head, FitReport]:
    """Fit the head ``config.kind``; ``y_*`` are integer indices into ``labels``."""
    if len(x_train) == 0:
        raise ValueError("no training rows")
    if config.kind == "logreg":
        return LogRegHead.fit(x_train, y_train, x_dev, y_dev, labels, config)
    if config.kind == "lda":
        return LdaHead.fit(x_train, y_train, x_dev, y_dev, labels, config)
    return TorchHead.fit(x_train, y_train, x_dev, y_dev, labels, config, groups)


def load_head(directory: Path) -> Head:
    kind = json.loads((directory / HEAD_FILE).read_text())["kind"]
    if kind == "logreg":
        return LogRegHead.load(directory)
    if kind == "lda":
        return LdaHead.load(directory)
    return TorchHead.load(directory)
