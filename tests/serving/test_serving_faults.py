"""Faults: a Redis outage during the test (our own redis-server), and the API key."""

from __future__ import annotations

import uuid

import pytest
from serving_toys import RedisHashStore, tone, wav_bytes

pytestmark = pytest.mark.integration


def _identify(client, rng, lang: str = "da"):
    return client.post(
        "/v1/identify", files={"file": ("x.wav", wav_bytes(tone(lang, 1.3, rng=rng)), "audio/wav")}
    )


def test_redis_outage_and_recovery(make_client, own_redis, rng) -> None:
    store = RedisHashStore(
        own_redis.url, f"outage-{uuid.uuid4().hex[:6]}", {"lid_servetone": ["servetone"]}
    )
    client = make_client(store=store, premium_model="", push_attempts=2, push_backoff_s=0.01)
    pusher = client.app.state.service.pusher
    before = _identify(client, rng).json()
    pusher.join()
    assert client.get(f"/v1/utterances/{before['request_id']}/language").status_code == 200

    own_redis.stop()
    down = client.get(f"/v1/utterances/{before['request_id']}/language")
    assert down.status_code == 503
    assert "Redis did not answer" in down.json()["detail"]
    response = _identify(client, rng, "sv")
    assert response.status_code == 200 and response.json()["language"] == "sv"
    during = response.json()
    pusher.join()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "Redis" in ready.json()["checks"]["online_store"]
    metrics = client.get("/metrics").text
    assert 'nordlid_online_push_failures_total{view="servetone"} 1.0' in metrics
    assert "nordlid_online_store_errors_total 1.0" in metrics

    own_redis.start()  # an empty Redis (no persistence): recovery, not data survival
    assert client.get("/readyz").status_code == 200
    after = _identify(client, rng, "no").json()
    pusher.join()
    back = client.get(f"/v1/utterances/{after['request_id']}/language")
    assert back.status_code == 200 and back.json()["language"] == "no"
    assert client.get(f"/v1/utterances/{during['request_id']}/language").status_code == 404


def test_api_key_required_on_v1_only(make_client, rng) -> None:
    client = make_client(api_key="s3cret")
    r = client.get("/v1/models")
    assert r.status_code == 401 and "missing API key" in r.json()["detail"]
    r = client.get("/v1/models", headers={"X-API-Key": "wrong"})
    assert r.status_code == 403 and r.json()["detail"] == "wrong API key"
    assert client.get("/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post("/v1/models/reload").status_code == 401
    assert client.post("/v1/models/reload", headers={"X-API-Key": "s3cret"}).status_code == 200
    no_key = client.post(
        "/v1/identify", files={"file": ("x.wav", wav_bytes(tone("da", 1.2, rng=rng)), "audio/wav")}
    )
    assert no_key.status_code == 401
    # authentication comes before any look at the body
    assert client.post("/v1/identify", json={"x": 1}).status_code == 401
    wrong = client.post("/v1/identify", json={}, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 403 and wrong.json()["detail"] == "wrong API key"
    assert client.get("/v1/utterances/x/language").status_code == 401
    assert (
        client.post("/v1/feedback", json={"request_id": "x", "language": "da"}).status_code == 401
    )
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200, path


def test_api_key_on_the_stream(make_client) -> None:
    """A refused stream is accepted, told why ({"type": "error"}) and closed with 1008 (a
    handshake denial makes uvicorn log an error); the key comes in a header or the
    ``nordlid.key.<key>`` subprotocol, never in the URL."""
    from starlette.websockets import WebSocketDisconnect

    client = make_client(api_key="s3cret")
    for headers, url, status in (
        ({}, "/v1/stream", 401),
        ({"X-API-Key": "x"}, "/v1/stream", 403),
        ({}, "/v1/stream?api_key=s3cret", 401),  # the query parameter is gone
    ):
        with client.websocket_connect(url, headers=headers) as ws:
            msg = ws.receive_json()
            assert (msg["type"], msg["status"]) == ("error", status), msg
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        assert closed.value.code == 1008
    with client.websocket_connect("/v1/stream", headers={"X-API-Key": "s3cret"}) as ws:
        ws.send_text('{"sample_rate": 16000}')
        assert ws.receive_json()["type"] == "ready"
    with client.websocket_connect("/v1/stream", headers={"Authorization": "Bearer s3cret"}) as ws:
        ws.send_text('{"sample_rate": 16000}')
        assert ws.receive_json()["type"] == "ready"
    protocols = ["nordlid", "nordlid.key.s3cret"]
    with client.websocket_connect("/v1/stream", subprotocols=protocols) as ws:
        assert ws.accepted_subprotocol == "nordlid"  # the key is never echoed
        ws.send_text('{"sample_rate": 16000}')
        assert ws.receive_json()["type"] == "ready"
