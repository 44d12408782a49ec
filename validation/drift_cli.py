"""`nordlid drift` and `nordlid drift simulate`."""

from __future__ import annotations

import typer

from nordlid.notbuilt import not_built

drift_app = typer.Typer(no_args_is_help=False)


@drift_app.callback(invoke_without_command=True)
def drift(ctx: typer.Context) -> None:
    """Evidently drift of served features against the training reference."""
    if ctx.invoked_subcommand is None:
        raise not_built("drift", "[monitoring]")


@drift_app.command()
def simulate() -> None:
    """Produce a drifted serving log from held-out audio."""
    raise not_built("drift simulate", "[monitoring]")
