"""`nordlid run`: the whole pipeline on embedded defaults."""

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
) -> None:
    """Run the whole pipeline on embedded defaults; up-to-date stages are skipped."""
    from nordlid.workdir import Workdir
    from pipeline.run import RunConfig, format_summary, run_pipeline

    cfg = RunConfig.load(config, per_language=per_language, seed=seed)
    summary = run_pipeline(Workdir.from_env(), cfg, force=force)
    typer.echo(format_summary(summary))
