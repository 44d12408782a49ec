"""Errors the service maps to HTTP status codes (each carries a user-facing reason)."""

from __future__ import annotations

from nordlid.errors import NordlidError

ECHO_MAX_CHARS = 64


def shorten(value: str, limit: int = ECHO_MAX_CHARS) -> str:
    """``value`` as echoed in an error message: at most ``limit`` characters, then '…'."""
    return value if len(value) <= limit else value[:limit] + "…"


class RequestError(NordlidError):
    """Bad request input: becomes ``status`` with ``{"detail": reason}``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class UnknownUtteranceError(NordlidError):
    """The online store holds no features for this utterance id (HTTP 404)."""

    def __init__(self, utterance_id: str, service: str) -> None:
        super().__init__(
            f"utterance {shorten(utterance_id)!r} has no features in the online store "
            f"(feature service {service!r})"
        )
        self.utterance_id = utterance_id


class OnlineStoreUnavailableError(NordlidError):
    """The online store (Redis or SQLite) did not answer (HTTP 503)."""


class ModelUnavailableError(NordlidError):
    """No model could be loaded for a registry reference (HTTP 503)."""
