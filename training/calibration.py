"""Temperature scaling: probabilities that mean what they say (Guo et al., 2017).

A head's softmax is often over-confident (LDA on separable embeddings answers 0.9999 on
audio unlike its training data).  One scalar ``T`` fitted on the dev split — the
``T`` that minimises the negative log-likelihood of ``softmax(log p / T)`` — keeps every
arg-max (accuracy is unchanged) and moves the confidences towards the observed accuracy.
The card records ``T``; :class:`training.registry.LoadedModel` applies it, so training's
metrics, the cascade's threshold and serving all see the same calibrated probabilities.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

T_BOUNDS = (0.05, 50.0)
EPS = 1e-12


def apply_temperature(proba: np.ndarray, temperature: float | None) -> np.ndarray:
    """``softmax(log p / T)`` row by row; ``None`` or 1 returns ``proba`` as it is."""
    if temperature is None or temperature == 1.0:
        return proba
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.log(np.clip(np.asarray(proba, dtype=np.float64), EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    out /= out.sum(axis=1, keepdims=True)
    return out.astype(np.asarray(proba).dtype, copy=False)


def negative_log_likelihood(proba: np.ndarray, y_idx: np.ndarray) -> float:
    picked = np.asarray(proba, dtype=np.float64)[np.arange(len(y_idx)), y_idx]
    return float(-np.log(np.clip(picked, EPS, 1.0)).mean())


def fit_temperature(proba: np.ndarray, y_idx: np.ndarray) -> float:
    """The dev-set temperature (bounded search on log T); 1.0 for an empty set."""
    from scipy.optimize import minimize_scalar

    y_idx = np.asarray(y_idx, dtype=np.int64)
    if len(y_idx) == 0:
        return 1.0
    lo, hi = np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1])
    best = minimize_scalar(
        lambda log_t: negative_log_likelihood(
            apply_temperature(proba, float(np.exp(log_t))), y_idx
        ),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-4},
    )
    temperature = float(np.exp(best.x))
    log.info(
        "temperature %.3f: dev NLL %.4f -> %.4f",
        temperature,
        negative_log_likelihood(proba, y_idx),
        float(best.fun),
    )
    return temperature


def calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE from (top-1 confidence, correct) pairs: sum_b |acc_b - conf_b| * n_b / n."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += abs(hit[mask].mean() - conf[mask].mean()) * mask.sum() / conf.size
    return float(total)
