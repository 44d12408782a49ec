"""`nordlid train|evaluate`."""

from __future__ import annotations

from nordlid.notbuilt import not_built


def train() -> None:
    """Train an LID head from a Feast feature service."""
    raise not_built("train", "[training]")


def evaluate() -> None:
    """Evaluate registered models on dev and test."""
    raise not_built("evaluate", "[training]")
