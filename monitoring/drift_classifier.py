"""A stable domain-classifier test for embedding drift (an Evidently ``DriftMethod``).

Evidently's ``model`` method fits one SGD classifier on one random half of the rows and
scores the other half.  On the small windows a monitor sees (tens of rows, hundreds of
dimensions) that verdict is a single noisy draw: the rows are separable, SGD never
settles (an input change of 1e-7 moved its iterations 197 → 38), and over 200 splits of
the same data its AUC spread ±0.13 — more than the margin to its threshold.

:class:`ClassifierDriftMethod` asks the same question ("can a classifier tell reference
rows from current rows?") with a statistic that does not depend on a draw:

- the classifier is ridge regression of the domain label on the (standardised) vectors:
  strongly convex, solved in closed form, so it always converges to the same answer;
- the score is the ROC AUC of its **leave-one-out** predictions over *every* row (the
  closed form gives them without refitting), so no random train/test split enters;
- the threshold is the ``quantile`` of the same statistic under random relabelings of
  the rows (a permutation test).  The hat matrix does not depend on the labels, so every
  permutation costs one matrix product; the null is exact for any sample size, dimension
  or ridge strength, and the p-value is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from evidently.legacy.metrics.data_drift.embedding_drift_methods import DriftMethod
from evidently.pydantic_utils import autoregister

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierTest:
    """One domain-classifier drift test: observed AUC, the null quantile, the p-value."""

    score: float
    threshold: float
    p_value: float

    @property
    def drifted(self) -> bool:
        return self.score > self.threshold


def leave_one_out_scores(x: np.ndarray, labels: np.ndarray, ridge: float) -> np.ndarray:
    """Leave-one-out ridge predictions for every label column (``labels``: rows × columns).

    ``x`` must be centred.  For the hat matrix ``H = X (XᵀX + λI)⁻¹ Xᵀ`` the prediction of
    row ``i`` by the model fitted without it is ``(ŷᵢ − Hᵢᵢ yᵢ) / (1 − Hᵢᵢ)``.
    """
    n, d = x.shape
    if d <= n:
        solved = np.linalg.solve(x.T @ x + ridge * np.eye(d), x.T)  # (d, n)
        h_diag = np.einsum("ij,ji->i", x, solved)
        fitted = x @ (solved @ labels)
    else:  # dual form: fewer rows than dimensions
        gram = x @ x.T
        hat = gram @ np.linalg.solve(gram + ridge * np.eye(n), np.eye(n))
        h_diag = np.diag(hat).copy()
        fitted = hat @ labels
    return (fitted - h_diag[:, None] * labels) / (1.0 - h_diag)[:, None]


def _auc_columns(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """ROC AUC of each score column for the boolean ``positive`` column of the same shape."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=0)
    n_pos = positive.sum(axis=0)
    n_neg = positive.shape[0] - n_pos
    rank_sum = (ranks * positive).sum(axis=0)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def classifier_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    ridge: float = 1.0,
    permutations: int = 500,
    quantile: float = 0.99,
    seed: int = 0,
) -> ClassifierTest:
    """Leave-one-out ridge domain-classifier AUC against its permutation null.

    ``ridge`` is relative: λ = ridge × (mean squared row norm of the centred data), which
    for standardised vectors of ``d`` components is about ``ridge × d``.
    """
    x = np.vstack([reference, current]).astype(np.float64)
    n_ref = reference.shape[0]
    if n_ref < 2 or current.shape[0] < 2:
        raise ValueError(f"need two rows on each side, got {n_ref} and {current.shape[0]}")
    x -= x.mean(axis=0)
    scale = float((x**2).sum() / x.shape[0]) or 1.0
    rng = np.random.default_rng(seed)
    observed = np.zeros(x.shape[0], dtype=bool)
    observed[:n_ref] = True
    is_ref = np.column_stack([observed, *(rng.permutation(observed) for _ in range(permutations))])
    labels = is_ref.astype(np.float64)
    labels -= labels.mean(axis=0)
    aucs = _auc_columns(leave_one_out_scores(x, labels, ridge * scale), is_ref)
    null = aucs[1:]
    return ClassifierTest(
        score=float(aucs[0]),
        threshold=float(np.quantile(null, quantile)) if permutations else 1.0,
        p_value=float((1 + np.sum(null >= aucs[0])) / (1 + permutations)),
    )


@autoregister
class ClassifierDriftMethod(DriftMethod):
    """Evidently embedding drift method: :func:`classifier_test` (see the module doc)."""

    class Config:
        type_alias = "nordlid:drift_method:ClassifierDriftMethod"

    ridge: float = 1.0
    permutations: int = 500
    quantile_probability: float = 0.99
    max_rows: int = 2000
    seed: int = 0

    def test(self, current_emb: pd.DataFrame, reference_emb: pd.DataFrame) -> ClassifierTest:
        rng = np.random.default_rng(self.seed)
        ref = _at_most(reference_emb.to_numpy(dtype=np.float64), self.max_rows, rng)
        cur = _at_most(current_emb.to_numpy(dtype=np.float64), self.max_rows, rng)
        return classifier_test(
            ref,
            cur,
            ridge=self.ridge,
            permutations=self.permutations,
            quantile=self.quantile_probability,
            seed=self.seed,
        )

    def __call__(
        self, current_emb: pd.DataFrame, reference_emb: pd.DataFrame
    ) -> tuple[float, bool, str]:
        result = self.test(current_emb, reference_emb)
        return result.score, result.drifted, "classifier"


def _at_most(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if rows.shape[0] <= n:
        return rows
    return rows[np.sort(rng.choice(rows.shape[0], size=n, replace=False))]
