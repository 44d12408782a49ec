"""`train_model`: one head on one feature service, from the offline store to the registry.

Steps: entity frame (validated manifest, or the caller's window) → Feast point-in-time
join → per-split matrices → head fitted on train, selected on dev macro-F1 → metrics on
dev and test (with per-source and per-condition breakdowns, confusion PNGs) → cost →
model card + weights in ``models/<name>/<version>/`` → W&B run with the model artifact
(the registering half is :func:`training.publish.publish`, shared with the backbone).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nordlid import LANGUAGES
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir
from training.calibration import apply_temperature, fit_temperature
from training.dataset import (
    HistoricalFetch,
    SplitData,
    TrainingDataError,
    TrainingSet,
    build_training_set,
    fetch_training_frame,
    load_entity_frame,
)
from training.features import FeatureRef, groups
from training.heads import (
    FitReport,
    Head,
    HeadConfigBase,
    LogRegConfig,
    config_for_kind,
    fit_head,
)
from training.metrics import confusion_table, evaluate_predictions, plot_confusion
from training.publish import Evaluation, ModelVersion, publish

log = logging.getLogger(__name__)


def service_features(
    workdir: Workdir, service: str
) -> tuple[list[FeatureRef], dict[str, str], dict[str, str]]:
    """Feature refs (card order), view → extractor version and view → checkpoint identity
    (backbone views only) of a Feast feature service.

    The service is resolved from the same definitions ``nordlid features apply`` registers
    (derived from the extractor registry), so lengths come from the extractor specs.
    """
    from extractors import registry
    from feature_repo.definitions import build_definitions

    specs = registry.all_specs()
    defs = build_definitions(workdir, specs)
    fs = defs.services.get(service)
    if fs is None:
        raise ConfigError(
            f"--feature-service {service!r} is not defined; "
            f"known: {', '.join(sorted(defs.services))}"
        )
    refs: list[FeatureRef] = []
    versions: dict[str, str] = {}
    checkpoints: dict[str, str] = {}
    for projection in fs.feature_view_projections:
        view = projection.name
        spec = defs.specs.get(view)
        if spec is None:
            continue  # the labels view: labels come from the entity frame
        versions[view] = spec.version
        if spec.needs_weights and spec.checkpoint:
            checkpoints[view] = spec.checkpoint
        for fld in projection.features:
            col = spec.column(fld.name)
            if col.dtype == "string":
                continue
            refs.append(FeatureRef(ref=f"{view}__{col.name}", length=col.length))
    if not refs:
        raise ConfigError(f"feature service {service!r} has no numeric features")
    return refs, versions, checkpoints


def _labels(entity_df: pd.DataFrame) -> list[str]:
    present = set(entity_df["language"].astype(str))
    unknown = sorted(present - set(LANGUAGES))
    if unknown:
        raise TrainingDataError(f"entity frame has languages {unknown} outside {list(LANGUAGES)}")
    return [lang for lang in LANGUAGES if lang in present]


def _dev_or_holdout(ts: TrainingSet, seed: int) -> tuple[SplitData, SplitData]:
    """Train and dev; without a dev split, a stratified 15% of train stands in (logged)."""
    train, dev = ts.split("train"), ts.split("dev")
    if len(dev) > 0:
        return train, dev
    log.warning("no dev rows: holding out 15%% of train for model selection")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(train), dtype=bool)
    for c in np.unique(train.y):
        idx = np.flatnonzero(train.y == c)
        rng.shuffle(idx)
        held[idx[: max(1, int(round(0.15 * len(idx))))]] = True
    pick = lambda m: SplitData(train.x[m], train.y[m], train.meta[m].reset_index(drop=True))  # noqa: E731
    return pick(~held), pick(held)


def evaluate_head(
    head: Head,
    ts: TrainingSet,
    out_dir: Path | None,
    *,
    title: str,
    temperature: float | None = None,
) -> dict[str, Any]:
    """Metrics on dev and test (empty splits skipped); confusion PNG + table per split.
    ``temperature`` calibrates the head's probabilities as the registered model will."""
    results: dict[str, Any] = {}
    for split in ("dev", "test"):
        data = ts.split(split)
        if len(data) == 0:
            continue
        proba = apply_temperature(head.predict_proba(data.x), temperature)
        y_true = np.asarray(ts.labels, dtype=object)[data.y]
        m = evaluate_predictions(
            proba,
            y_true,
            ts.labels,
            groups={"source": data.meta["source"], "condition": data.meta["condition"]},
        )
        if out_dir is not None:
            plot_confusion(
                m["confusion"],
                ts.labels,
                out_dir / f"confusion_{split}.png",
                title=f"{title} — {split}",
            )
            (out_dir / f"confusion_{split}.txt").write_text(
                confusion_table(m["confusion"], ts.labels) + "\n"
            )
        results[split] = m
    return results


