"""Evidently drift of feature distributions: pure functions over DataFrames.

``compute_drift(reference, current, config)`` compares two frames whose columns are
feature references (``acoustic__rms_mean``; vectors as lists/arrays) and, optionally, the
prediction columns ``language`` and ``confidence``:

- scalar features → one Evidently ``ValueDrift`` test per column (``DataDriftPreset``),
  the share of drifted columns and the dataset verdict (share ≥ ``drift_share``);
- every vector feature → an embedding drift method over its components, standardised
  with the reference statistics: by default ``classifier``
  (:mod:`monitoring.drift_classifier`: a leave-one-out ridge domain classifier against a
  permutation null, stable on small windows), or Evidently's ``model``, ``mmd``,
  ``ratio`` or ``distance``; short vectors (≤ ``expand_max_length``, e.g. MFCC means) are also
  tested per component, so a report names the drifted coefficient;
- ``language`` → prediction drift (categorical test), ``confidence`` → confidence drift.

Nothing here reads or writes files: loading lives in :mod:`monitoring.data`,
report files in :mod:`monitoring.report`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nordlid.errors import NordlidError
from serving.request_log import SERVING_LOG_FIXED

log = logging.getLogger(__name__)

EmbeddingMethod = Literal["classifier", "model", "mmd", "ratio", "distance"]
# bookkeeping columns of the serving log (its schema lives with its writer) and of the
# manifest / offline-store joins: never features
NON_FEATURE_COLUMNS: frozenset[str] = frozenset(SERVING_LOG_FIXED) | {
    "utterance_id",
    "event_timestamp",
    "found",
    "created_timestamp",
    "split",
    "condition",
    "path",
    "source",
}


class DriftDataError(NordlidError):
    """The reference or current data cannot be compared (missing columns, too few rows)."""


class DriftConfig(BaseModel):
    """Settings of one drift comparison (all optional; defaults follow Evidently)."""

    model_config = ConfigDict(extra="forbid")

    stattest: str | None = Field(
        default=None,
        description="Evidently stattest for scalar columns (None: Evidently's choice).",
    )
    stattest_threshold: float | None = Field(
        default=None, gt=0, description="Per-column threshold."
    )
    drift_share: float = Field(
        default=0.3, gt=0, le=1, description="Dataset drift when this share of columns drifted."
    )
    embedding_method: EmbeddingMethod = Field(
        default="classifier",
        description=(
            "classifier: leave-one-out ridge domain classifier with a permutation null "
            "(stable on small windows); model: Evidently's one-split SGD classifier."
        ),
    )
    embedding_permutations: int = Field(
        default=500, ge=99, description="classifier: label permutations of the null."
    )
    embedding_ridge: float = Field(
        default=1.0, gt=0, description="classifier: ridge strength (relative to the data)."
    )
    embedding_threshold: float | None = Field(
        default=None, description="Threshold of the embedding method (None: its default)."
    )
    embedding_bootstrap: bool | None = Field(
        default=None,
        description=(
            "model: threshold at the random-AUC quantile instead of a fixed AUC "
            "(None: when the reference has < 1000 rows, as Evidently); mmd/distance: bootstrap; "
            "classifier: always its permutation null."
        ),
    )
    embedding_pca_components: int | None = Field(default=None, ge=1)
    embedding_standardize: bool = True
    embedding_quantile: float = Field(
        default=0.99,
        gt=0,
        lt=1,
        description=(
            "Null quantile of the classifier/model methods' AUC (the test's 1 - alpha).  "
            "0.99: a view holds several correlated vectors and any drifted view fires a "
            "trigger, so a per-vector alpha of 0.01 keeps a check's false alarms near 5 %."
        ),
    )
    embedding_drift_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A view's vectors drift when this share of them drifted.",
    )
    embedding_plots: bool = Field(
        default=False, description="Add Evidently's embedding widgets (a t-SNE per vector: slow)."
    )
    expand_max_length: int = Field(
        default=0, ge=0, description="Vectors up to this length are also tested per component."
    )
    max_reference_rows: int = Field(default=5000, ge=10)
    min_rows: int = Field(default=10, ge=2)
    prediction_column: str = "language"
    confidence_column: str = "confidence"
    seed: int = 0


class ColumnDrift(BaseModel):
    column: str
    feature: str  # the feature reference the column comes from (== column for scalars)
    method: str
    score: float
    threshold: float
    drifted: bool


class EmbeddingDrift(BaseModel):
    feature: str
    view: str
    dim: int
    method: str
    score: float
    threshold: float | None
    drifted: bool
    n_reference: int
    n_current: int
    p_value: float | None = None  # classifier method: the permutation p-value


class DriftResult(BaseModel):
    """Everything a person (or a trigger) needs to know about one comparison."""

    n_reference: int
    n_current: int
    columns: list[ColumnDrift]
    n_drifted_columns: int
    drift_share: float
    drift_share_threshold: float
    dataset_drift: bool
    embeddings: list[EmbeddingDrift]
    drifted_views: list[str]
    embedding_drift: bool
    prediction: ColumnDrift | None = None
    confidence: ColumnDrift | None = None
    language_distribution: dict[str, dict[str, float]] = Field(default_factory=dict)
    confidence_mean: dict[str, float] = Field(default_factory=dict)
    # vector features that could not be compared (too few rows with a value): the reason
    not_compared: dict[str, str] = Field(default_factory=dict)

    @property
    def drift_detected(self) -> bool:
        return self.dataset_drift or self.embedding_drift

    @property
    def drifted_features(self) -> list[str]:
        """Feature references with a drifted column or embedding, in report order."""
        out: list[str] = []
        for c in self.columns:
            if c.drifted and c.feature not in out:
                out.append(c.feature)
        for e in self.embeddings:
            if e.drifted and e.feature not in out:
                out.append(e.feature)
        return out

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def verdict(self) -> str:
        """The one-line verdict the CLI prints."""
        head = "DRIFT" if self.drift_detected else "no drift"
        parts = [
            f"{head}: {self.n_drifted_columns}/{len(self.columns)} columns drifted "
            f"({self.drift_share:.0%}, threshold {self.drift_share_threshold:.0%})"
            if self.columns
            else f"{head}: no scalar feature columns (the monitored views are embeddings)"
        ]
        n_emb = sum(e.drifted for e in self.embeddings)
        parts.append(
            f"embedding drift in {', '.join(self.drifted_views)} "
            f"({n_emb}/{len(self.embeddings)} vectors drifted)"
            if self.drifted_views
            else f"no embedding drift ({n_emb}/{len(self.embeddings)} vectors drifted)"
        )
        if self.prediction is not None:
            parts.append(f"prediction drift: {'yes' if self.prediction.drifted else 'no'}")
        if self.confidence is not None:
            parts.append(f"confidence drift: {'yes' if self.confidence.drifted else 'no'}")
        if self.not_compared:
            parts.append(f"not compared (too few rows): {', '.join(self.not_compared)}")
        parts.append(f"{self.n_current} current vs {self.n_reference} reference rows")
        return "; ".join(parts)


@dataclass
class FeatureLayout:
    """Which feature columns are scalars and which are fixed-length vectors."""

    scalars: list[str] = field(default_factory=list)
    vectors: dict[str, int] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [*self.scalars, *self.vectors]


@dataclass
class DriftOutcome:
    """The summary plus Evidently's snapshot (for HTML/JSON rendering)."""

    result: DriftResult
    snapshots: dict[str, Any]  # "features" / "predictions" → evidently Snapshot


