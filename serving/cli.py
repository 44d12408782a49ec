"""`nordlid serve` and `nordlid predict`."""

from __future__ import annotations

from nordlid.notbuilt import not_built


def predict() -> None:
    """Predict the language of audio files (JSON lines)."""
    raise not_built("predict", "[serving]")


def serve() -> None:
    """Start the FastAPI service."""
    raise not_built("serve", "[serving]")
