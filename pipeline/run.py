"""`nordlid run`: the whole pipeline on the embedded defaults, stage by stage.

synth → validate → extract (every extractor whose weights are present) → lidnet (nordlid's
own compact backbone, trained on the corpus) → extract lidnet → Feast apply + materialize →
train mini + premium (cascade threshold tuned on dev) → evaluate → held-out prediction check
→ drift on a simulated noisy batch → summary.

:data:`STAGES` is the one definition of the main job: ``nordlid run`` runs it, ``nordlid run
--stage NAME`` runs one stage, and ``dvc.yaml`` is generated from it (:mod:`pipeline.dvc`).
A stage is skipped when its outputs are up to date (:mod:`pipeline.runner`), so a second
run is fast and an interrupted run continues where it stopped (extraction itself also
resumes part by part).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from extractors.lidnet import DEFAULT_MEMBERS
from extractors.lidnet import MINI_NAME as LIDNET_MINI_NAME
from extractors.lidnet import NAME as LIDNET
from nordlid import __version__
from nordlid.atomic import atomic_write_text
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir
from pipeline.runner import Stage, StageRunner

if TYPE_CHECKING:
    from training.dataset import HistoricalFetch

log = logging.getLogger(__name__)

TRAINED_BACKBONES = (LIDNET, LIDNET_MINI_NAME)
"""Backbones the lidnet stage trains: extracted after it, not in the extract stage."""


class RunConfig(BaseModel):
    """Parameters of `nordlid run` (also the `params.yaml` that `dvc.yaml` reads)."""

    model_config = ConfigDict(extra="forbid")

    per_language: int = Field(800, ge=4, description="Synthetic utterances per language.")
    seed: int = 0
    languages: list[str] = Field(default_factory=lambda: ["da", "is", "no", "sv"])
    conditions: list[str] = Field(
        default_factory=lambda: [
            "clean",
            "noisy",
            "telephone",
            "reverb",
            "babble",
            "codec",
            "lownoise",
            "short",
            "extreme",
        ],
        description="Conditions of the training corpus (corpus.render.CONDITIONS): the field "
        "conditions are rendered into it too, so the backbone learns them from real examples "
        "as well as from its on-the-fly augmentation.",
    )
    clean_share: float = Field(0.5, ge=0.0, le=1.0)
    extractors: list[str] | None = Field(
        None, description="Extractors to run; default every extractor whose weights are present."
    )
    train_lidnet: bool = True
    lidnet_epochs: int = Field(
        30, ge=1, description="Most lidnet epochs (the budget may fit fewer)."
    )
    lidnet_minutes: float = Field(
        7.0,
        gt=0,
        description="Wall-clock budget of lidnet training: the first epoch's time decides how "
        "many epochs fit, and the learning-rate schedule anneals over those.",
    )
    lidnet_members: int = Field(
        DEFAULT_MEMBERS,
        ge=1,
        description="Encoders of the premium lidnet ensemble (each one more costs about as "
        "much training time per epoch as the first).",
    )
    lidnet_precision: Literal["auto", "fp32", "bf16"] = Field(
        "fp32",
        description="Training-step precision: 'auto' uses bfloat16 autocast where the CPU "
        "has it natively (more epochs in the budget, no better accuracy measured).",
    )
    holdout_per_language: int = Field(
        200,
        ge=0,
        description="Held-out files per language (60 gave 110 clean / 130 degraded files, too "
        "few to tell models a few points apart; 200 adds ~20 s to the run).",
    )
    holdout_conditions: list[str] = Field(
        default_factory=lambda: [
            "clean",
            "noisy",
            "telephone",
            "reverb",
            "babble",
            "codec",
            "lownoise",
            "short",
            "extreme",
        ],
        description="Conditions of the held-out files (corpus.render.CONDITIONS); the number "
        "of files stays holdout_per_language.",
    )
    drift_noise_snr_db: float = 10.0
    drift_requests: int = Field(60, ge=10)

    @field_validator("languages", "conditions", "holdout_conditions", mode="before")
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

    @field_validator("holdout_conditions")
    @classmethod
    def _known_holdout_conditions(cls, value: list[str]) -> list[str]:
        """Fail at load time, not after training, on a condition the renderer does not know."""
        from corpus.render import CONDITIONS

        if not value:
            raise ValueError("holdout_conditions: give at least one of " + ", ".join(CONDITIONS))
        bad = [c for c in value if c not in CONDITIONS]
        if bad:
            raise ValueError(
                f"holdout_conditions: unknown {bad} (choose from {', '.join(CONDITIONS)})"
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
    stage_seconds: dict[str, float] = field(default_factory=dict)
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

    selected = names or [n for n in registry.names() if n not in TRAINED_BACKBONES]
    # acoustic (torch), whisper-base (CTranslate2) and quality side by side: 0.73x the wall
    # time of one after another (benchmarks/joint_extraction.py)
    summary = run_extraction(wd, selected, parallel=True)
    skipped = [f"{r.name}: {r.message}" for r in summary.missing]
    (wd.reports / "extraction-skipped.json").write_text(json.dumps(skipped, indent=2))
    return skipped


def stage_lidnet(wd: Workdir, cfg: RunConfig) -> None:
    from extractors.lidnet import LidnetConfig
    from training.lidnet_train import LidnetTrainConfig, train_lidnet

    train_lidnet(
        wd,
        config=LidnetTrainConfig(
            model=LidnetConfig(members=cfg.lidnet_members),
            epochs=cfg.lidnet_epochs,
            max_minutes=cfg.lidnet_minutes,
            precision=cfg.lidnet_precision,
        ),
    )


def stage_extract_lidnet(wd: Workdir) -> None:
    from extractors.engine import run_extraction

    # the two small encoders side by side on one torch thread each
    summary = run_extraction(wd, list(TRAINED_BACKBONES), parallel=True)
    for name in TRAINED_BACKBONES:
        run = summary[name]
        if run.status == "missing-checkpoint":
            raise ConfigError(f"{name} features could not be extracted: {run.message}")


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
        conditions=tuple(cfg.holdout_conditions),
        clean_share=cfg.clean_share,
    )
    truth = holdout_truth(frame["path"], frame["language"], frame["condition"])
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
    truth = holdout_truth(rows["path"], rows["true_language"], rows["condition"])
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


def holdout_truth(
    paths: Iterable[Any], languages: Iterable[Any], conditions: Iterable[Any]
) -> dict[str, tuple[str, str]]:
    """Resolved path → (language, condition): the truth :func:`score_holdout` scores against."""
    return {
        str(Path(p).resolve()): (str(lang), str(cond))
        for p, lang, cond in zip(paths, languages, conditions, strict=True)
    }


def score_holdout(
    lines: Iterable[str], truth: dict[str, tuple[str, str]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Accuracy and calibration (ECE) of ``nordlid predict`` JSON lines against ``truth``
    (resolved path → (language, condition)): clean, degraded (every other condition) and
    per condition, and the predictions with their truth.  Lines for files outside ``truth``
    are ignored; lines with an ``error`` are counted, not scored; a no-speech answer
    (``language`` null) is scored as a miss."""
    from training.calibration import calibration_error

    scored: dict[str, list[tuple[float, bool]]] = {}
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
        pair = (float(row.get("confidence") or 0.0), row.get("language") == language)
        bucket = "clean" if condition == "clean" else "degraded"
        for name in dict.fromkeys((bucket, condition)):
            scored.setdefault(name, []).append(pair)

    def summary(name: str) -> dict[str, Any]:
        pairs = scored.get(name, [])
        if not pairs:
            return {"accuracy": None, "n": 0, "ece": None}
        conf, hit = (np.array(v) for v in zip(*pairs, strict=True))
        return {"accuracy": float(hit.mean()), "n": len(pairs), "ece": calibration_error(conf, hit)}

    result: dict[str, Any] = {}
    for name in ("clean", "degraded"):
        s = summary(name)
        result[f"{name}_accuracy"], result[f"{name}_n"] = s["accuracy"], s["n"]
        result[f"{name}_ece"] = s["ece"]
    result["by_condition"] = {
        c: summary(c) for c in sorted(scored) if c not in ("clean", "degraded")
    }
    result["errors"] = errors
    return result, rows