def _is_vector_cell(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def feature_layout(frame: pd.DataFrame, features: list[str] | None = None) -> FeatureLayout:
    """Classify the feature columns of ``frame`` (all non-bookkeeping columns by default)."""
    names = (
        features
        if features is not None
        else [c for c in frame.columns if c not in NON_FEATURE_COLUMNS]
    )
    layout = FeatureLayout()
    for name in names:
        if name not in frame.columns:
            raise DriftDataError(f"feature column {name!r} is missing")
        col = frame[name]
        first = next((v for v in col if v is not None and not _is_nan(v)), None)
        if first is None:
            log.warning("feature %s has no values; skipped", name)
            continue
        if _is_vector_cell(first):
            layout.vectors[name] = len(first)
        elif pd.api.types.is_numeric_dtype(col) or isinstance(first, int | float | np.number):
            layout.scalars.append(name)
        else:
            log.debug("column %s is neither numeric nor a vector; skipped", name)
    return layout


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and np.isnan(value)


def vector_matrix(frame: pd.DataFrame, column: str, length: int) -> np.ndarray:
    """(rows, length) float64 matrix; rows without a vector (None/NaN) become NaN rows."""
    out = np.full((len(frame), length), np.nan)
    for i, value in enumerate(frame[column].to_numpy()):
        if value is None or _is_nan(value):
            continue
        arr = np.asarray(value, dtype=np.float64).ravel()
        if arr.shape[0] != length:
            raise DriftDataError(
                f"feature {column!r}: row {i} has a vector of length {arr.shape[0]}, "
                f"expected {length}"
            )
        out[i] = arr
    return out


def component_names(feature: str, length: int) -> list[str]:
    return [f"{feature}[{i}]" for i in range(length)]


def _flat_frame(frame: pd.DataFrame, layout: FeatureLayout, expand: set[str]) -> pd.DataFrame:
    parts: list[pd.DataFrame] = [frame[layout.scalars].astype("float64").reset_index(drop=True)]
    for feature in sorted(expand):
        length = layout.vectors[feature]
        parts.append(
            pd.DataFrame(
                vector_matrix(frame, feature, length), columns=component_names(feature, length)
            )
        )
    return pd.concat(parts, axis=1)


def null_auc_threshold(n_reference: int, n_current: int, quantile: float) -> float:
    """Quantile of a random classifier's ROC AUC on the domain classifier's test half.

    Evidently's ``model`` method with ``bootstrap=True`` estimates this quantile from 100
    random scorings; the Mann-Whitney null distribution gives it directly (mean 0.5,
    variance ``(n1 + n2 + 1) / (12 n1 n2)``), without the 100 ``roc_auc_score`` calls.
    """
    from scipy.stats import norm

    n1 = max(n_reference / 2.0, 1.0)  # Evidently tests on a random half of both sets
    n2 = max(n_current / 2.0, 1.0)
    sd = float(np.sqrt((n1 + n2 + 1.0) / (12.0 * n1 * n2)))
    return float(0.5 + norm.ppf(quantile) * sd)


def _drift_method(config: DriftConfig, n_reference: int, n_current: int) -> Any:
    """Evidently's embedding drift method object for ``config``."""
    from evidently.metrics.embeddings import (
        DistanceDriftMethod,
        MMDDriftMethod,
        ModelDriftMethod,
        RatioDriftMethod,
    )

    if config.embedding_method == "classifier":
        from monitoring.drift_classifier import ClassifierDriftMethod

        return ClassifierDriftMethod(
            ridge=config.embedding_ridge,
            permutations=config.embedding_permutations,
            quantile_probability=config.embedding_quantile,
            seed=config.seed,
        )
    kwargs: dict[str, Any] = {"pca_components": config.embedding_pca_components}
    if config.embedding_threshold is not None:
        kwargs["threshold"] = config.embedding_threshold
    if config.embedding_method == "model":
        bootstrap = config.embedding_bootstrap
        if bootstrap is None:
            bootstrap = n_reference < 1000  # Evidently's own default
        if bootstrap and config.embedding_threshold is None:
            kwargs["threshold"] = null_auc_threshold(
                n_reference, n_current, config.embedding_quantile
            )
        kwargs["bootstrap"] = False
        return ModelDriftMethod(**kwargs)
    if config.embedding_method in ("mmd", "distance"):
        kwargs["bootstrap"] = bool(config.embedding_bootstrap)
    cls = {"mmd": MMDDriftMethod, "ratio": RatioDriftMethod, "distance": DistanceDriftMethod}[
        config.embedding_method
    ]
    return cls(**kwargs)


def _embedding_frames(
    reference: pd.DataFrame, current: pd.DataFrame, feature: str, length: int, standardize: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = vector_matrix(reference, feature, length)
    cur = vector_matrix(current, feature, length)
    ref = ref[~np.isnan(ref).any(axis=1)]
    cur = cur[~np.isnan(cur).any(axis=1)]
    if standardize and len(ref):
        mu = ref.mean(axis=0)
        sd = ref.std(axis=0)
        sd[sd < 1e-12] = 1.0
        ref = (ref - mu) / sd
        cur = (cur - mu) / sd
    names = [f"c{i}" for i in range(length)]
    return pd.DataFrame(ref, columns=names), pd.DataFrame(cur, columns=names)


def embedding_drift(
    reference: pd.DataFrame, current: pd.DataFrame, feature: str, length: int, config: DriftConfig
) -> EmbeddingDrift:
    """Evidently's embedding drift method on one vector feature."""
    ref, cur = _embedding_frames(reference, current, feature, length, config.embedding_standardize)
    if len(ref) < config.min_rows or len(cur) < config.min_rows:
        raise DriftDataError(
            f"feature {feature!r}: {len(ref)} reference and {len(cur)} current vectors; "
            f"need at least {config.min_rows} of each"
        )
    from monitoring.drift_classifier import ClassifierDriftMethod

    method = _drift_method(config, len(ref), len(cur))
    p_value: float | None = None
    if isinstance(method, ClassifierDriftMethod):  # its null quantile and p-value
        test = method.test(cur, ref)
        score, drifted, name = test.score, test.drifted, "classifier"
        threshold: float | None = test.threshold
        p_value = test.p_value
    else:
        score, drifted, name = method(cur.copy(), ref.copy())
        threshold = None if getattr(method, "bootstrap", False) else float(method.threshold)
    return EmbeddingDrift(
        feature=feature,
        view=feature.partition("__")[0],
        dim=length,
        method=str(name) + (" (bootstrap)" if getattr(method, "bootstrap", False) else ""),
        score=float(score),
        threshold=threshold,
        drifted=bool(drifted),
        n_reference=len(ref),
        n_current=len(cur),
        p_value=p_value,
    )


def _distribution(series: pd.Series) -> dict[str, float]:
    counts = series.dropna().astype(str).value_counts(normalize=True).sort_index()
    return {str(k): float(v) for k, v in counts.items()}


def _subsample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(frame) <= n:
        return frame.reset_index(drop=True)
    return frame.sample(n=n, random_state=seed).reset_index(drop=True)


def _run_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    metrics: list[Any],
    *,
    numerical: list[str],
    categorical: list[str],
    embeddings: dict[str, list[str]] | None = None,
) -> Any:
    from evidently import DataDefinition, Dataset, Report

    definition = DataDefinition(
        numerical_columns=numerical or None,
        categorical_columns=categorical or None,
        embeddings=embeddings or None,
    )
    report = Report(metrics, include_tests=True)
    return report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )


