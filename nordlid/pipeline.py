"""`nordlid run`: the whole pipeline on the embedded defaults, stage by stage.

synth → validate → extract (every extractor whose weights are present) → lidnet (nordlid's
own compact backbone, trained on the corpus) → extract lidnet → Feast apply + materialize →
train mini + premium (cascade threshold tuned on dev) → evaluate → held-out prediction check
→ drift on a simulated noisy batch → summary.

Each stage calls the same stage function as its CLI command, and is skipped when its
outputs are up to date (:mod:`nordlid.stages`), so a second run is fast and an interrupted
run continues where it stopped (extraction itself also resumes part by part).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from nordlid import __version__
from nordlid.errors import ConfigError
from nordlid.stages import Stage, StageRunner
from nordlid.workdir import Workdir

if TYPE_CHECKING:
    from training.dataset import HistoricalFetch

log = logging.getLogger(__name__)

LIDNET = "lidnet"


class RunConfig(BaseModel):
    """Parameters of `nordlid run` (also the `params.yaml` that `dvc.yaml` reads)."""

    model_config = ConfigDict(extra="forbid")

    per_language: int = Field(800, ge=4, description="Synthetic utterances per language.")
    seed: int = 0
    languages: list[str] = Field(default_factory=lambda: ["da", "is", "no", "sv"])
    conditions: list[str] = Field(default_factory=lambda: ["clean", "noisy", "telephone"])
    clean_share: float = Field(0.5, ge=0.0, le=1.0)
    extractors: list[str] | None = Field(
        None, description="Extractors to run; default every extractor whose weights are present."
    )
    train_lidnet: bool = True
    lidnet_epochs: int = Field(30, ge=1)
    holdout_per_language: int = Field(
        200,
        ge=0,
        description="Held-out files per language (60 gave 110 clean / 130 degraded files, too "
        "few to tell models a few points apart; 200 adds ~20 s to the run).",
    )
    drift_noise_snr_db: float = 10.0
    drift_requests: int = Field(60, ge=10)

    @field_validator("languages", "conditions", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML 1.1 reads an unquoted ``no`` (Norwegian) as false: say so, not "not a string"."""
        if isinstance(value, list):
            for item in value:
                if isinstance(item, bool):
                    raise ValueError(
                        f"{info.field_name}: {item!r} is not a code — YAML reads unquoted "
                        f'no/yes/on/off as booleans; quote it ("no")'
                    )
        return value

    @classmethod
    def load(cls, path: Path | None, **overrides: Any) -> RunConfig:
        data: dict[str, Any] = {}
        if path is not None:
            if not path.exists():
                raise ConfigError(f"--config {path}: file not found")
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"--config {path}: expected a mapping of settings")
            data.update(loaded.get("run", loaded))
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**data)
        except ValueError as exc:
            raise ConfigError(f"run configuration: {exc}") from exc


@dataclass
class PipelineSummary:
    workdir: Workdir
    stages: dict[str, str] = field(default_factory=dict)
    skipped_extractors: list[str] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    metrics_table: str = ""
    holdout: dict[str, Any] = field(default_factory=dict)
    holdout_whisper_lid: dict[str, Any] = field(default_factory=dict)
    drift_verdict: str = ""
    reports: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------- stages
def stage_corpus(wd: Workdir, cfg: RunConfig) -> None:
    from corpus.manifest import merge_manifest, write_manifest
    from corpus.synth import synthesize

    frame = synthesize(
        wd.corpus_audio,
        per_language=cfg.per_language,
        seed=cfg.seed,
        languages=tuple(cfg.languages),
        conditions=tuple(cfg.conditions),
        clean_share=cfg.clean_share,
    )
    write_manifest(frame, wd.corpus_audio / "manifest.parquet")
    merge_manifest(wd.manifest, frame, replace_sources=("synthetic",))


def stage_validate(wd: Workdir) -> dict[str, Any]:
    from validation.gates import run_validation
    from validation.io import read_raw_manifest

    # raw read: rows with bad fields must reach the gates (and quarantine), not abort here
    result = run_validation(read_raw_manifest(wd.manifest), wd)
    info = {
        "input": result.n_input,
        "kept": result.n_kept,
        "quarantined": result.n_quarantined,
        "reasons": result.reason_counts,
        "report": str(result.report_html),
    }
    (wd.reports / "validation").mkdir(parents=True, exist_ok=True)
    (wd.reports / "validation" / "pipeline-summary.json").write_text(json.dumps(info))
    return info


