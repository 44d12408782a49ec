"""`nordlid validate`."""

from __future__ import annotations

from nordlid.notbuilt import not_built


def validate() -> None:
    """Validate the manifest: GE suite, duplicates, leakage, balance, quality; quarantine bad rows."""
    raise not_built("validate", "[quality]")