def _feature_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    layout: FeatureLayout,
    config: DriftConfig,
) -> tuple[Any, list[ColumnDrift]]:
    """Evidently's DataDriftPreset over scalar (and expanded) columns; per-column tests."""
    from evidently.metrics import EmbeddingsDrift
    from evidently.presets import DataDriftPreset

    expand = {f for f, n in layout.vectors.items() if n <= config.expand_max_length}
    ref_flat = _flat_frame(reference, layout, expand)
    cur_flat = _flat_frame(current, layout, expand)
    columns = list(ref_flat.columns)
    feature_of = {c: c for c in layout.scalars}
    for f in expand:
        feature_of.update({c: f for c in component_names(f, layout.vectors[f])})
    embeddings_map: dict[str, list[str]] = {}
    if config.embedding_plots:
        for f, n in layout.vectors.items():
            names = [f"{f}<{i}>" for i in range(n)]
            ref_flat = pd.concat(
                [ref_flat, pd.DataFrame(vector_matrix(reference, f, n), columns=names)], axis=1
            )
            cur_flat = pd.concat(
                [cur_flat, pd.DataFrame(vector_matrix(current, f, n), columns=names)], axis=1
            )
            embeddings_map[f] = names
    metrics: list[Any] = []
    if columns:
        metrics.append(
            DataDriftPreset(
                columns=columns,
                drift_share=config.drift_share,
                method=config.stattest,
                threshold=config.stattest_threshold,
            )
        )
    for f in embeddings_map:
        metrics.append(
            EmbeddingsDrift(
                embeddings_name=f,
                drift_method=_drift_method(config, len(reference), len(current)),
            )
        )
    if not metrics:
        return None, []
    snapshot = _run_report(
        ref_flat, cur_flat, metrics, numerical=columns, categorical=[], embeddings=embeddings_map
    )
    value_drifts = _value_drifts(snapshot.dict())
    results = [_column_drift(value_drifts, c, feature_of[c]) for c in columns if c in value_drifts]
    return snapshot, results