def stage_extract(wd: Workdir, names: list[str] | None) -> list[str]:
    from extractors import registry
    from extractors.engine import run_extraction

    selected = names or [n for n in registry.names() if n != LIDNET]
    summary = run_extraction(wd, selected)
    skipped = [f"{r.name}: {r.message}" for r in summary.missing]
    (wd.reports / "extraction-skipped.json").write_text(json.dumps(skipped, indent=2))
    return skipped


def stage_lidnet(wd: Workdir, cfg: RunConfig) -> None:
    from training.lidnet_train import LidnetTrainConfig, train_lidnet

    train_lidnet(wd, config=LidnetTrainConfig(epochs=cfg.lidnet_epochs))


def stage_extract_lidnet(wd: Workdir) -> None:
    from extractors.engine import run_extraction

    summary = run_extraction(wd, [LIDNET])
    run = summary[LIDNET]
    if run.status == "missing-checkpoint":
        raise ConfigError(f"lidnet features could not be extracted: {run.message}")


def stage_features(wd: Workdir) -> None:
    from feature_repo import store

    store.apply(wd)
    store.materialize(wd)


def stage_train(wd: Workdir, fetch: HistoricalFetch | None = None) -> None:
    from training.comparisons import train_comparisons
    from training.recipes import train_recipes
    from training.zero_shot import evaluate_whisper_lid

    train_recipes(wd, fetch=fetch)
    train_comparisons(wd, fetch=fetch)  # whisper-base alone and fused with lidnet
    evaluate_whisper_lid(wd)  # Whisper's own LID head, zero-shot (needs the packaged weights)


def stage_evaluate(wd: Workdir) -> str:
    from training.evaluate import comparison_table
    from training.registry import ModelRegistry

    table = comparison_table(ModelRegistry(wd.models))
    (wd.reports / "models.md").write_text(table + "\n")
    return table


def stage_holdout(wd: Workdir, cfg: RunConfig) -> dict[str, Any]:
    """Predict held-out audio (other sentences, voices, sample rates) as a user would."""
    from corpus.synth import synthesize_holdout
    from serving.batch import predict_paths
    from serving.settings import load_settings

    out = wd.data / "holdout"
    frame = synthesize_holdout(
        out,
        per_language=cfg.holdout_per_language,
        seed=cfg.seed + 1,
        languages=tuple(cfg.languages),
        conditions=tuple(cfg.conditions),
        clean_share=cfg.clean_share,
    )
    truth = {
        str(Path(p).resolve()): (lang, cond)
        for p, lang, cond in zip(frame["path"], frame["language"], frame["condition"], strict=True)
    }
    result, rows = score_holdout(predict_paths([out], load_settings()), truth)
    with (wd.reports / "holdout-predictions.jsonl").open("w") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows)
    (wd.reports / "holdout.json").write_text(json.dumps(result, indent=2))
    return result


def stage_holdout_whisper_lid(wd: Workdir) -> dict[str, Any]:
    """Whisper's own LID (zero-shot) on the held-out files the holdout stage predicted."""
    import pandas as pd

    from nordlid.errors import MissingCheckpointError
    from training.zero_shot import score_holdout_files

    rows = pd.read_json(wd.reports / "holdout-predictions.jsonl", lines=True)
    if "error" in rows.columns:  # files the service could not read are not scored here either
        rows = rows[rows["error"].isna()].reset_index(drop=True)
    truth = {
        str(Path(p).resolve()): (lang, cond)
        for p, lang, cond in zip(
            rows["path"], rows["true_language"], rows["condition"], strict=True
        )
    }
    labels = sorted(set(rows["true_language"].astype(str)))
    out = wd.reports / "holdout-whisper-lid.json"
    try:
        lines = score_holdout_files(rows, labels)
    except MissingCheckpointError as exc:
        result: dict[str, Any] = {"skipped": str(exc)}
    else:
        result, _ = score_holdout(lines, truth)
    out.write_text(json.dumps(result, indent=2))
    return result