def stage_drift(wd: Workdir, cfg: RunConfig, fetch: HistoricalFetch | None = None) -> str:
    from monitoring.check import run_drift
    from monitoring.simulate import SimulationConfig, simulate

    sim = SimulationConfig(noise_snr_db=cfg.drift_noise_snr_db, n=cfg.drift_requests, seed=cfg.seed)
    # the simulated requests go through the serving cascade, which computes mini's
    # features for every request: monitor them with the production model's
    simulate(wd, sim, mini_ref="@mini", premium_ref="@premium")
    run = run_drift(wd, window=cfg.drift_requests, with_models=("@mini",), fetch=fetch)
    verdict = run.result.verdict()
    (wd.reports / "drift-verdict.txt").write_text(f"{verdict}\n{run.report_dir}\n")
    return f"{verdict} (report: {run.report_dir})"


# ---------------------------------------------------------------------------- the stages
@dataclass
class StageContext:
    """What a stage function gets: the work dir, the settings, the shared offline fetch."""

    wd: Workdir
    cfg: RunConfig
    fetch: HistoricalFetch | None = None


@dataclass(frozen=True)
class PipelineStage:
    """One stage of the main job: the single definition that ``nordlid run``, ``nordlid run
    --stage NAME`` and the generated ``dvc.yaml`` (:mod:`pipeline.dvc`) all read.

    ``deps``/``outs`` are work-directory paths; ``params`` are :class:`RunConfig` fields (a
    changed value re-runs the stage); ``code`` are source folders, DVC dependencies (the
    home-made runner keys on the nordlid version instead).
    """

    name: str
    action: Callable[[StageContext], Any]
    deps: Callable[[Workdir], list[Path]]
    outs: Callable[[Workdir], list[Path]]
    params: tuple[str, ...] = ()
    code: tuple[str, ...] = ()
    enabled: Callable[[RunConfig], bool] = field(default=lambda cfg: True)


