"""Service settings: environment variables ``NORDLID_*`` (and ``REDIS_URL``), validated at start.

Every field has a default, so the service runs with no configuration at all (embedded
SQLite online store, models from ``<workdir>/models``).  A bad value is a
:class:`~nordlid.errors.ConfigError` naming the variable, raised before the server binds.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from nordlid.errors import ConfigError
from nordlid.workdir import Workdir


class ServingSettings(BaseSettings):
    """Settings of ``nordlid serve`` / ``create_app`` (env prefix ``NORDLID_``)."""

    model_config = SettingsConfigDict(env_prefix="NORDLID_", extra="forbid", frozen=True)

    workdir: Path | None = Field(
        None, description="Work directory (models/, data/); default NORDLID_WORKDIR or '.'"
    )
    api_key: SecretStr | None = Field(
        None, description="When set, every /v1/* route requires it (X-API-Key or Bearer)."
    )
    max_upload_bytes: int = Field(20 * 1024 * 1024, gt=0, description="Upload size limit.")
    min_duration_s: float = Field(
        0.5,
        gt=0,
        description="Shortest accepted audio (seconds); clips of about 1 s are field audio the "
        "service must answer.",
    )
    max_duration_s: float = Field(30.0, gt=0, description="Longest accepted audio (seconds).")
    mini_model: str = Field("@mini", min_length=1, description="Registry ref of the first model.")
    premium_model: str | None = Field(
        "@premium", description="Registry ref of the escalation model ('' disables the cascade)."
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "redis_url"),
        description="REDIS_URL, the variable the Feast repo reads too: the online store is "
        "Redis (default: the embedded SQLite store); /readyz pings it.",
    )
    log_flush_rows: int = Field(256, gt=0, description="Serving log: flush after this many rows.")
    log_flush_seconds: float = Field(
        30.0, gt=0, description="Serving log: flush at least this often."
    )
    push_attempts: int = Field(3, ge=1, le=20, description="Tries per online-store push.")
    push_backoff_s: float = Field(0.2, ge=0, description="Wait between push tries (doubles).")
    push_queue_size: int = Field(1000, gt=0, description="Pending pushes kept while Redis is down.")
    push_linger_s: float = Field(
        0.25,
        ge=0,
        le=10,
        description="Pushes arriving within this window are written as one Feast push "
        "(one push costs ~15 ms of CPU whatever its size); 0 pushes each row alone.",
    )
    push_batch_rows: int = Field(64, ge=1, description="Most rows in one coalesced push.")
    worker_threads: int = Field(4, ge=1, le=64, description="Threads for CPU-bound work.")
    compute_threads: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Requests computing features at once (identify, stream); default the "
        "number of CPUs this process may use.  Others wait in arrival order.",
    )
    torch_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="torch intra-op threads per feature computation; 1 (the default) is the "
        "fastest when concurrent requests share a few cores (more threads only spin).",
    )
    stream_max_sample_rate: int = Field(48_000, gt=0)
    stream_config_timeout_s: float = Field(
        10.0, gt=0, le=3600, description="WS /v1/stream: seconds to wait for the config message."
    )
    stream_idle_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="WS /v1/stream: close a stream silent this many seconds."
    )
    max_streams: int = Field(
        64, ge=1, le=100_000, description="WS /v1/stream: concurrent streams per worker process."
    )
    max_json_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Body limit of every route but /v1/identify (JSON bodies).",
    )
    min_speech_s: float = Field(
        0.3,
        ge=0,
        description="Audio with less silero-vad speech than this gets the no-speech answer "
        "instead of a language; 0 turns the check off.",
    )
    request_index_size: int = Field(100_000, gt=0, description="Request ids kept for /v1/feedback.")

    @field_validator("api_key", "redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``NORDLID_API_KEY=`` (e.g. from docker compose's ``${VAR:-}``) means no key."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _check_bounds(self) -> ServingSettings:
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError(
                f"NORDLID_MIN_DURATION_S ({self.min_duration_s}) must be below "
                f"NORDLID_MAX_DURATION_S ({self.max_duration_s})"
            )
        if self.min_speech_s >= self.max_duration_s:
            raise ValueError(
                f"NORDLID_MIN_SPEECH_S ({self.min_speech_s}) must be below "
                f"NORDLID_MAX_DURATION_S ({self.max_duration_s})"
            )
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError(f"REDIS_URL must start with redis://, got {self.redis_url!r}")
        return self

    @property
    def workdir_obj(self) -> Workdir:
        return Workdir.from_env(self.workdir)

    @property
    def premium_ref(self) -> str | None:
        return self.premium_model or None

    def compute_slots(self) -> int:
        if self.compute_threads is not None:
            return self.compute_threads
        if hasattr(os, "sched_getaffinity"):
            return max(1, len(os.sched_getaffinity(0)))
        return os.cpu_count() or 1

    def api_key_value(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key is not None else None


def load_settings(**overrides: object) -> ServingSettings:
    """Read the environment (plus explicit overrides); bad values → ConfigError naming them."""
    try:
        return ServingSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            loc = ".".join(str(x) for x in err["loc"])
            if not loc:  # a check across fields names the variables itself
                parts.append(msg)
                continue
            parts.append(f"NORDLID_{loc.upper()}={err.get('input')!r}: {msg}")
        raise ConfigError("invalid serving settings: " + "; ".join(parts)) from None
