"""Continuous training: triggers → sliding window → validation gates → candidate → promotion.

1. **Triggers** (``monitoring.triggers``): drift share, embedding drift, live
   accuracy drop, schedule — each records why it fired.  Nothing fired and no ``force``:
   the run stops there (and says so in its report).
2. **Sliding window** over all labelled utterances (``data/manifest.parquet``): the most
   recent ``max_utterances`` train rows (no older than ``max_days`` before the newest) —
   newer data replaces the oldest — and the most recent ``dev_utterances`` dev rows, on
   which champion and candidate are compared.
3. **Validation gates** on the window (``validation.gates.run_validation``): quarantined
   rows leave the window with their reasons; a language with fewer than
   ``min_per_language`` train rows left stops the run (balance check).
4. **Features** for the window's new rows (the extraction job skips rows already done).
5. **Candidate**: ``training.train.train_model(..., entity_df=window)`` with the
   champion's feature service and head; it is recorded with its training window
   (``train_entities.parquet``, the drift reference of that version).
6. **Promotion gate**: champion and candidate are evaluated on the same window dev rows
   (stored on both cards as ``metrics["window_dev"]``) and
   ``ModelRegistry.promote(candidate, alias, gate)`` decides.  The alias moves only when
   the candidate wins; serving picks it up on ``POST /v1/models/reload``.
7. **Report**: ``reports/retrain/<timestamp>/retrain.json`` + ``index.html`` and a W&B run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from monitoring.data import TRAIN_ENTITIES_FILE
from monitoring.drift import DriftConfig, DriftResult
from monitoring.feedback import LiveAccuracy
from monitoring.triggers import TriggerConfig, TriggerFiring, evaluate_triggers
from nordlid.errors import NordlidError
from nordlid.workdir import Workdir
from training.dataset import HistoricalFetch, feast_fetch
from training.registry import GateConfig, ModelCard, ModelRegistry

log = logging.getLogger(__name__)

GATE_SPLIT = "window_dev"

# (window manifest rows, workdir) → (accepted rows, quarantined rows with a "reasons" column)
ValidateFn = Callable[[pd.DataFrame, Workdir], tuple[pd.DataFrame, pd.DataFrame]]
# (workdir, accepted window rows, feature views) → None; features exist afterwards
PrepareFn = Callable[[Workdir, pd.DataFrame, list[str]], None]


class RetrainError(NordlidError):
    """Continuous training cannot go on (no champion, an unbalanced window, ...)."""


class WindowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_utterances: int | None = Field(default=2000, ge=1, description="most recent train rows")
    max_days: float | None = Field(default=None, gt=0, description="train rows this recent")
    dev_utterances: int | None = Field(default=500, ge=1, description="most recent dev rows")
    min_per_language: int = Field(default=3, ge=1)


class RetrainConfig(BaseModel):
    """Everything `nordlid retrain` can be told (JSON file or options)."""

    model_config = ConfigDict(extra="forbid")

    triggers: TriggerConfig = Field(default_factory=TriggerConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    alias: str = "production"
    head: str | None = None
    name: str | None = None
    validate_window: bool = True
    track: bool = True
    reload_url: str | None = Field(
        default=None,
        description="Serving base URL: POST /v1/models/reload after a promotion (no restart).",
    )


@dataclass
class Window:
    train: pd.DataFrame
    dev: pd.DataFrame
    n_labelled: int
    left_out_old: int

    @property
    def entities(self) -> pd.DataFrame:
        return pd.concat([self.train, self.dev], ignore_index=True)


class RetrainOutcome(BaseModel):
    triggered: bool
    triggers: list[TriggerFiring]
    forced: bool = False
    champion: str | None = None
    candidate: str | None = None
    promoted: bool = False
    reasons: list[str] = Field(default_factory=list)
    candidate_metrics: dict[str, Any] | None = None
    champion_metrics: dict[str, Any] | None = None
    window: dict[str, Any] = Field(default_factory=dict)
    quarantined: list[dict[str, Any]] = Field(default_factory=list)
    report_dir: str | None = None
    wandb_run_id: str | None = None
    serving_reload: str | None = None

    def summary(self) -> str:
        if not self.triggered and not self.forced:
            return "no trigger fired: champion kept, nothing retrained"
        why = "; ".join(t.reason for t in self.triggers) or "forced"
        if self.candidate is None:
            return f"retraining stopped ({why})"
        c_f1 = (self.candidate_metrics or {}).get("macro_f1", float("nan"))
        h_f1 = (self.champion_metrics or {}).get("macro_f1", float("nan"))
        verdict = "PROMOTED" if self.promoted else "REJECTED (champion kept)"
        return (
            f"{verdict}: candidate {self.candidate} macro-F1 {c_f1:.3f} "
            f"vs champion {self.champion} {h_f1:.3f} on "
            f"{self.window.get('dev_rows', 0)} window dev rows — triggers: {why}"
        )


# ----------------------------------------------------------------------------- window
def sliding_window(labelled: pd.DataFrame, config: WindowConfig) -> Window:
    """The most recent train/dev rows of the labelled pool (newest replace the oldest)."""
    for col in ("utterance_id", "event_timestamp", "language", "split"):
        if col not in labelled.columns:
            raise RetrainError(f"labelled data lacks column {col!r}")
    frame = labelled.copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame = frame.sort_values(["event_timestamp", "utterance_id"], kind="stable")
    train = frame[frame["split"] == "train"]
    dev = frame[frame["split"] == "dev"]
    before = len(train)
    if config.max_days is not None and len(train):
        cutoff = train["event_timestamp"].max() - timedelta(days=config.max_days)
        train = train[train["event_timestamp"] >= cutoff]
    if config.max_utterances is not None:
        train = train.tail(config.max_utterances)
    if config.dev_utterances is not None:
        dev = dev.tail(config.dev_utterances)
    return Window(
        train=train.reset_index(drop=True),
        dev=dev.reset_index(drop=True),
        n_labelled=len(frame),
        left_out_old=before - len(train),
    )


def check_balance(window: Window, labels: list[str], min_per_language: int) -> None:
    counts = window.train["language"].astype(str).value_counts()
    short = {
        lang: int(counts.get(lang, 0)) for lang in labels if counts.get(lang, 0) < min_per_language
    }
    if short:
        raise RetrainError(
            f"the training window is unbalanced: {short} train rows "
            f"(need at least {min_per_language} per language); widen the window"
        )
    if window.dev.empty:
        raise RetrainError("the window has no dev rows to compare champion and candidate on")


# ----------------------------------------------------------------------------- stages
def default_validate(
    window_rows: pd.DataFrame, workdir: Workdir
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``validation.gates.run_validation`` on the window rows, under its own label.

    The label keeps the window's validated manifest, quarantine and report apart from the
    corpus's (``data/validated/<label>/``, ``data/quarantine/<label>.parquet``).
    """
    from validation.gates import run_validation

    label = "retrain-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    result = run_validation(window_rows.reset_index(drop=True), workdir, label=label)
    log.info(
        "validation gates on the window: %d kept, %d quarantined (%s)",
        result.n_kept,
        result.n_quarantined,
        ", ".join(f"{k}: {v}" for k, v in sorted(result.reason_counts.items())) or "no reasons",
    )
    return result.kept, result.quarantined


