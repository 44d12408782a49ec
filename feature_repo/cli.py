"""`nordlid features apply|materialize`."""

from __future__ import annotations

import typer

from nordlid.notbuilt import not_built

app = typer.Typer(no_args_is_help=True)


@app.command()
def apply() -> None:
    """`feast apply` on the generated repo."""
    raise not_built("features apply", "[feature-repo]")


@app.command()
def materialize() -> None:
    """`feast materialize-incremental` into the online store."""
    raise not_built("features materialize", "[feature-repo]")
