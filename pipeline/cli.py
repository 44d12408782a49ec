"""The ``nordlid`` console script: parse options, call the stage, nothing more.

Each stage package owns its commands in its own ``cli`` module; this file only mounts
them.  Heavy libraries are imported inside the command functions, so ``nordlid --help``
stays fast.  A :class:`~nordlid.errors.NordlidError` (bad input or configuration) becomes
a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from nordlid import __version__
from nordlid.errors import NordlidError

app = typer.Typer(
    name="nordlid",
    help="Feast-centric embedding feature platform for North Germanic spoken language ID.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nordlid {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    workdir: Path | None = typer.Option(
        None,
        "--workdir",
        envvar="NORDLID_WORKDIR",
        help="Work directory for data/, models/, reports/.",
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    from nordlid import logs

    try:
        logs.configure(log_level)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if workdir is not None:
        os.environ["NORDLID_WORKDIR"] = str(workdir.expanduser().resolve())


def _mount() -> None:
    from corpus import cli as corpus_cli
    from extractors import cli as extractors_cli
    from feature_repo import cli as features_cli
    from monitoring import drift_cli, retrain_cli
    from pipeline import run_cli
    from serving import cli as serving_cli
    from training import cli as training_cli
    from validation import cli as validation_cli

    app.add_typer(corpus_cli.app, name="corpus", help="Build the utterance manifest.")
    app.command("validate")(validation_cli.validate)
    app.command("extract")(extractors_cli.extract)
    app.add_typer(features_cli.app, name="features", help="Feast repo: apply and materialize.")
    app.command("train")(training_cli.train)
    app.command("evaluate")(training_cli.evaluate)
    app.command("predict")(serving_cli.predict)
    app.command("serve")(serving_cli.serve)
    app.add_typer(drift_cli.drift_app, name="drift", help="Evidently drift reports.")
    app.command("retrain")(retrain_cli.retrain)
    app.command("run")(run_cli.run)


_mount()


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except NordlidError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