def default_prepare(workdir: Workdir, window_rows: pd.DataFrame, views: list[str]) -> None:
    """Extract the window's missing features and register the views (skips done rows)."""
    from extractors import registry
    from extractors.engine import run_extraction
    from feature_repo.store import apply

    names = {s.view_name: s.name for s in registry.all_specs()}
    run_extraction(workdir, [names.get(v, v) for v in views], manifest=window_rows)
    apply(workdir)


def _fetch(fetch: HistoricalFetch | None) -> HistoricalFetch:
    return fetch if fetch is not None else feast_fetch


def evaluate_model(
    workdir: Workdir, model_ref: str, entities: pd.DataFrame, fetch: HistoricalFetch | None = None
) -> dict[str, Any]:
    """Metrics of a registered head on ``entities`` (features from the offline store)."""
    from training.metrics import evaluate_predictions

    model = ModelRegistry(workdir.models).load(model_ref)
    service = model.card.feature_service or ""
    joined = _fetch(fetch)(workdir, service, entities.reset_index(drop=True))
    refs = [f.ref for f in model.card.features]
    joined = joined.dropna(subset=refs).reset_index(drop=True)
    if joined.empty:
        raise RetrainError(f"{model.card.ref}: no window dev rows have its features")
    proba = model.predict_proba(joined)
    labels = list(model.card.labels)
    truth = joined["language"].astype(str).to_numpy()
    known = np.isin(truth, labels)
    metrics = evaluate_predictions(proba[known], truth[known], labels)
    metrics["n_unknown_language"] = int((~known).sum())
    return metrics