def static_feature_views() -> list[str]:
    """Extractors whose features need no downloaded weights (and are not trained here)."""
    from extractors import registry

    return [
        n
        for n in registry.names()
        if n not in TRAINED_BACKBONES and not registry.get_spec(n).needs_weights
    ]


CORPUS_PARAMS = ("per_language", "seed", "languages", "conditions", "clean_share")

STAGES: tuple[PipelineStage, ...] = (
    PipelineStage(
        "corpus",
        lambda c: stage_corpus(c.wd, c.cfg),
        deps=lambda wd: [],
        outs=lambda wd: [wd.corpus_audio, wd.manifest],
        params=CORPUS_PARAMS,
        code=("corpus",),
    ),
    PipelineStage(
        "validate",
        lambda c: stage_validate(c.wd),
        deps=lambda wd: [wd.manifest],
        outs=lambda wd: [wd.validated_manifest.parent, wd.quarantine],
        code=("validation",),
    ),
    PipelineStage(
        "extract",
        lambda c: stage_extract(c.wd, c.cfg.extractors),
        deps=lambda wd: [wd.validated_manifest],
        outs=lambda wd: [wd.feature_dir(n) for n in static_feature_views()],
        params=("extractors",),
        code=("extractors",),
    ),
    PipelineStage(
        "lidnet",
        lambda c: stage_lidnet(c.wd, c.cfg),
        deps=lambda wd: [wd.validated_manifest],
        outs=lambda wd: [wd.models / n for n in TRAINED_BACKBONES],
        params=("lidnet_epochs", "lidnet_minutes", "lidnet_members", "lidnet_precision"),
        code=("training",),
        enabled=lambda cfg: cfg.train_lidnet,
    ),
    PipelineStage(
        "extract-lidnet",
        lambda c: stage_extract_lidnet(c.wd),
        deps=lambda wd: [wd.validated_manifest, *(wd.models / n for n in TRAINED_BACKBONES)],
        outs=lambda wd: [wd.feature_dir(n) for n in TRAINED_BACKBONES],
        code=("extractors",),
        enabled=lambda cfg: cfg.train_lidnet,
    ),
    PipelineStage(
        "features",
        lambda c: stage_features(c.wd),
        deps=lambda wd: [wd.validated_manifest, wd.features],
        outs=lambda wd: [wd.feast],
        code=("feature_repo",),
    ),
    PipelineStage(
        "train",
        lambda c: stage_train(c.wd, c.fetch),
        deps=lambda wd: [wd.validated_manifest, wd.feast],
        outs=lambda wd: [wd.models / "aliases.json"],
        code=("training",),
    ),
    PipelineStage(
        "evaluate",
        lambda c: stage_evaluate(c.wd),
        deps=lambda wd: [wd.models / "aliases.json"],
        outs=lambda wd: [wd.reports / "models.md"],
        code=("training",),
    ),
    PipelineStage(
        "holdout",
        lambda c: stage_holdout(c.wd, c.cfg),
        deps=lambda wd: [wd.models / "aliases.json"],
        outs=lambda wd: [wd.reports / "holdout.json"],
        params=("holdout_per_language", "seed", "languages", "holdout_conditions", "clean_share"),
        code=("corpus", "serving"),
    ),
    PipelineStage(
        "holdout-whisper-lid",
        lambda c: stage_holdout_whisper_lid(c.wd),
        deps=lambda wd: [wd.reports / "holdout.json"],
        outs=lambda wd: [wd.reports / "holdout-whisper-lid.json"],
        code=("training",),
    ),
    PipelineStage(
        "drift",
        lambda c: stage_drift(c.wd, c.cfg, c.fetch),
        deps=lambda wd: [wd.models / "aliases.json"],
        outs=lambda wd: [wd.reports / "drift-verdict.txt"],
        params=("drift_noise_snr_db", "drift_requests", "seed"),
        code=("monitoring",),
    ),
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)


