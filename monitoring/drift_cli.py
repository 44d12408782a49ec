"""`nordlid drift` and `nordlid drift simulate` (thin: parse options, call the stage)."""

from __future__ import annotations

from pathlib import Path

import typer

from nordlid.errors import ConfigError

drift_app = typer.Typer(no_args_is_help=False)


@drift_app.callback(invoke_without_command=True)
def drift(
    ctx: typer.Context,
    window: int | None = typer.Option(None, "--window", help="Compare the last N requests."),
    since: str | None = typer.Option(
        None, "--since", help="Compare requests newer than DURATION (e.g. 24h, 7d)."
    ),
    model: str = typer.Option(
        "@production", "--model", help="Model whose training features are the reference."
    ),
    with_models: list[str] = typer.Option(
        [],
        "--with-model",
        help="Also compare this model's features (repeatable; e.g. @mini, whose features "
        "the serving cascade computes for every request).",
    ),
    drift_share: float = typer.Option(
        0.3, "--drift-share", help="Dataset drift when this share of feature columns drifted."
    ),
    embedding_method: str = typer.Option(
        "classifier",
        "--embedding-method",
        help="Embedding drift method: classifier (leave-one-out ridge domain classifier "
        "with a permutation null; stable on small windows) or Evidently's "
        "model|mmd|ratio|distance.",
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="JSON file with DriftConfig settings (overrides the options)."
    ),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit with code 1 when drift is detected."
    ),
) -> None:
    """Evidently drift of served features against the training reference."""
    if ctx.invoked_subcommand is not None:
        return
    from pydantic import ValidationError

    from monitoring.check import run_drift
    from monitoring.data import parse_duration
    from monitoring.drift import DriftConfig
    from nordlid.workdir import Workdir

    try:
        if config_file is not None:
            config = DriftConfig.model_validate_json(config_file.read_text())
        else:
            config = DriftConfig(
                drift_share=drift_share,
                embedding_method=embedding_method,  # type: ignore[arg-type]
            )
    except (ValidationError, OSError) as exc:
        raise ConfigError(f"drift settings: {exc}") from exc
    run = run_drift(
        Workdir.from_env().ensure(),
        window=window,
        since=parse_duration(since) if since else None,
        model_ref=model,
        config=config,
        with_models=tuple(with_models),
    )
    typer.echo(run.result.verdict())
    drifted = run.result.drifted_features
    typer.echo("drifted features: " + (", ".join(drifted) if drifted else "none"))
    if run.live is not None and run.live.n:
        typer.echo(f"live accuracy: {run.live.accuracy:.3f} on {run.live.n} labelled requests")
    typer.echo(f"report: {run.report_dir / 'index.html'}")
    if fail_on_drift and run.result.drift_detected:
        raise typer.Exit(1)


@drift_app.command()
def simulate(
    noise_snr: float | None = typer.Option(
        None, "--noise-snr", help="Add white noise at this SNR (dB)."
    ),
    telephone: bool = typer.Option(False, "--telephone", help="Telephone channel (8 kHz, µ-law)."),
    gain: float | None = typer.Option(None, "--gain", help="Gain in dB (clipped)."),
    n: int | None = typer.Option(None, "--n", help="Number of held-out utterances."),
    split: list[str] = typer.Option(
        ["test"], "--split", help="Held-out split(s) of the validated manifest to use."
    ),
    seed: int = typer.Option(0, "--seed"),
    mini: str | None = typer.Option(
        None, "--mini", help="First model of the cascade (default: the service's, @mini)."
    ),
    premium: str | None = typer.Option(
        None,
        "--premium",
        help="Escalation model (default: the service's, @premium; '' = mini alone).",
    ),
    feedback: bool = typer.Option(
        True, "--feedback/--no-feedback", help="Also write the true labels as feedback."
    ),
) -> None:
    """Produce a drifted serving log from held-out audio, answered by the serving cascade."""
    from pydantic import ValidationError

    from monitoring.simulate import SimulationConfig
    from monitoring.simulate import simulate as run_simulation
    from nordlid.workdir import Workdir
    from serving.settings import load_settings

    try:
        config = SimulationConfig(
            noise_snr_db=noise_snr,
            telephone=telephone,
            gain_db=gain,
            n=n,
            splits=tuple(split),
            seed=seed,
            feedback=feedback,
        )
    except ValidationError as exc:
        raise ConfigError(f"drift simulate: {exc}") from exc
    # the cascade the service runs (NORDLID_MINI_MODEL / NORDLID_PREMIUM_MODEL), unless given
    if mini == "":
        raise ConfigError("drift simulate: --mini '' names no model (e.g. --mini @mini)")
    chosen = {"mini_model": mini, "premium_model": premium}
    settings = load_settings(**{k: v for k, v in chosen.items() if v is not None})
    out = run_simulation(
        Workdir.from_env().ensure(),
        config,
        mini_ref=settings.mini_model,
        premium_ref=settings.premium_ref,
    )
    acc = float((out.rows["language"] == out.rows["true_language"]).mean())
    typer.echo(
        f"wrote {len(out.rows)} simulated requests ({config.condition}) to "
        f"{out.serving_log_part}; accuracy {acc:.3f}"
    )
