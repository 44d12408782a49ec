"""`nordlid extract`."""

from __future__ import annotations

from nordlid.notbuilt import not_built


def extract() -> None:
    """Extract features for the validated manifest into data/features/<extractor>/."""
    raise not_built("extract", "[extractors]")