def _prediction_report(
    reference: pd.DataFrame, current: pd.DataFrame, config: DriftConfig
) -> tuple[Any, ColumnDrift | None, ColumnDrift | None]:
    """Prediction drift (language, categorical) and confidence drift (numerical)."""
    from evidently.metrics import ValueDrift

    pred, conf = config.prediction_column, config.confidence_column
    has_pred = pred in reference.columns and pred in current.columns
    has_conf = conf in reference.columns and conf in current.columns
    if not (has_pred or has_conf):
        return None, None, None
    ref = pd.DataFrame(index=range(len(reference)))
    cur = pd.DataFrame(index=range(len(current)))
    metrics: list[Any] = []
    if has_pred:
        ref[pred] = reference[pred].astype(str).to_numpy()
        cur[pred] = current[pred].astype(str).to_numpy()
        metrics.append(ValueDrift(column=pred))
    if has_conf:
        ref[conf] = reference[conf].astype("float64").to_numpy()
        cur[conf] = current[conf].astype("float64").to_numpy()
        metrics.append(
            ValueDrift(column=conf, method=config.stattest, threshold=config.stattest_threshold)
        )
    snapshot = _run_report(
        ref,
        cur,
        metrics,
        numerical=[conf] if has_conf else [],
        categorical=[pred] if has_pred else [],
    )
    value_drifts = _value_drifts(snapshot.dict())
    return (
        snapshot,
        _column_drift(value_drifts, pred, pred) if has_pred else None,
        _column_drift(value_drifts, conf, conf) if has_conf else None,
    )


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig | None = None,
    *,
    features: list[str] | None = None,
    prediction_reference: pd.DataFrame | None = None,
) -> DriftOutcome:
    """Compare ``current`` against ``reference`` over ``features`` (default: shared columns).

    Predictions (``language``, ``confidence``) are compared against
    ``prediction_reference`` when given (e.g. the model's predictions on its dev split: its
    predictions on its own training rows would be over-confident), else ``reference``.
    """
    config = config or DriftConfig()
    features = _checked_features(reference, current, config, features)
    reference = _subsample(reference, config.max_reference_rows, config.seed)
    current = current.reset_index(drop=True)
    layout = feature_layout(reference, features)
    if not layout.features:
        raise DriftDataError("no numeric or vector feature columns to compare")
    log.info(
        "drift: %d scalar features, %d vectors, %d reference vs %d current rows",
        len(layout.scalars),
        len(layout.vectors),
        len(reference),
        len(current),
    )
    feature_snapshot, column_results = _feature_report(reference, current, layout, config)
    pred_ref = reference if prediction_reference is None else prediction_reference
    pred_snapshot, prediction, confidence = _prediction_report(pred_ref, current, config)
    embedding_results, not_compared = _embedding_results(reference, current, layout, config)
    n_drifted = sum(c.drifted for c in column_results)
    share = n_drifted / len(column_results) if column_results else 0.0
    drifted_views = _drifted_views(embedding_results, config.embedding_drift_share)
    result = DriftResult(
        n_reference=len(reference),
        n_current=len(current),
        columns=column_results,
        n_drifted_columns=n_drifted,
        drift_share=share,
        drift_share_threshold=config.drift_share,
        dataset_drift=bool(column_results) and share >= config.drift_share,
        embeddings=embedding_results,
        drifted_views=drifted_views,
        embedding_drift=bool(drifted_views),
        prediction=prediction,
        confidence=confidence,
        **_prediction_summaries(pred_ref, current, config, prediction, confidence),
        not_compared=not_compared,
    )
    log.info("%s", result.verdict())
    snapshots = {"features": feature_snapshot, "predictions": pred_snapshot}
    return DriftOutcome(result=result, snapshots={k: v for k, v in snapshots.items() if v})


