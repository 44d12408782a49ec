"""`nordlid retrain` (thin: parse options, call the continuous-training stage)."""

from __future__ import annotations

from pathlib import Path

import typer

from nordlid.errors import ConfigError


def retrain(
    force: bool = typer.Option(False, "--force", help="Retrain even if no trigger fires."),
    config_file: Path | None = typer.Option(
        None, "--config", help="JSON file with RetrainConfig settings (triggers, window, gate)."
    ),
    window: int | None = typer.Option(
        None, "--window", help="Drift evidence: the last N served requests."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Drift evidence: requests newer than DURATION (e.g. 24h)."
    ),
    max_utterances: int | None = typer.Option(
        None, "--max-utterances", help="Sliding window: the most recent N train utterances."
    ),
    max_days: float | None = typer.Option(
        None, "--max-days", help="Sliding window: train utterances of the last N days."
    ),
    alias: str | None = typer.Option(None, "--alias", help="Alias the candidate competes for."),
    no_track: bool = typer.Option(False, "--no-track", help="Do not log to W&B."),
    reload_url: str | None = typer.Option(
        None, "--reload-url", help="Serving base URL to POST /v1/models/reload after promotion."
    ),
) -> None:
    """Continuous training: triggers, sliding window, validation gates, promotion gate."""
    from pydantic import ValidationError

    from monitoring.continuous import RetrainConfig, gather_evidence
    from monitoring.continuous import retrain as run_retrain
    from monitoring.data import parse_duration
    from nordlid.workdir import Workdir

    try:
        config = (
            RetrainConfig.model_validate_json(config_file.read_text())
            if config_file is not None
            else RetrainConfig()
        )
        window_update = {
            k: v
            for k, v in (("max_utterances", max_utterances), ("max_days", max_days))
            if v is not None
        }
        if window_update:
            config.window = config.window.model_validate(
                {**config.window.model_dump(), **window_update}
            )
        if alias is not None:
            config.alias = alias
        if no_track:
            config.track = False
        if reload_url is not None:
            config.reload_url = reload_url
    except (ValidationError, OSError) as exc:
        raise ConfigError(f"retrain settings: {exc}") from exc
    workdir = Workdir.from_env().ensure()
    inputs = gather_evidence(
        workdir, config, window=window, since=parse_duration(since) if since else None
    )
    outcome = run_retrain(workdir, config, inputs, force=force)
    for t in outcome.triggers:
        typer.echo(f"trigger {t.trigger}: {t.reason}")
    typer.echo(outcome.summary())
    for reason in outcome.reasons:
        typer.echo(f"  - {reason}")
    if outcome.serving_reload:
        typer.echo(f"serving: {outcome.serving_reload}")
    typer.echo(f"report: {outcome.report_dir}")
