"""The HTTP interface on the happy path: identify (every container), by-id, feedback,
models, health, metrics, and the serving/feedback logs monitoring reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from serving_toys import metric_value, tone, wav_bytes

from nordlid import LANGUAGES

FORMATS = [
    ("WAV", "PCM_16", "a.wav"),
    ("FLAC", "PCM_16", "a.flac"),
    ("OGG", "VORBIS", "a.ogg"),
    ("MP3", "MPEG_LAYER_III", "a.mp3"),
]


@pytest.mark.integration
@pytest.mark.parametrize(("fmt", "subtype", "name"), FORMATS)
def test_identify_decodes_every_container(make_client, rng, fmt, subtype, name) -> None:
    client = make_client()
    wave = tone("is", 2.0, rng=rng)
    r = client.post(
        "/v1/identify", files={"file": (name, wav_bytes(wave, 16_000, fmt, subtype), "audio/x")}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "language",
        "language_name",
        "confidence",
        "probabilities",
        "model",
        "escalated",
        "duration_s",
        "request_id",
    }
    assert body["language"] == "is"
    assert body["language_name"] == "Icelandic"
    assert set(body["probabilities"]) == set(LANGUAGES)
    assert abs(sum(body["probabilities"].values()) - 1.0) < 1e-6
    assert body["confidence"] == max(body["probabilities"].values())
    assert body["duration_s"] == pytest.approx(2.0, abs=0.06)  # MP3 frames pad a little


@pytest.mark.integration
def test_stereo_44k_is_downmixed_and_resampled(make_client, rng) -> None:
    client = make_client()
    mono = tone("sv", 1.5, rng=rng, sr=44_100)
    stereo = np.stack([mono, mono * 0.5], axis=1)
    r = client.post(
        "/v1/identify", files={"file": ("s.wav", wav_bytes(stereo, 44_100), "audio/wav")}
    )
    assert r.status_code == 200, r.text
    assert r.json()["language"] == "sv", r.json()
    assert r.json()["duration_s"] == pytest.approx(1.5, abs=1e-3)


@pytest.mark.integration
def test_identify_pushes_features_and_by_id_reads_them_back(make_client, rng) -> None:
    client = make_client(premium_model="")
    r = client.post(
        "/v1/identify", files={"file": ("x.wav", wav_bytes(tone("no", 1.5, rng=rng)), "audio/wav")}
    )
    assert r.status_code == 200
    ident = r.json()
    client.app.state.service.pusher.join()
    by_id = client.get(f"/v1/utterances/{ident['request_id']}/language")
    assert by_id.status_code == 200, by_id.text
    got = by_id.json()
    assert got["language"] == ident["language"] == "no"
    assert got["utterance_id"] == ident["request_id"]
    assert got["probabilities"] == pytest.approx(ident["probabilities"], abs=1e-5)


@pytest.mark.integration
def test_unknown_utterance_is_404(make_client) -> None:
    r = make_client().get("/v1/utterances/no-such-utterance/language")
    assert r.status_code == 404
    assert "no-such-utterance" in r.json()["detail"]


@pytest.mark.integration
def test_serving_and_feedback_logs_are_written_on_shutdown(
    make_client, served_workdir, rng
) -> None:
    client = make_client()
    ids = []
    for lang in ("da", "sv"):
        r = client.post(
            "/v1/identify",
            files={"file": ("x.wav", wav_bytes(tone(lang, 1.3, rng=rng)), "audio/wav")},
        )
        ids.append(r.json()["request_id"])
    fb = client.post("/v1/feedback", json={"request_id": ids[0], "language": "da"})
    assert fb.status_code == 200, fb.text
    assert (
        client.post("/v1/feedback", json={"request_id": "nope", "language": "da"}).status_code
        == 404
    )
    bad = client.post("/v1/feedback", json={"request_id": ids[0], "language": "en"})
    assert bad.status_code == 422 and "'en'" in bad.json()["detail"]
    missing = client.post("/v1/feedback", json={"language": "da"})
    assert missing.status_code == 422 and "request_id" in missing.json()["detail"]
    assert not list(served_workdir.serving_log.glob("*.parquet"))  # buffered, not yet flushed
    client.__exit__(None, None, None)

    log = pd.read_parquet(served_workdir.serving_log)
    assert list(log["request_id"]) == ids
    assert {
        "timestamp",
        "model",
        "language",
        "confidence",
        "probabilities",
        "escalated",
        "duration_s",
        "timings",
        "servetone__bands",
        "servetone__zcr",
    } <= set(log.columns)
    assert json.loads(log["probabilities"][0]).keys() == set(LANGUAGES)
    assert len(log["servetone__bands"][0]) == 16
    assert "total_ms" in json.loads(log["timings"][0])
    feedback = pd.read_parquet(served_workdir.feedback_log)
    assert feedback[["request_id", "language"]].values.tolist() == [[ids[0], "da"]]


@pytest.mark.integration
def test_feedback_index_survives_restart(make_client, rng) -> None:
    first = make_client()
    rid = first.post(
        "/v1/identify", files={"file": ("x.wav", wav_bytes(tone("da", 1.2, rng=rng)), "audio/wav")}
    ).json()["request_id"]
    first.__exit__(None, None, None)  # flushes the serving log
    second = make_client()
    assert (
        second.post("/v1/feedback", json={"request_id": rid, "language": "da"}).status_code == 200
    )


@pytest.mark.integration
def test_models_health_ready_metrics(make_client, rng) -> None:
    client = make_client()
    models = client.get("/v1/models").json()["models"]
    assert [m["role"] for m in models] == ["mini", "premium"]
    assert models[0]["model"] == "tone-mini@1"
    assert models[0]["features"] == ["servetone__bands", "servetone__zcr"]
    assert client.get("/healthz").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/identify",
        "/v1/utterances/{utterance_id}/language",
        "/v1/feedback",
        "/v1/models",
        "/v1/models/reload",
        "/healthz",
        "/readyz",
    } <= set(paths)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    good = client.post(
        "/v1/identify", files={"file": ("x.wav", wav_bytes(tone("da", 1.2, rng=rng)), "audio/wav")}
    )
    assert good.status_code == 200, good.text
    client.post("/v1/identify", files={"file": ("x.wav", b"garbage", "audio/wav")})
    text = client.get("/metrics").text
    ok = metric_value(text, "nordlid_requests_total", route="/v1/identify", status="200")
    bad = metric_value(text, "nordlid_requests_total", route="/v1/identify", status="415")
    # exact counts: each app counts only its own requests (see test_serving_metrics.py)
    assert (ok, bad) == (1.0, 1.0), text
    count = metric_value(
        text, "nordlid_request_latency_seconds_count", model="tone-mini@1", route="/v1/identify"
    )
    assert count == 1.0, text
    assert "nordlid_escalation_rate" in text
    assert "nordlid_online_push_failures_total" in text


@pytest.mark.integration
def test_reload_swaps_models_from_the_aliases(make_client, served_workdir) -> None:
    from training.registry import ModelRegistry

    client, other = make_client(), make_client()
    reg = ModelRegistry(served_workdir.models)
    card = reg.load_card("@mini")
    version, path = reg.new_version(card.name)
    for f in card.files:
        (path / f).write_bytes((reg.path("@mini") / f).read_bytes())
    reg.write_card(card.model_copy(update={"version": version}))
    reg.set_alias(f"{card.name}@{version}", "mini")
    assert client.get("/v1/models").json()["models"][0]["model"] == "tone-mini@1"
    r = client.post("/v1/models/reload")
    assert r.status_code == 200, r.text
    assert r.json()["models"][0]["model"] == f"tone-mini@{version}"
    assert client.get("/v1/models").json()["models"][0]["model"] == f"tone-mini@{version}"
    # another worker process of the same deployment follows on its next (1 s) tick
    other.app.state.service.tick()
    assert other.get("/v1/models").json()["models"][0]["model"] == f"tone-mini@{version}"


@pytest.mark.integration
def test_without_models_the_service_starts_but_is_not_ready(
    make_client, served_workdir, rng
) -> None:
    client = make_client(mini_model="no-such-model")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "no-such-model" in ready.json()["checks"]["models"]
    r = client.post(
        "/v1/identify", files={"file": ("x.wav", wav_bytes(tone("da", 1.2, rng=rng)), "audio/wav")}
    )
    assert r.status_code == 503 and "no-such-model" in r.json()["detail"]


@pytest.mark.integration
def test_concurrent_requests_all_answered_and_logged(make_client, served_workdir) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = make_client(premium_model="")
    langs = ["da", "fo", "is", "no", "sv"] * 2
    bodies = [
        wav_bytes(tone(lang, 1.2, rng=np.random.default_rng(i))) for i, lang in enumerate(langs)
    ]

    def post(body: bytes):
        return client.post("/v1/identify", files={"file": ("x.wav", body, "audio/wav")})

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(post, bodies))
    assert [r.status_code for r in responses] == [200] * len(langs)
    assert [r.json()["language"] for r in responses] == langs
    assert len({r.json()["request_id"] for r in responses}) == len(langs)
    client.__exit__(None, None, None)
    assert len(pd.read_parquet(served_workdir.serving_log)) == len(langs)