def get_stage(name: str) -> PipelineStage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(STAGE_NAMES)}")


# ---------------------------------------------------------------------------- driver
def run_pipeline(
    wd: Workdir, cfg: RunConfig, *, force: bool = False, only: str | None = None
) -> PipelineSummary:
    """Every enabled stage in order (or ``only`` that one, always run), then the summary."""
    from training.recipes import memoized_fetch

    wd.ensure()
    selected = [get_stage(only)] if only else [s for s in STAGES if s.enabled(cfg)]
    runner = StageRunner(wd.data / ".stages")
    # training and the drift reference read the same (service, entities) joins from the
    # offline store; each point-in-time join costs about a minute on 2 cores
    context = StageContext(wd, cfg, memoized_fetch())
    base = {"nordlid": __version__}
    for stage in selected:
        runner.run(
            Stage(
                stage.name,
                partial(stage.action, context),
                deps=stage.deps(wd),
                outs=stage.outs(wd),
                params=base | cfg.model_dump(include=set(stage.params)),
            ),
            force=force or only is not None,
        )
    summary = read_summary(wd)
    summary.stages = dict(runner.results)
    summary.stage_seconds = dict(runner.seconds)
    atomic_write_text(
        wd.reports / "run-times.json",
        json.dumps({"stages": summary.stages, "seconds": summary.stage_seconds}, indent=2),
    )
    return summary


def _read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


def read_summary(wd: Workdir) -> PipelineSummary:
    """What the stages left in the work dir, for :func:`format_summary`."""
    models = wd.reports / "models.md"
    verdict = wd.reports / "drift-verdict.txt"
    holdout = wd.reports / "holdout.json"
    return PipelineSummary(
        workdir=wd,
        validation=_read_json(wd.reports / "validation" / "pipeline-summary.json", {}),
        skipped_extractors=_read_json(wd.reports / "extraction-skipped.json", []),
        metrics_table=models.read_text().rstrip("\n") if models.exists() else "",
        holdout=_read_json(holdout, {}),
        holdout_whisper_lid=_read_json(wd.reports / "holdout-whisper-lid.json", {}),
        drift_verdict=(
            verdict.read_text().strip().replace("\n", " — report: ") if verdict.exists() else ""
        ),
        reports={
            "validation": str(wd.reports / "validation" / "report.html"),
            "models": str(models),
            "holdout": f"{holdout} (per file: holdout-predictions.jsonl)",
            "drift": str(wd.reports / "drift"),
            "wandb (offline runs)": str(wd.wandb),
            "model registry": str(wd.models),
        },
    )


def format_stage_times(stages: dict[str, str], seconds: dict[str, float]) -> list[str]:
    """The per-stage table of the summary: status and wall time, then the total."""
    lines = [f"stages:{'':<9} {'status':<22} {'wall time':>9}"]
    for name, status in stages.items():
        lines.append(f"  {name:<15} {status:<22} {_minutes(seconds.get(name, 0.0)):>9}")
    lines.append(f"  {'total':<15} {'':<22} {_minutes(sum(seconds.values())):>9}")
    return lines


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def format_summary(s: PipelineSummary) -> str:
    lines = ["", "nordlid run — summary", "=" * 22, f"work directory: {s.workdir.root}", ""]
    lines += format_stage_times(s.stages, s.stage_seconds)
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
