"""`nordlid features apply|materialize`: the same functions as `feast apply` and
`feast materialize-incremental`, configured from the environment for the work directory."""

from __future__ import annotations

from datetime import datetime

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def apply() -> None:
    """Register the feature views generated from the extractor registry (`feast apply`)."""
    from feature_repo import store

    result = store.apply()
    typer.echo(
        f"applied {len(result.views)} feature views ({', '.join(result.views)}) and "
        f"{len(result.services)} feature services ({', '.join(result.services)})"
    )
    if result.deleted:
        typer.echo(f"removed: {', '.join(result.deleted)}")
    typer.echo(f"Feast config: {result.config_path}")


@app.command()
def materialize(
    end: datetime | None = typer.Option(
        None, "--end", help="Materialize rows up to this UTC time (default: now)."
    ),
    view: list[str] | None = typer.Option(
        None, "--view", help="Only this feature view (repeatable)."
    ),
) -> None:
    """Validate the feature files and load new rows into the online store
    (`feast materialize-incremental`)."""
    from feature_repo import store

    result = store.materialize(end=end, views=view or None)
    for name, rows in sorted(result.rows.items()):
        state = "materialized" if name in result.materialized else "no data, skipped"
        typer.echo(f"{name}: {rows} rows in files, {state}")
    typer.echo(f"online store up to date until {result.end.isoformat()}")
