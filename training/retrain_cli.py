"""`nordlid retrain`."""

from __future__ import annotations

from nordlid.notbuilt import not_built


def retrain() -> None:
    """Continuous training: sliding window, validation gates, promotion gate."""
    raise not_built("retrain", "[monitoring]")