def train_model(
    workdir: Workdir,
    feature_service: str,
    head: str = "logreg",
    name: str | None = None,
    *,
    entity_df: pd.DataFrame | None = None,
    config: HeadConfigBase | None = None,
    aliases: tuple[str, ...] = (),
    recipe: str | None = None,
    features: list[FeatureRef] | None = None,
    feature_views: dict[str, str] | None = None,
    fetch: HistoricalFetch | None = None,
    track: bool = True,
    count_cost: bool = True,
) -> ModelVersion:
    """Train, evaluate, register (and track) one head; returns the new version.

    ``config`` may be of another kind than ``head``: the settings both kinds have (seed,
    class weighting) carry over.  ``features`` / ``feature_views`` override the service's
    (a retrain reuses its champion's)."""
    config = config_for_kind(config or LogRegConfig(), head)
    name = name or f"{feature_service}-{head}".replace("_", "-")
    features, views, checkpoints = _resolve_features(
        workdir, feature_service, features, feature_views
    )
    if entity_df is None:
        entity_df = load_entity_frame(workdir)
    labels = _labels(entity_df)
    joined = fetch_training_frame(workdir, feature_service, entity_df, fetch=fetch)
    ts = build_training_set(joined, features, labels)
    train, dev = _dev_or_holdout(ts, config.seed)
    log.info(
        "training %s (%s) on %s: %d train / %d dev / %d test rows, %d dims",
        name,
        head,
        feature_service,
        len(train),
        len(dev),
        len(ts.split("test")),
        train.x.shape[1],
    )
    start = time.perf_counter()
    fitted, report = fit_head(train.x, train.y, dev.x, dev.y, labels, config, groups(features))
    training_time = time.perf_counter() - start
    temperature = fit_temperature(fitted.predict_proba(dev.x), dev.y)

    def cost() -> dict[str, float]:
        return _head_cost(workdir, fitted, train.x[0], list(views)) if count_cost else {}

    mv = publish(
        workdir,
        name,
        save=fitted.save_pretrained,
        evaluate=lambda path, ref: _evaluate_into(fitted, ts, path, ref, temperature),
        cost=cost,
        card={
            "head": head,
            "feature_service": feature_service,
            "features": features,
            "feature_views": views,
            "feature_checkpoints": checkpoints,
            "labels": labels,
            "temperature": temperature,
            "training_time_s": training_time,
            "recipe": recipe,
            "hyperparameters": _hyperparameters(config, report, ts, len(train), len(dev)),
        },
        track=track,
        aliases=aliases,
    )
    metrics = mv.card.metrics
    log.info(
        "%s: dev macro-F1 %.4f, test accuracy %s (%.1f s)",
        mv.ref,
        report.dev_macro_f1,
        f"{metrics['test']['accuracy']:.4f}" if "test" in metrics else "n/a",
        training_time,
    )
    return mv


def _hyperparameters(
    config: HeadConfigBase, report: FitReport, ts: TrainingSet, n_train: int, n_dev: int
) -> dict[str, Any]:
    """The card's hyper-parameters: the config, what fitting chose and the split sizes."""
    return {
        **config.model_dump(),
        **{f"chosen_{k}": v for k, v in report.chosen.items()},
        "n_train": n_train,
        "n_dev": n_dev,
        "n_test": len(ts.split("test")),
        "rows_without_features": ts.dropped,
    }


def _resolve_features(
    workdir: Workdir,
    feature_service: str,
    features: list[FeatureRef] | None,
    feature_views: dict[str, str] | None,
) -> tuple[list[FeatureRef], dict[str, str], dict[str, str]]:
    """The service's features, views and checkpoints, unless the caller gives features."""
    if features is None:
        return service_features(workdir, feature_service)
    return features, feature_views or {}, {}


def _evaluate_into(
    head: Head, ts: TrainingSet, path: Path, ref: str, temperature: float | None
) -> Evaluation:
    metrics = evaluate_head(head, ts, path, title=ref, temperature=temperature)
    return Evaluation(metrics, [p.name for p in path.glob("confusion_*")])


def _head_cost(workdir: Workdir, head: Head, row: np.ndarray, views: list[str]) -> dict[str, float]:
    from training.cost import head_latency_ms

    return {
        "head_latency_ms": head_latency_ms(head.predict_proba, row),
        **backbone_cost(workdir, views),
    }


def backbone_cost(workdir: Workdir, views: list[str]) -> dict[str, float]:
    """Sum of backbone GFLOPs per second of audio over the model's views."""
    from extractors import registry
    from training.cost import extractor_gflops_per_second

    by_view = {s.view_name: s.name for s in registry.all_specs()}
    total = 0.0
    counted = True
    for view in views:
        gflops = extractor_gflops_per_second(by_view.get(view, view))
        if gflops is None:
            counted = False
            continue
        total += gflops
    return {"backbone_gflops_per_s": total} if counted else {}
