"""Hub access: offline by environment, or when the hub's host name does not resolve."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from extractors.backbones import common


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    common.hub_unreachable.cache_clear()
    yield
    common.hub_unreachable.cache_clear()


def test_env_var_forbids_the_hub_without_a_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise AssertionError("no DNS lookup expected")

    monkeypatch.setattr(socket, "getaddrinfo", boom)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert common.hub_offline()


def test_unresolvable_hub_means_local_caches_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def no_dns(host: str, *_: Any, **__: Any) -> Any:
        calls.append(host)
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")
    with caplog.at_level("WARNING"):
        assert common.hub_offline()
        assert common.hub_offline()
    assert calls == ["hub.example.invalid"]  # looked up once per process
    assert "hub.example.invalid does not resolve" in caplog.text


def test_resolvable_hub_allows_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [("ok",)])
    assert not common.hub_offline()
