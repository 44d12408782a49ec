"""`nordlid extract`: parse options, call :func:`extractors.engine.run_extraction`, report."""

from __future__ import annotations

import typer

from nordlid.errors import NordlidError


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise typer.BadParameter("give at least one extractor name", param_hint="--extractor")
    return names


def extract(
    extractor: str | None = typer.Option(
        None,
        "--extractor",
        "-e",
        help="Extractor name(s), comma-separated (default: all whose weights are available).",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    batch_seconds: float = typer.Option(
        120.0, "--batch-seconds", min=0.1, help="Budget of padded audio seconds per batch."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=0, help="Extract at most N not-yet-extracted utterances per extractor."
    ),
) -> None:
    """Extract features for the validated manifest into data/features/<extractor>/."""
    from extractors.engine import run_extraction
    from nordlid.workdir import Workdir

    names = _names(extractor)
    summary = run_extraction(
        Workdir.from_env(), names, device=device, batch_seconds=batch_seconds, limit=limit
    )
    for run in summary.runs:
        if run.status == "missing-checkpoint":
            typer.echo(f"{run.name}: skipped — {run.message}")
            continue
        line = f"{run.name}: {run.extracted} extracted, {run.skipped} already up to date"
        if run.failed:
            line += f", {len(run.failed)} unreadable (first: {run.failed[0]})"
        if run.extracted:
            line += f" — {run.audio_seconds:.0f} s of audio at {run.realtime_factor:.0f}× real time"
        typer.echo(line)
    if names is not None and summary.missing:
        missing = ", ".join(r.name for r in summary.missing)
        raise NordlidError(
            f"requested extractor(s) without available weights: {missing} "
            "(see above for how to provide them)"
        )
