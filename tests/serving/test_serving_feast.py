"""The service on the real stack: Feast repo applied from the extractor registry, Redis
online store, PushSource writes from /v1/identify and by-id reads through feature_repo."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from serving_toys import fine_spec, metric_value, tone, tone_spec, wav_bytes

from nordlid.workdir import Workdir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture()
def feast_env(served_workdir: Workdir, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    project = f"servetest_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("NORDLID_FEAST_PROJECT", project)
    yield project
    from feature_repo import store

    store.close(served_workdir)


def _apply(workdir: Workdir) -> None:
    from feature_repo import store

    # only the toy views: the built-in extractors' views are feature_repo's tests' business
    result = store.apply(workdir, specs=[tone_spec(), fine_spec()])
    assert {"lid_servetone", "lid_servefine"} <= set(result.services)


def _client(url: str, **settings):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.settings import ServingSettings

    app = create_app(ServingSettings(redis_url=url, **settings))
    return TestClient(app, raise_server_exceptions=False)


def _cleanup(url: str, project: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{project}"))
    if keys:
        client.delete(*keys)


def test_identify_push_then_by_id_through_feast(
    served_workdir, feast_env, redis_url, monkeypatch, rng
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    _apply(served_workdir)
    try:
        with _client(redis_url, workdir=served_workdir.root) as client:
            assert client.get("/readyz").json()["checks"]["online_store"] == "ok"
            ident = client.post(
                "/v1/identify",
                files={"file": ("a.wav", wav_bytes(tone("sv", 2.0, rng=rng)), "audio/wav")},
            ).json()
            client.app.state.service.pusher.join()
            got = client.get(f"/v1/utterances/{ident['request_id']}/language")
            assert got.status_code == 200, got.text
            assert got.json()["language"] == ident["language"] == "sv"
            assert got.json()["probabilities"] == pytest.approx(ident["probabilities"], abs=1e-5)
            assert client.get("/v1/utterances/never-pushed/language").status_code == 404
            metrics = client.get("/metrics").text
            pushed = metric_value(metrics, "nordlid_online_pushes_total", view="servetone")
            assert pushed == 1.0, metrics
    finally:
        _cleanup(redis_url, feast_env)


def test_feast_redis_outage_and_recovery(
    served_workdir,
    feast_env,
    own_redis,
    monkeypatch,
    rng,
) -> None:
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    _apply(served_workdir)

    def identify(client, lang):
        r = client.post(
            "/v1/identify",
            files={"file": ("a.wav", wav_bytes(tone(lang, 1.5, rng=rng)), "audio/wav")},
        )
        assert r.status_code == 200, r.text
        client.app.state.service.pusher.join()
        return r.json()

    settings = {"workdir": served_workdir.root, "push_attempts": 2, "push_backoff_s": 0.01}
    with _client(own_redis.url, premium_model="", **settings) as client:
        first = identify(client, "da")
        assert client.get(f"/v1/utterances/{first['request_id']}/language").status_code == 200

        own_redis.stop()
        down = client.get(f"/v1/utterances/{first['request_id']}/language")
        assert down.status_code == 503, down.text
        assert "online store did not answer" in down.json()["detail"]
        during = identify(client, "is")
        assert during["language"] == "is"
        assert client.get("/readyz").status_code == 503
        metrics = client.get("/metrics").text
        failures = metric_value(metrics, "nordlid_online_push_failures_total", view="servetone")
        assert failures == 1.0, metrics

        own_redis.start()
        assert client.get("/readyz").status_code == 200
        after = identify(client, "no")
        back = client.get(f"/v1/utterances/{after['request_id']}/language")
        assert back.status_code == 200 and back.json()["language"] == "no"