def _embedding_results(
    reference: pd.DataFrame, current: pd.DataFrame, layout: FeatureLayout, config: DriftConfig
) -> tuple[list[EmbeddingDrift], dict[str, str]]:
    """Every vector feature's test; one with too few rows on a side is reported as not
    compared (e.g. premium's embedding when few requests escalated), not a failed check."""
    results: list[EmbeddingDrift] = []
    not_compared: dict[str, str] = {}
    for feature, length in layout.vectors.items():
        try:
            results.append(embedding_drift(reference, current, feature, length, config))
        except DriftDataError as exc:
            log.warning("drift: %s not compared: %s", feature, exc)
            not_compared[feature] = str(exc)
    return results, not_compared


def _checked_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig,
    features: list[str] | None,
) -> list[str]:
    """The features to compare (default: the shared non-bookkeeping columns), checked."""
    for name, frame in (("reference", reference), ("current data", current)):
        if len(frame) < config.min_rows:
            raise DriftDataError(f"{name} has {len(frame)} rows; need at least {config.min_rows}")
    if features is None:
        features = [
            c for c in reference.columns if c in current.columns and c not in NON_FEATURE_COLUMNS
        ]
    missing = [f for f in features if f not in current.columns]
    if missing:
        raise DriftDataError(f"current data lacks feature columns: {', '.join(missing)}")
    return features


