"""`nordlid validate`: parse options, call :func:`validation.gates.run_validation`, print paths."""

from __future__ import annotations

from pathlib import Path

import typer


def validate(
    manifest: Path | None = typer.Option(
        None, "--manifest", help="Manifest Parquet (default: <workdir>/data/manifest.parquet)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Validation thresholds and rule actions (YAML or JSON)."
    ),
) -> None:
    """Validate the manifest: GE suite, duplicates, leakage, balance, quality; quarantine."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nordlid.workdir import Workdir
    from validation.config import load_config
    from validation.gates import run_validation
    from validation.io import read_raw_manifest

    workdir = Workdir.from_env().ensure()
    cfg = load_config(config)
    frame = read_raw_manifest(manifest or workdir.manifest)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("validating audio", total=len(frame))
        result = run_validation(frame, workdir, cfg, progress=lambda n: bar.advance(task, n))
    typer.echo(
        f"{result.n_input} utterances: {result.n_kept} kept "
        f"({result.n_flagged} flagged), {result.n_quarantined} quarantined"
    )
    for code, count in sorted(result.reason_counts.items()):
        typer.echo(f"  quarantined {code}: {count}")
    for warning in result.warnings:
        typer.echo(f"  warning: {warning}")
    typer.echo(f"validated manifest: {result.validated_path}")
    typer.echo(f"quarantine: {result.quarantine_path}")
    typer.echo(f"report: {result.report_html}")
