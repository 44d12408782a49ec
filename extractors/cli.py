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
    engine: str = typer.Option("local", "--engine", help="local, or ray (Ray Data actor pools)."),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster address (--engine ray; default: a local instance)."
    ),
    num_gpus_per_worker: float = typer.Option(
        0.0, "--num-gpus-per-worker", min=0.0, help="GPUs per Ray extraction actor."
    ),
    num_cpus: int | None = typer.Option(
        None, "--num-cpus", min=1, help="CPUs of a local Ray instance (--engine ray)."
    ),
    parallel: bool = typer.Option(
        False,
        "--parallel",
        help="Run the extractors side by side, torch's threads split over them (local engine).",
    ),
) -> None:
    """Extract features for the validated manifest into data/features/<extractor>/."""
    from extractors.engine import run_extraction
    from nordlid.workdir import Workdir

    names = _names(extractor)
    if engine == "ray":
        from extractors.ray_engine import run_extraction_ray

        summary = run_extraction_ray(
            Workdir.from_env(),
            names,
            address=address,
            num_gpus_per_worker=num_gpus_per_worker,
            num_cpus=num_cpus,
            batch_seconds=batch_seconds,
            limit=limit,
        )
    elif engine == "local":
        summary = run_extraction(
            Workdir.from_env(),
            names,
            device=device,
            batch_seconds=batch_seconds,
            limit=limit,
            parallel=parallel,
        )
    else:
        raise typer.BadParameter(f"{engine!r}: choose local or ray", param_hint="--engine")
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
