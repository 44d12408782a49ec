"""Checks that run before a request body is read: the API key, then the body's size.

:class:`RequestGuard` is one ASGI middleware over every HTTP request.  On ``/v1/*`` it
authenticates from the headers alone; then it caps the body by a per-route table
(:class:`BodyRule`; the upload limit for ``POST /v1/identify``, a small limit for every
JSON route): a declared ``Content-Length`` over the limit is answered 413 at once, and a
body streamed without one is counted chunk by chunk and cut off with 413 when it passes
the limit.  Nothing is buffered beyond the limit and nothing is read for a request that
is refused.

:func:`check_api_key` is shared with ``WS /v1/stream``; :func:`install_log_redaction`
keeps secrets in query strings out of the server's access log.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import RequestError

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "/v1/"


@dataclass(frozen=True)
class BodyRule:
    """What one route accepts as a body."""

    max_body: int  # bytes on the wire
    what: str  # how the limit is named in a 413, e.g. "20000 bytes of audio"
    content_type: str | None = None  # required media type prefix, if any
    content_type_hint: str = ""  # what to send instead, for the 415


def check_api_key(expected: str | None, x_api_key: str | None, authorization: str | None) -> None:
    """Raise 401 (no key) or 403 (wrong key) when a key is configured."""
    if expected is None:
        return
    given = given_key(x_api_key, authorization)
    if given is None:
        raise RequestError(401, "missing API key: send it as X-API-Key or Authorization: Bearer")
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise RequestError(403, "wrong API key")


def given_key(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


class RequestGuard:
    """Authenticate ``/v1/*`` and cap every HTTP body, before the application reads it."""

    def __init__(
        self,
        app: ASGIApp,
        api_key: str | None,
        rules: Mapping[tuple[str, str], BodyRule],
        default: BodyRule,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.rules = dict(rules)  # (method, path) → rule
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rule = self.rules.get((scope["method"], scope["path"]), self.default)
        try:
            if scope["path"].startswith(PROTECTED_PREFIX):
                check_api_key(self.api_key, headers.get("x-api-key"), headers.get("authorization"))
            _check_declared(rule, headers)
        except RequestError as exc:
            await JSONResponse({"detail": exc.reason}, status_code=exc.status)(scope, receive, send)
            return
        await self.app(scope, _counting(receive, rule), send)


def _check_declared(rule: BodyRule, headers: Mapping[str, str]) -> None:
    """415 for a wrong content type, 413 for a declared length over the limit."""
    ctype = headers.get("content-type", "")
    if rule.content_type is not None and not ctype.lower().startswith(rule.content_type):
        raise RequestError(
            415, f"content type {ctype or 'none'!r} is wrong: {rule.content_type_hint}"
        )
    length = headers.get("content-length")
    if length is None:
        return
    if not length.strip().isdigit():
        raise RequestError(400, f"Content-Length {length[:32]!r} is not a number of bytes")
    if int(length) > rule.max_body:
        raise RequestError(413, f"body of {int(length)} bytes is too large (limit {rule.what})")


def _counting(receive: Receive, rule: BodyRule) -> Receive:
    """``receive`` that stops a body (declared or not) once it passes the rule's limit."""
    seen = 0

    async def counting_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > rule.max_body:
                raise HTTPException(413, f"body is too large (limit {rule.what})")
        return message

    return counting_receive


# --- access log -----------------------------------------------------------------------
_SECRET_PARAM = re.compile(
    r"([?&](?:api[_-]?key|key|token|access_token|auth|password|secret)=)[^&\s\"]*", re.I
)
_REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    """Query-string values of secret-looking parameters replaced by ``<redacted>``."""
    return _SECRET_PARAM.sub(r"\1<redacted>", text)


class RedactQuerySecrets(logging.Filter):
    """Rewrites a log record's message and string arguments through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactQuerySecrets` to uvicorn's loggers (once; idempotent)."""
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQuerySecrets) for f in logger.filters):
            logger.addFilter(RedactQuerySecrets())
