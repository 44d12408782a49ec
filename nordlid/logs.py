"""Logging set-up for the CLI; library modules only call ``logging.getLogger(__name__)``."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def configure(level: str = "INFO") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"--log-level: unknown level {level!r}")
    logging.basicConfig(
        level=numeric,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[  # stderr: stdout carries command output (e.g. predict's JSON lines)
            RichHandler(console=Console(stderr=True), rich_tracebacks=False, show_path=False)
        ],
        force=True,
    )
    for noisy in (
        "urllib3",
        "filelock",
        "numba",
        "matplotlib",
        "httpx",
        "fsspec",
        "great_expectations",
    ):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
