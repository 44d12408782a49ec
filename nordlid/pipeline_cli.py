"""`nordlid run`: the whole pipeline on embedded defaults."""

from __future__ import annotations

from nordlid.notbuilt import not_built


def run() -> None:
    """Run every stage on the embedded defaults (synth → validate → extract → features → train → evaluate → drift)."""
    raise not_built("run", "[main-job]")
