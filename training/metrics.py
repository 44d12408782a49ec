"""Classification metrics for LID: pure functions over labels, predictions and probabilities.

Everything is computed from a confusion matrix (rows = true language, columns = predicted),
so a hand-made matrix gives the same numbers as the arrays it summarises.  Breakdowns per
source corpus and per condition make a head that learned the channel instead of the
language visible.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def confusion_matrix(
    y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray, labels: Sequence[str]
) -> np.ndarray:
    """Counts ``cm[i, j]`` of utterances of ``labels[i]`` predicted as ``labels[j]``."""
    index = {lab: i for i, lab in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        if t not in index:
            raise ValueError(f"true label {t!r} is not one of {list(labels)}")
        if p not in index:
            raise ValueError(f"predicted label {p!r} is not one of {list(labels)}")
        cm[index[t], index[p]] += 1
    return cm


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def metrics_from_confusion(cm: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, UAR and per-language recall/precision/F1/support.

    Languages without any true utterance are left out of the macro averages (their recall
    is undefined); a language predicted but never present still lowers nothing.
    """
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    recall = _safe_div(tp, support)
    precision = _safe_div(tp, predicted)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = support > 0
    return {
        "n": int(total),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "recall": {lab: float(recall[i]) for i, lab in enumerate(labels) if present[i]},
        "precision": {lab: float(precision[i]) for i, lab in enumerate(labels) if predicted[i] > 0},
        "f1": {lab: float(f1[i]) for i, lab in enumerate(labels) if present[i]},
        "support": {lab: int(support[i]) for i, lab in enumerate(labels)},
    }


def macro_f1(labels: Sequence[str], y_idx: np.ndarray, proba: np.ndarray) -> float:
    """Macro-F1 of the arg-max of ``proba`` against integer label indices ``y_idx``."""
    lab = np.asarray(list(labels), dtype=object)
    cm = confusion_matrix(lab[y_idx], lab[np.asarray(proba).argmax(axis=1)], labels)
    return float(metrics_from_confusion(cm, labels)["macro_f1"])


def class_weights(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency class weights ``n / (n_present * count_c)``; 0 for absent classes."""
    counts = np.bincount(y_idx, minlength=n_classes).astype(np.float64)
    weights = np.zeros(n_classes)
    present = counts > 0
    weights[present] = len(y_idx) / (present.sum() * counts[present])
    return weights


def expected_calibration_error(
    proba: np.ndarray, y_true_idx: np.ndarray, n_bins: int = 15
) -> float:
    """ECE with equal-width confidence bins: sum_b |acc_b - conf_b| * n_b / n."""
    from training.calibration import calibration_error

    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape[0] == 0:
        return 0.0
    correct = proba.argmax(axis=1) == np.asarray(y_true_idx)
    return calibration_error(proba.max(axis=1), correct, n_bins)


def evaluate_predictions(
    proba: np.ndarray,
    y_true: Sequence[str] | np.ndarray,
    labels: Sequence[str],
    *,
    groups: dict[str, Sequence[str] | np.ndarray] | None = None,
) -> dict[str, Any]:
    """All metrics of one split; ``groups`` (e.g. source, condition) adds breakdowns."""
    labels = list(labels)
    y_true = np.asarray(y_true, dtype=object)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != (len(y_true), len(labels)):
        raise ValueError(f"probabilities shape {proba.shape} != ({len(y_true)}, {len(labels)})")
    y_pred = np.asarray(labels, dtype=object)[proba.argmax(axis=1)] if len(y_true) else y_true
    cm = confusion_matrix(y_true, y_pred, labels)
    out = metrics_from_confusion(cm, labels)
    index = {lab: i for i, lab in enumerate(labels)}
    y_idx = np.array([index[t] for t in y_true], dtype=np.int64)
    out["ece"] = expected_calibration_error(proba, y_idx)
    out["confusion"] = cm.tolist()
    out["labels"] = labels
    for group_name, values in (groups or {}).items():
        values = np.asarray(values, dtype=object)
        breakdown: dict[str, Any] = {}
        for value in sorted({str(v) for v in values}):
            mask = np.array([str(v) == value for v in values])
            sub_cm = confusion_matrix(y_true[mask], y_pred[mask], labels)
            sub = metrics_from_confusion(sub_cm, labels)
            breakdown[value] = {
                "n": sub["n"],
                "accuracy": sub["accuracy"],
                "macro_f1": sub["macro_f1"],
                "uar": sub["uar"],
                "recall": sub["recall"],
            }
        out[f"by_{group_name}"] = breakdown
    return out


def confusion_table(cm: np.ndarray | list[list[int]], labels: Sequence[str]) -> str:
    """Plain-text confusion matrix (rows = true, columns = predicted)."""
    cm = np.asarray(cm)
    width = max(6, *(len(str(int(v))) + 1 for v in cm.ravel()), *(len(x) + 1 for x in labels))
    head = "true\\pred".ljust(10) + "".join(lab.rjust(width) for lab in labels)
    rows = [head]
    for i, lab in enumerate(labels):
        rows.append(lab.ljust(10) + "".join(str(int(v)).rjust(width) for v in cm[i]))
    return "\n".join(rows)


def plot_confusion(
    cm: np.ndarray | list[list[int]], labels: Sequence[str], path: Path, title: str = ""
) -> Path:
    """Row-normalised confusion matrix heat map with counts, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.float64)
    norm = _safe_div(cm, cm.sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(labels), 0.8 + 0.8 * len(labels)))
    ax.imshow(norm, vmin=0.0, vmax=1.0, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                str(int(cm[i, j])),
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=9,
            )
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
