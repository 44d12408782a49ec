"""Feast settings for one work directory, read from the environment and validated at start.

Defaults need no configuration at all (embedded: SQLite registry, SQLite online store, file
offline store, everything under ``<workdir>/data/feast/``).  Environment variables:

- ``REDIS_URL`` (``redis://[:password@]host:port[/db]`` or ``rediss://...``) → Redis online store.
- ``NORDLID_FEAST_REGISTRY`` → a SQLAlchemy URL for the SQL registry, e.g.
  ``postgresql+psycopg://user@127.0.0.1:5432/feast`` for a shared deployment.
- ``NORDLID_FEAST_PROJECT`` → the Feast project name (default ``nordlid``).
- ``NORDLID_FEAST_WRITE_BATCH`` → rows per online-store write batch during materialization.
- ``NORDLID_FEAST_MATERIALIZE`` → ``direct`` (default) or ``feast``: how Redis is loaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nordlid.errors import ConfigError
from nordlid.workdir import Workdir

_PROJECT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
DEFAULT_PROJECT = "nordlid"
DEFAULT_WRITE_BATCH = 2000
ENV_VARS = (
    "NORDLID_FEAST_PROJECT",
    "NORDLID_FEAST_REGISTRY",
    "REDIS_URL",
    "NORDLID_FEAST_WRITE_BATCH",
    "NORDLID_FEAST_MATERIALIZE",
)
"""The environment variables the settings are read from."""


class RedisSettings(BaseModel):
    """Where the Redis online store lives (parsed from ``REDIS_URL``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(6379, gt=0, lt=65536)
    db: int = Field(0, ge=0)
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    @classmethod
    def from_url(cls, url: str) -> RedisSettings:
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss"):
            raise ConfigError(
                f"REDIS_URL={url!r}: expected redis://host:port[/db] or rediss://... "
                f"(scheme {parsed.scheme!r} is not supported)"
            )
        if not parsed.hostname:
            raise ConfigError(f"REDIS_URL={url!r}: no host name")
        path = parsed.path.strip("/")
        try:
            db = int(path) if path else 0
            port = parsed.port or 6379
        except ValueError as exc:
            raise ConfigError(f"REDIS_URL={url!r}: bad port or database number ({exc})") from None
        return cls(
            host=parsed.hostname,
            port=port,
            db=db,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            ssl=parsed.scheme == "rediss",
        )

    def connection_string(self) -> str:
        """Feast's ``host:port,key=value`` form."""
        parts = [f"{self.host}:{self.port}", f"db={self.db}"]
        if self.username:
            parts.append(f"username={self.username}")
        if self.password:
            parts.append(f"password={self.password}")
        if self.ssl:
            parts.append("ssl=true")
        return ",".join(parts)

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``redis.Redis`` (used by the direct read path)."""
        return {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
            "ssl": self.ssl,
        }


class FeastSettings(BaseModel):
    """Everything that differs between deployments of the same feature repo."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = DEFAULT_PROJECT
    registry_url: str
    online: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: str
    redis: RedisSettings | None = None
    write_batch_size: int | None = Field(DEFAULT_WRITE_BATCH, gt=0)
    redis_skip_dedup: bool = False
    serve_while_materializing: bool = True
    materialize_engine: Literal["feast", "direct"] = "direct"
    """Redis only: ``direct`` writes Feast's layout from pyarrow (see redis_writer),
    ``feast`` uses Feast's local materialization engine.  SQLite always uses Feast's."""

    @field_validator("project")
    @classmethod
    def _check_project(cls, value: str) -> str:
        if not _PROJECT_RE.match(value):
            raise ValueError(
                f"project {value!r}: use letters, digits and underscores, not starting with '_'"
            )
        return value

    @field_validator("registry_url")
    @classmethod
    def _check_registry(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql", "mysql")):
            raise ValueError(
                f"registry {value!r}: expected a SQLAlchemy URL "
                "(sqlite:///path or postgresql+psycopg://user@host:port/db)"
            )
        return value


def default_registry_url(workdir: Workdir) -> str:
    return f"sqlite:///{workdir.feast / 'registry.db'}"


def settings_from_env(
    workdir: Workdir, env: Mapping[str, str] | None = None, **overrides: object
) -> FeastSettings:
    """Build and validate the settings; a bad value raises :class:`ConfigError` naming it."""
    env = os.environ if env is None else env
    raw: dict[str, object] = {
        "project": env.get("NORDLID_FEAST_PROJECT") or DEFAULT_PROJECT,
        "registry_url": env.get("NORDLID_FEAST_REGISTRY") or default_registry_url(workdir),
        "sqlite_path": str(workdir.feast / "online_store.db"),
    }
    redis_url = env.get("REDIS_URL")
    if redis_url:
        raw["online"] = "redis"
        raw["redis"] = RedisSettings.from_url(redis_url)
    batch = env.get("NORDLID_FEAST_WRITE_BATCH")
    if batch:
        try:
            raw["write_batch_size"] = int(batch)
        except ValueError:
            raise ConfigError(f"NORDLID_FEAST_WRITE_BATCH={batch!r}: not an integer") from None
    engine = env.get("NORDLID_FEAST_MATERIALIZE")
    if engine:
        raw["materialize_engine"] = engine
    raw.update(overrides)
    try:
        return FeastSettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"Feast settings: {problems}") from None
