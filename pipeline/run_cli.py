"""`nordlid run`: the whole pipeline on embedded defaults (or one stage of it)."""

from __future__ import annotations

from pathlib import Path

import typer


def run(
    config: Path | None = typer.Option(
        None, "--config", help="YAML file of run settings (params.yaml)."
    ),
    per_language: int | None = typer.Option(
        None, "--per-language", help="Synthetic utterances per language."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed for the synthetic corpus."),
    force: bool = typer.Option(False, "--force", help="Re-run every stage even if up to date."),
    stage: str | None = typer.Option(
        None, "--stage", help="Run only this stage (always; what each dvc.yaml stage calls)."
    ),
    dvc_yaml: bool = typer.Option(
        False, "--dvc-yaml", help="Print the dvc.yaml generated from the stage list and exit."
    ),
) -> None:
    """Run the whole pipeline on embedded defaults; up-to-date stages are skipped."""
    if dvc_yaml:
        from pipeline.dvc import dvc_yaml as generate

        typer.echo(generate(), nl=False)
        return
    from nordlid.workdir import Workdir
    from pipeline.run import RunConfig, format_summary, run_pipeline

    cfg = RunConfig.load(config, per_language=per_language, seed=seed)
    summary = run_pipeline(Workdir.from_env(), cfg, force=force, only=stage)
    typer.echo(format_summary(summary))