def _prediction_summaries(
    pred_ref: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig,
    prediction: ColumnDrift | None,
    confidence: ColumnDrift | None,
) -> dict[str, dict[str, Any]]:
    """Language distribution and mean confidence on both sides, where those columns exist."""
    pred, conf = config.prediction_column, config.confidence_column
    out: dict[str, dict[str, Any]] = {}
    if prediction is not None:
        out["language_distribution"] = {
            "reference": _distribution(pred_ref[pred]),
            "current": _distribution(current[pred]),
        }
    if confidence is not None:
        out["confidence_mean"] = {
            "reference": float(pred_ref[conf].astype(float).mean()),
            "current": float(current[conf].astype(float).mean()),
        }
    return out


def _drifted_views(results: list[EmbeddingDrift], share: float) -> list[str]:
    """Views whose share of drifted vectors reaches ``share`` (one vector: that vector)."""
    views: dict[str, list[bool]] = {}
    for e in results:
        views.setdefault(e.view, []).append(e.drifted)
    return [v for v, flags in views.items() if sum(flags) / len(flags) >= share]


def _value_drifts(snapshot_dict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """column → {score, method, threshold, drifted} from Evidently's metrics and tests."""
    by_id: dict[str, dict[str, Any]] = {}
    for m in snapshot_dict.get("metrics", []):
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith(":ValueDrift"):
            by_id[m["id"]] = {
                "column": cfg["column"],
                "score": float(m["value"]),
                "method": str(cfg.get("method")),
                "threshold": float(cfg.get("threshold")),
                "drifted": None,
            }
    for t in snapshot_dict.get("tests", []):
        mc = t.get("metric_config", {})
        entry = by_id.get(mc.get("metric_id", ""))
        if entry is not None:
            entry["drifted"] = t.get("status") == "FAIL"
    out: dict[str, dict[str, Any]] = {}
    for entry in by_id.values():
        if entry["drifted"] is None:
            raise RuntimeError(f"Evidently returned no drift test for column {entry['column']!r}")
        out[entry["column"]] = entry
    return out


def _column_drift(
    value_drifts: dict[str, dict[str, Any]], column: str, feature: str
) -> ColumnDrift:
    v = value_drifts[column]
    return ColumnDrift(
        column=column,
        feature=feature,
        method=v["method"],
        score=v["score"],
        threshold=v["threshold"],
        drifted=v["drifted"],
    )