def _record_metrics(registry: ModelRegistry, ref: str, metrics: dict[str, Any]) -> None:
    name, version = registry.resolve(ref)
    card = registry.card(name, version)
    card.metrics[GATE_SPLIT] = metrics
    registry.write_card(card)


def _entity_columns(rows: pd.DataFrame) -> pd.DataFrame:
    from training.dataset import entity_frame

    return entity_frame(rows)


# ----------------------------------------------------------------------------- the loop
@dataclass
class RetrainInputs:
    """Evidence and data for one retraining decision (all optional)."""

    drift: DriftResult | None = None
    live: LiveAccuracy | None = None
    labelled: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def retrain(
    workdir: Workdir,
    config: RetrainConfig | None = None,
    inputs: RetrainInputs | None = None,
    *,
    force: bool = False,
    now: datetime | None = None,
    validate: ValidateFn | None = None,
    prepare: PrepareFn | None = None,
    fetch: HistoricalFetch | None = None,
) -> RetrainOutcome:
    """One pass of the continuous-training loop; always writes a report."""
    config = config or RetrainConfig()
    inputs = inputs or RetrainInputs()
    now = now or datetime.now(UTC)
    registry = ModelRegistry(workdir.models)
    champion = registry.load_card(f"@{config.alias}")
    fired = evaluate_triggers(
        config.triggers,
        drift=inputs.drift,
        live=inputs.live,
        champion_dev=champion.metrics.get("dev"),
        champion_created_at=datetime.fromisoformat(champion.created_at),
        now=now,
    )
    outcome = RetrainOutcome(
        triggered=bool(fired), triggers=fired, forced=force, champion=champion.ref
    )
    for t in fired:
        log.info("trigger %s fired: %s", t.trigger, t.reason)
    if not fired and not force:
        return _finish(workdir, outcome, config, now)

    window = _accepted_window(workdir, config, inputs, validate, outcome)
    check_balance(window, list(champion.labels), config.window.min_per_language)
    outcome.window = _window_summary(window)
    views = list(dict.fromkeys(f.view for f in champion.features))
    if prepare is not None:
        prepare(workdir, window.entities, views)
    elif fetch is None:
        default_prepare(workdir, window.entities, views)
    candidate_ref, entities = _train_candidate(workdir, config, champion, window, fetch)
    outcome.candidate = candidate_ref
    _gate_candidate(workdir, config, champion.ref, candidate_ref, entities, fetch, outcome)
    return _finish(workdir, outcome, config, now)


def _accepted_window(
    workdir: Workdir,
    config: RetrainConfig,
    inputs: RetrainInputs,
    validate: ValidateFn | None,
    outcome: RetrainOutcome,
) -> Window:
    """The sliding window of labelled rows, less what validation quarantines (recorded)."""
    labelled = inputs.labelled if inputs.labelled is not None else _labelled_pool(workdir)
    window = sliding_window(labelled, config.window)
    if not config.validate_window:
        return window
    accepted, quarantined = (validate or default_validate)(window.entities, workdir)
    outcome.quarantined = _quarantine_records(quarantined)
    keep = set(accepted["utterance_id"].astype(str))
    return Window(
        train=window.train[window.train["utterance_id"].astype(str).isin(keep)],
        dev=window.dev[window.dev["utterance_id"].astype(str).isin(keep)],
        n_labelled=window.n_labelled,
        left_out_old=window.left_out_old,
    )


def _train_candidate(
    workdir: Workdir,
    config: RetrainConfig,
    champion: ModelCard,
    window: Window,
    fetch: HistoricalFetch | None,
) -> tuple[str, pd.DataFrame]:
    """Train the champion's recipe on the window; record its entities (drift reference)."""
    from training.train import train_model

    entities = _entity_columns(window.entities)
    candidate = train_model(
        workdir,
        champion.feature_service or "",
        config.head or champion.head or "logreg",
        config.name or champion.name,
        entity_df=entities,
        features=list(champion.features),
        feature_views=dict(champion.feature_views),
        fetch=fetch,
        track=config.track,
        count_cost=False,
    )
    entities.to_parquet(candidate.path / TRAIN_ENTITIES_FILE, index=False)
    return candidate.ref, entities


