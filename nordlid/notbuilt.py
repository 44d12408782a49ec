"""Placeholder for commands that exist in the interface but are not built yet."""

from __future__ import annotations

from nordlid.errors import NotBuiltError


def not_built(command: str, issue: str) -> NotBuiltError:
    return NotBuiltError(f"`nordlid {command}` is not built yet (tracked in issue {issue})")
