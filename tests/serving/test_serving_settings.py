"""Service settings: environment parsing and clear errors naming the variable."""

from __future__ import annotations

import pytest

from nordlid.errors import ConfigError
from serving.settings import load_settings


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NORDLID_API_KEY", "REDIS_URL", "NORDLID_MAX_DURATION_S"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert (s.min_duration_s, s.max_duration_s, s.api_key, s.redis_url) == (0.5, 30.0, None, None)
    monkeypatch.setenv("NORDLID_API_KEY", "s3cr3t-value")
    monkeypatch.setenv("REDIS_URL", "redis://h:6379/0")
    monkeypatch.setenv("NORDLID_MAX_DURATION_S", "12.5")
    s = load_settings()
    assert (s.api_key_value(), s.redis_url, s.max_duration_s) == (
        "s3cr3t-value",
        "redis://h:6379/0",
        12.5,
    )
    assert "s3cr3t" not in repr(s)  # the key is a secret
    monkeypatch.setenv("NORDLID_API_KEY", "")  # compose's ${NORDLID_API_KEY:-}
    assert load_settings().api_key is None


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        ("NORDLID_MAX_UPLOAD_BYTES", "abc", "NORDLID_MAX_UPLOAD_BYTES='abc'"),
        ("NORDLID_MIN_DURATION_S", "40", "must be below NORDLID_MAX_DURATION_S"),
        ("REDIS_URL", "http://x", "REDIS_URL must start with redis://"),
        ("NORDLID_PUSH_ATTEMPTS", "0", "NORDLID_PUSH_ATTEMPTS='0'"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, var, value, needle) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match="invalid serving settings") as info:
        load_settings()
    assert needle in str(info.value)


def test_unknown_setting_is_rejected() -> None:
    with pytest.raises(ConfigError, match="Extra inputs are not permitted"):
        load_settings(max_durration_s=3)