def _gate_candidate(
    workdir: Workdir,
    config: RetrainConfig,
    champion_ref: str,
    candidate_ref: str,
    entities: pd.DataFrame,
    fetch: HistoricalFetch | None,
    outcome: RetrainOutcome,
) -> None:
    """Both models on the window's dev rows; promote through the gate; reload serving."""
    registry = ModelRegistry(workdir.models)
    dev_entities = entities[entities["split"] == "dev"]
    _record_metrics(
        registry, champion_ref, evaluate_model(workdir, champion_ref, dev_entities, fetch)
    )
    _record_metrics(
        registry, candidate_ref, evaluate_model(workdir, candidate_ref, dev_entities, fetch)
    )
    gate = config.gate.model_copy(update={"split": GATE_SPLIT})
    decision = registry.promote(candidate_ref, alias=config.alias, gate=gate)
    outcome.promoted = decision.promoted
    outcome.reasons = list(decision.reasons)
    outcome.candidate_metrics = decision.candidate_metrics
    outcome.champion_metrics = decision.champion_metrics
    if decision.promoted and config.reload_url:
        outcome.serving_reload = reload_serving(config.reload_url)


def reload_serving(base_url: str, timeout_s: float = 30.0) -> str:
    """Ask a running service to reload its models (it resolves the moved alias)."""
    import os

    import httpx

    url = base_url.rstrip("/") + "/v1/models/reload"
    headers = {}
    key = os.environ.get("NORDLID_API_KEY")
    if key:
        headers["X-API-Key"] = key
    try:
        response = httpx.post(url, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        log.warning("could not reach %s: %s (serving keeps the old model until reloaded)", url, exc)
        return f"failed: {exc}"
    if response.status_code != 200:
        log.warning("%s answered %d: %s", url, response.status_code, response.text[:200])
        return f"failed: HTTP {response.status_code}"
    log.info("serving reloaded its models via %s", url)
    return "reloaded"


def _labelled_pool(workdir: Workdir) -> pd.DataFrame:
    from corpus.manifest import read_manifest

    path = workdir.manifest
    if not path.exists():
        raise RetrainError(f"{path}: no labelled data (run `nordlid corpus synth|ingest`)")
    return read_manifest(path)


def _quarantine_records(quarantined: pd.DataFrame) -> list[dict[str, Any]]:
    if quarantined.empty:
        return []
    cols = [
        c
        for c in ("utterance_id", "path", "language", "split", "reasons", "details")
        if c in quarantined
    ]
    return json.loads(quarantined[cols].to_json(orient="records", default_handler=str))


def _window_summary(window: Window) -> dict[str, Any]:
    def span(frame: pd.DataFrame) -> list[str]:
        if frame.empty:
            return []
        ts = pd.to_datetime(frame["event_timestamp"], utc=True)
        return [ts.min().isoformat(), ts.max().isoformat()]

    by_condition = (
        window.train["condition"].astype(str).value_counts().to_dict()
        if "condition" in window.train
        else {}
    )
    return {
        "labelled_rows": window.n_labelled,
        "train_rows": len(window.train),
        "dev_rows": len(window.dev),
        "left_out_old_train_rows": window.left_out_old,
        "train_span": span(window.train),
        "dev_span": span(window.dev),
        "train_per_language": window.train["language"].astype(str).value_counts().to_dict(),
        "train_per_condition": by_condition,
    }


def _finish(
    workdir: Workdir, outcome: RetrainOutcome, config: RetrainConfig, now: datetime
) -> RetrainOutcome:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    out = workdir.reports / "retrain" / stamp
    i = 1
    while out.exists():
        out = workdir.reports / "retrain" / f"{stamp}-{i}"
        i += 1
    out.mkdir(parents=True)
    outcome.report_dir = str(out)
    if config.track and (outcome.triggered or outcome.forced):
        outcome.wandb_run_id = _track(workdir, outcome, config)
    (out / "retrain.json").write_text(
        json.dumps({"summary": outcome.summary(), **outcome.model_dump(mode="json")}, indent=2)
    )
    (out / "index.html").write_text(_html(outcome))
    log.info("%s (report: %s)", outcome.summary(), out)
    return outcome


def _track(workdir: Workdir, outcome: RetrainOutcome, config: RetrainConfig) -> str:
    from training.tracking import log_run

    values: dict[str, Any] = {
        "promoted": int(outcome.promoted),
        "n_triggers": len(outcome.triggers),
        "quarantined": len(outcome.quarantined),
        **{f"window/{k}": v for k, v in outcome.window.items() if isinstance(v, int | float)},
    }
    for side, m in (
        ("candidate", outcome.candidate_metrics),
        ("champion", outcome.champion_metrics),
    ):
        for k, v in (m or {}).items():
            if isinstance(v, int | float):
                values[f"{side}/{k}"] = v
            elif isinstance(v, dict):
                values.update({f"{side}/{k}_{lang}": x for lang, x in v.items()})
    return log_run(
        workdir,
        name=f"retrain-{outcome.candidate or outcome.champion}",
        job_type="retrain",
        config=config.model_dump(mode="json"),
        tags=["retrain", "promoted" if outcome.promoted else "kept-champion"],
        values=values,
        summary={
            **values,
            "decision": outcome.summary(),
            "triggers": "; ".join(t.reason for t in outcome.triggers),
        },
    )


def _html(outcome: RetrainOutcome) -> str:
    trig = "".join(
        f"<tr><td>{escape(t.trigger)}</td><td>{escape(t.reason)}</td></tr>"
        for t in outcome.triggers
    )
    langs = sorted(
        set((outcome.candidate_metrics or {}).get("recall", {}))
        | set((outcome.champion_metrics or {}).get("recall", {}))
    )

    def val(m: dict[str, Any] | None, *path: str) -> str:
        cur: Any = m or {}
        for p in path:
            cur = cur.get(p) if isinstance(cur, dict) else None
        return "—" if cur is None else f"{float(cur):.3f}"

    rows = "".join(
        f"<tr><td>{escape(label)}</td><td>{val(outcome.champion_metrics, *path)}</td>"
        f"<td>{val(outcome.candidate_metrics, *path)}</td></tr>"
        for label, path in [
            ("accuracy", ("accuracy",)),
            ("macro-F1", ("macro_f1",)),
            ("UAR", ("uar",)),
            *[(f"recall {lang}", ("recall", lang)) for lang in langs],
        ]
    )
    reasons = "".join(f"<li>{escape(r)}</li>" for r in outcome.reasons)
    window = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
        for k, v in outcome.window.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>nordlid retrain</title></head>
<body>
<h1>nordlid continuous training</h1>
<p><strong>{escape(outcome.summary())}</strong></p>
<h2>Triggers</h2><table border="1"><tr><th>trigger</th><th>why</th></tr>{trig}</table>
<h2>Window</h2><table border="1">{window}</table>
<p>{len(outcome.quarantined)} window rows quarantined by the validation gates.</p>
<h2>Promotion gate ({escape(GATE_SPLIT)})</h2>
<table border="1"><tr><th>metric</th><th>champion {escape(str(outcome.champion))}</th>
<th>candidate {escape(str(outcome.candidate))}</th></tr>{rows}</table>
<ul>{reasons}</ul>
</body></html>
"""


def gather_evidence(
    workdir: Workdir,
    config: RetrainConfig,
    *,
    window: int | None = None,
    since: timedelta | None = None,
    fetch: HistoricalFetch | None = None,
) -> RetrainInputs:
    """Drift report of the served window (written to reports/drift/) and live accuracy."""
    from monitoring.check import run_drift
    from monitoring.data import load_feedback, load_serving_log
    from monitoring.drift import DriftDataError
    from monitoring.feedback import live_accuracy

    inputs = RetrainInputs()
    try:
        run = run_drift(
            workdir,
            window=window,
            since=since,
            model_ref=f"@{config.alias}",
            config=config.drift,
            fetch=fetch,
        )
    except DriftDataError as exc:
        log.warning("no drift evidence: %s", exc)
        try:
            served = load_serving_log(workdir, window=window, since=since)
        except DriftDataError:
            return inputs
        feedback = load_feedback(workdir)
        if not feedback.empty:
            inputs.live = live_accuracy(served, feedback)
        return inputs
    inputs.drift = run.result
    inputs.live = run.live
    inputs.extra["drift_report"] = str(run.report_dir)
    return inputs
