"""`nordlid serve` and `nordlid predict` (parse options, call the stage)."""

from __future__ import annotations

from pathlib import Path

import typer


def predict(
    paths: list[Path] = typer.Argument(
        ..., help="Audio files or directories (searched recursively)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Registry ref of the mini model (default @mini)."
    ),
    no_cascade: bool = typer.Option(
        False, "--no-cascade", help="Never escalate to the premium model."
    ),
) -> None:
    """Predict the language of audio files: one JSON line per file."""
    import sys

    from serving.batch import expand, predict_paths
    from serving.settings import load_settings

    overrides: dict[str, object] = {}
    if model:
        overrides["mini_model"] = model
    if no_cascade:
        overrides["premium_model"] = ""
    files = list(expand(paths))
    lines = predict_paths(files, load_settings(**overrides))
    with typer.progressbar(
        lines, length=len(files), label="predicting", file=sys.stderr, hidden=len(files) < 20
    ) as bar:
        for line in bar:
            typer.echo(line)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to bind."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
) -> None:
    """Start the FastAPI service (settings from NORDLID_* and REDIS_URL)."""
    import uvicorn

    from serving.settings import load_settings

    load_settings()  # validate before binding: a bad setting is one line + exit 2
    uvicorn.run(
        "serving.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