def score_holdout(
    lines: Iterable[str], truth: dict[str, tuple[str, str]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Accuracy of ``nordlid predict`` JSON lines against ``truth`` (resolved path →
    (language, condition)): clean, degraded (every other condition) and per condition, and
    the predictions with their truth.  Lines for files outside ``truth`` are ignored; lines
    with an ``error`` are counted, not scored."""
    counts: dict[str, list[int]] = {}
    rows: list[dict[str, Any]] = []
    errors = 0
    for line in lines:
        row = json.loads(line)
        key = str(Path(row["path"]).resolve())
        if key not in truth:
            continue
        language, condition = truth[key]
        row.update(true_language=language, condition=condition)
        rows.append(row)
        if "error" in row:
            errors += 1
            continue
        hit = int(row["language"] == language)
        bucket = "clean" if condition == "clean" else "degraded"
        for name in dict.fromkeys((bucket, condition)):
            counts.setdefault(name, [0, 0])
            counts[name][0] += hit
            counts[name][1] += 1

    def acc(name: str) -> float | None:
        hits, n = counts.get(name, [0, 0])
        return hits / n if n else None

    result: dict[str, Any] = {}
    for name in ("clean", "degraded"):
        result[f"{name}_accuracy"] = acc(name)
        result[f"{name}_n"] = counts.get(name, [0, 0])[1]
    result["by_condition"] = {
        c: {"accuracy": acc(c), "n": n}
        for c, (_, n) in sorted(counts.items())
        if c not in ("clean", "degraded")
    }
    result["errors"] = errors
    return result, rows


def stage_drift(wd: Workdir, cfg: RunConfig, fetch: HistoricalFetch | None = None) -> str:
    from validation.drift_monitor import run_drift
    from validation.drift_simulate import SimulationConfig, simulate

    sim = SimulationConfig(noise_snr_db=cfg.drift_noise_snr_db, n=cfg.drift_requests, seed=cfg.seed)
    # the simulated requests go through the serving cascade, which computes mini's
    # (acoustic) features for every request: monitor them with the production model's
    simulate(wd, sim, mini_ref="@mini", premium_ref="@premium")
    run = run_drift(wd, window=cfg.drift_requests, with_models=("@mini",), fetch=fetch)
    verdict = run.result.verdict()
    (wd.reports / "drift-verdict.txt").write_text(f"{verdict}\n{run.report_dir}\n")
    return f"{verdict} (report: {run.report_dir})"


# ---------------------------------------------------------------------------- driver
def run_pipeline(wd: Workdir, cfg: RunConfig, *, force: bool = False) -> PipelineSummary:
    from training.recipes import memoized_fetch

    wd.ensure()
    runner = StageRunner(wd.data / ".stages")
    # training and the drift reference read the same (service, entities) joins from the
    # offline store; each point-in-time join costs about a minute on 2 cores
    fetch = memoized_fetch()
    summary = PipelineSummary(workdir=wd)
    base = {"nordlid": __version__}
    corpus_params = base | cfg.model_dump(
        include={"per_language", "seed", "languages", "conditions", "clean_share"}
    )

    runner.run(
        Stage("corpus", lambda: stage_corpus(wd, cfg), outs=[wd.manifest], params=corpus_params),
        force=force,
    )
    runner.run(
        Stage(
            "validate",
            lambda: stage_validate(wd),
            deps=[wd.manifest],
            outs=[wd.validated_manifest],
            params=base,
        ),
        force=force,
    )
    summary_path = wd.reports / "validation" / "pipeline-summary.json"
    if summary_path.exists():
        summary.validation = json.loads(summary_path.read_text())

    runner.run(
        Stage(
            "extract",
            lambda: stage_extract(wd, cfg.extractors),
            deps=[wd.validated_manifest],
            outs=[wd.feature_dir("acoustic")],
            params=base | {"extractors": cfg.extractors},
        ),
        force=force,
    )
    skipped_path = wd.reports / "extraction-skipped.json"
    if skipped_path.exists():
        summary.skipped_extractors = json.loads(skipped_path.read_text())

    if cfg.train_lidnet:
        runner.run(
            Stage(
                "lidnet",
                lambda: stage_lidnet(wd, cfg),
                deps=[wd.validated_manifest],
                outs=[wd.models / LIDNET],
                params=base | {"epochs": cfg.lidnet_epochs},
            ),
            force=force,
        )
        runner.run(
            Stage(
                "extract-lidnet",
                lambda: stage_extract_lidnet(wd),
                deps=[wd.validated_manifest, wd.models / LIDNET],
                outs=[wd.feature_dir(LIDNET)],
                params=base,
            ),
            force=force,
        )

    runner.run(
        Stage(
            "features",
            lambda: stage_features(wd),
            deps=[wd.validated_manifest, wd.features],
            outs=[wd.feast],
            params=base,
        ),
        force=force,
    )
    runner.run(
        Stage(
            "train",
            lambda: stage_train(wd, fetch),
            deps=[wd.validated_manifest, wd.features],
            outs=[wd.models / "aliases.json"],
            params=base,
        ),
        force=force,
    )
    summary.metrics_table = stage_evaluate(wd)
    runner.run(
        Stage(
            "holdout",
            lambda: stage_holdout(wd, cfg),
            deps=[wd.models / "aliases.json"],
            outs=[wd.reports / "holdout.json"],
            params=base | {"n": cfg.holdout_per_language, "seed": cfg.seed, "c": cfg.conditions},
        ),
        force=force,
    )
    holdout_path = wd.reports / "holdout.json"
    if holdout_path.exists():
        summary.holdout = json.loads(holdout_path.read_text())
    whisper_lid_path = wd.reports / "holdout-whisper-lid.json"
    runner.run(
        Stage(
            "holdout-whisper-lid",
            lambda: stage_holdout_whisper_lid(wd),
            deps=[wd.reports / "holdout.json"],
            outs=[whisper_lid_path],
            params=base,
        ),
        force=force,
    )
    if whisper_lid_path.exists():
        summary.holdout_whisper_lid = json.loads(whisper_lid_path.read_text())
    runner.run(
        Stage(
            "drift",
            lambda: stage_drift(wd, cfg, fetch),
            deps=[wd.models / "aliases.json"],
            outs=[wd.reports / "drift-verdict.txt"],
            params=base | {"snr": cfg.drift_noise_snr_db, "n": cfg.drift_requests},
        ),
        force=force,
    )
    verdict_path = wd.reports / "drift-verdict.txt"
    if verdict_path.exists():
        summary.drift_verdict = verdict_path.read_text().strip().replace("\n", " — report: ")
    summary.stages = dict(runner.results)
    summary.reports = {
        "validation": str(wd.reports / "validation" / "report.html"),
        "models": str(wd.reports / "models.md"),
        "holdout": f"{holdout_path} (per file: holdout-predictions.jsonl)",
        "drift": str(wd.reports / "drift"),
        "wandb (offline runs)": str(wd.wandb),
        "model registry": str(wd.models),
    }
    return summary


def format_summary(s: PipelineSummary) -> str:
    lines = ["", "nordlid run — summary", "=" * 22, f"work directory: {s.workdir.root}", ""]
    lines.append("stages:")
    lines += [f"  {name:<15} {status}" for name, status in s.stages.items()]
    if s.validation:
        lines.append(
            f"validation: {s.validation.get('kept')} kept, "
            f"{s.validation.get('quarantined')} quarantined of {s.validation.get('input')}"
        )
    if s.skipped_extractors:
        lines.append("extractors skipped (pretrained weights absent on this machine):")
        lines += [f"  - {item}" for item in s.skipped_extractors]
    lines += ["", "models (test split):", s.metrics_table, ""]

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{100 * v:.1f}%"

    if s.holdout:
        per_condition = ", ".join(
            f"{c} {pct(v.get('accuracy'))}" for c, v in s.holdout.get("by_condition", {}).items()
        )
        lines.append(
            "held-out audio (unseen sentences, voices, sample rates): "
            f"clean {pct(s.holdout.get('clean_accuracy'))} (n={s.holdout.get('clean_n')}), "
            f"degraded {pct(s.holdout.get('degraded_accuracy'))} (n={s.holdout.get('degraded_n')}"
            + (f": {per_condition}" if per_condition else "")
            + ")"
        )
    if s.holdout_whisper_lid.get("clean_n"):
        w = s.holdout_whisper_lid
        lines.append(
            "held-out audio, Whisper base's own LID (zero-shot baseline): "
            f"clean {pct(w.get('clean_accuracy'))}, degraded {pct(w.get('degraded_accuracy'))}"
        )
    if s.drift_verdict:
        lines.append(f"drift on a simulated noisy batch: {s.drift_verdict}")
    lines += ["", "where to look:"]
    lines += [f"  {k:<22} {v}" for k, v in s.reports.items()]
    lines += [
        "",
        "start the service:  nordlid serve --port 8000   (then see README: curl examples)",
    ]
    return "\n".join(lines)
