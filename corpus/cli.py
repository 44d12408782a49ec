"""`nordlid corpus synth|ingest`."""

from __future__ import annotations

import typer

from nordlid.notbuilt import not_built

app = typer.Typer(no_args_is_help=True)


@app.command()
def synth() -> None:
    """Synthesize an espeak-ng corpus (da, is, no, sv)."""
    raise not_built("corpus synth", "[foundation]")


@app.command()
def ingest() -> None:
    """Ingest FLEURS-R, Common Voice 17, Ravnursson or a folder + TSV."""
    raise not_built("corpus ingest", "[foundation]")
