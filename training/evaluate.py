"""`nordlid evaluate`: fresh metrics of one model and a comparison table of all models.

The comparison follows the reference report's Table 3.4: W&B run id, model, test accuracy,
training time and backbone GFLOPs for one second of audio — plus the numbers that show
robustness (accuracy on degraded test audio) and the head's measured latency.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from nordlid.workdir import Workdir
from training.dataset import (
    HistoricalFetch,
    build_training_set,
    fetch_training_frame,
    load_entity_frame,
)
from training.metrics import confusion_table, evaluate_predictions, plot_confusion
from training.registry import ModelCard, ModelRegistry

log = logging.getLogger(__name__)


def evaluate_model(
    workdir: Workdir, ref: str, *, fetch: HistoricalFetch | None = None
) -> tuple[ModelCard, dict[str, Any], Path]:
    """Re-evaluate a registered head on the current dev/test splits (point-in-time join).

    Writes ``reports/evaluation/<name>-<version>/`` (metrics.json, confusion PNG + table).
    """
    registry = ModelRegistry(workdir.models)
    model = registry.load(ref)
    card = model.card
    assert card.feature_service is not None
    entity_df = load_entity_frame(workdir)
    entity_df = entity_df[entity_df["language"].isin(card.labels)].reset_index(drop=True)
    joined = fetch_training_frame(workdir, card.feature_service, entity_df, fetch=fetch)
    ts = build_training_set(joined, card.features, card.labels)
    out = workdir.reports / "evaluation" / f"{card.name}-{card.version}"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for split in ("dev", "test"):
        data = ts.split(split)
        if len(data) == 0:
            continue
        proba = model.predict_matrix(data.x)
        m = evaluate_predictions(
            proba,
            np.asarray(card.labels, dtype=object)[data.y],
            card.labels,
            groups={"source": data.meta["source"], "condition": data.meta["condition"]},
        )
        plot_confusion(
            m["confusion"],
            card.labels,
            out / f"confusion_{split}.png",
            title=f"{card.ref} — {split}",
        )
        (out / f"confusion_{split}.txt").write_text(confusion_table(m["confusion"], card.labels))
        results[split] = m
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    return card, results, out


def _pct(value: Any) -> str:
    return f"{100 * float(value):.1f}" if value is not None else "—"


def _degraded_accuracy(metrics: dict[str, Any]) -> float | None:
    by = metrics.get("by_condition", {})
    n = sum(v["n"] for k, v in by.items() if k != "clean")
    if not n:
        return None
    return sum(v["accuracy"] * v["n"] for k, v in by.items() if k != "clean") / n


def comparison_rows(registry: ModelRegistry) -> list[dict[str, Any]]:
    aliases: dict[str, list[str]] = {}
    for alias, target in registry.global_aliases().items():
        aliases.setdefault(target, []).append(f"@{alias}")
    for name in registry.names():
        for alias, version in registry.model_aliases(name).items():
            tag = f"{name}@{alias}"
            if f"@{alias}" not in aliases.get(f"{name}@{version}", []):
                aliases.setdefault(f"{name}@{version}", []).append(tag)
    rows = []
    for card in registry.cards():
        test = card.metrics.get("test", {})
        rows.append(
            {
                "run": card.wandb_run_id or "—",
                "model": card.ref,
                "kind": card.head if card.kind == "head" else f"{card.kind} ({card.head})",
                "features": card.feature_service or "audio",
                "test_acc": test.get("accuracy"),
                "clean_acc": test.get("by_condition", {}).get("clean", {}).get("accuracy"),
                "degraded_acc": _degraded_accuracy(test) if test else None,
                "macro_f1": test.get("macro_f1"),
                "train_min": (card.training_time_s or 0.0) / 60.0,
                "gflops": card.cost.get("backbone_gflops_per_s"),
                "latency_ms": card.cost.get("head_latency_ms"),
                "aliases": " ".join(sorted(aliases.get(card.ref, []))),
            }
        )
    rows.sort(key=lambda r: -(r["test_acc"] or -1.0))
    return rows


def comparison_table(registry: ModelRegistry) -> str:
    """Plain-text table of every registered model, best test accuracy first."""
    header = [
        "W&B run ID",
        "model",
        "head",
        "features",
        "test acc %",
        "clean %",
        "degraded %",
        "macro-F1 %",
        "train (min)",
        "GFLOPs (1 s)",
        "head ms",
        "aliases",
    ]
    body = [
        [
            r["run"],
            r["model"],
            r["kind"],
            r["features"],
            _pct(r["test_acc"]),
            _pct(r["clean_acc"]),
            _pct(r["degraded_acc"]),
            _pct(r["macro_f1"]),
            f"{r['train_min']:.2f}",
            "—" if r["gflops"] is None else f"{r['gflops']:.3f}",
            "—" if r["latency_ms"] is None else f"{r['latency_ms']:.2f}",
            r["aliases"],
        ]
        for r in comparison_rows(registry)
    ]
    if not body:
        return "no models registered yet (run `nordlid train`)"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    fmt = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in body)])


def metrics_report(card: ModelCard, metrics: dict[str, Any]) -> str:
    """Per-split summary: headline numbers, per-language recall/precision, conditions, sources."""
    lines = [f"{card.ref}  ({card.head} on {card.feature_service}; threshold {card.threshold})"]
    for split, m in metrics.items():
        lines.append(
            f"\n[{split}] n={m['n']}  accuracy {_pct(m['accuracy'])}%  macro-F1 "
            f"{_pct(m['macro_f1'])}%  UAR {_pct(m['uar'])}%  ECE {m['ece']:.3f}"
        )
        lines.append("  language  recall %  precision %  support")
        for lang in card.labels:
            lines.append(
                f"  {lang:<8}  {_pct(m['recall'].get(lang)):>8}  "
                f"{_pct(m['precision'].get(lang)):>11}  {m['support'].get(lang, 0):>7}"
            )
        for group in ("condition", "source"):
            parts = [
                f"{k} {_pct(v['accuracy'])}% (n={v['n']})"
                for k, v in m.get(f"by_{group}", {}).items()
            ]
            if parts:
                lines.append(f"  by {group}: " + ", ".join(parts))
        lines.append("  confusion (rows true, columns predicted):")
        lines.extend(
            "  " + row for row in confusion_table(m["confusion"], card.labels).splitlines()
        )
    return "\n".join(lines)
