"""Streaming identification, the mini → premium cascade, and `nordlid predict`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from serving_toys import PITCH, set_threshold, tone, tone_at, wav_bytes

from serving.predictor import should_escalate


def _pcm16(wave: np.ndarray) -> bytes:
    return (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.mark.integration
def test_stream_partials_every_second_and_final(make_client, served_workdir, rng) -> None:
    client = make_client()
    pcm = _pcm16(tone("fo", 3.5, rng=rng, sr=8000))
    step = 4001  # odd byte count: a sample split across chunks must be reassembled
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": 8000}))
        assert ws.receive_json() == {"type": "ready", "sample_rate": 8000}
        for i in range(0, len(pcm), step):
            ws.send_bytes(pcm[i : i + step])
        ws.send_text(json.dumps({"event": "end"}))
        messages = []
        while True:
            msg = ws.receive_json()
            messages.append(msg)
            if msg["type"] != "partial":
                break
    partials, final = messages[:-1], messages[-1]
    assert [round(p["received_s"]) for p in partials] == [1, 2, 3]
    assert all(p["language"] == "fo" for p in partials[1:])
    assert final["type"] == "final" and final["language"] == "fo"
    assert final["duration_s"] == pytest.approx(3.5, abs=1e-3)
    assert final["request_id"]
    client.__exit__(None, None, None)
    log = pd.read_parquet(served_workdir.serving_log)
    assert log["route"].tolist() == ["/v1/stream"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("first", "needle"),
    [("hello", "must be JSON"), ('{"sample_rate": 3}', "between 8000"), ("[]", "sample_rate")],
)
def test_stream_bad_opening(make_client, first, needle) -> None:
    with make_client().websocket_connect("/v1/stream") as ws:
        ws.send_text(first)
        msg = ws.receive_json()
    assert msg["type"] == "error" and needle in msg["detail"]


@pytest.mark.integration
def test_stream_too_short(make_client, rng) -> None:
    with make_client().websocket_connect("/v1/stream") as ws:
        ws.send_text('{"sample_rate": 16000}')
        ws.receive_json()
        ws.send_bytes(_pcm16(tone("da", 0.3, rng=rng)))
        ws.send_text("end")
        msg = ws.receive_json()
    assert msg["type"] == "error" and msg["status"] == 422 and "too short" in msg["detail"]


def test_should_escalate_rule() -> None:
    assert should_escalate(0.4, 0.5, True)
    assert not should_escalate(0.6, 0.5, True)
    assert not should_escalate(0.5, 0.5, True)  # at the threshold the mini model answers
    assert not should_escalate(0.1, 0.5, False)  # nothing to escalate to
    assert not should_escalate(0.1, None, True)  # no tuned threshold: no cascade


def _identify(client, rng, lang="is"):
    r = client.post(
        "/v1/identify", files={"file": ("x.wav", wav_bytes(tone(lang, 1.5, rng=rng)), "audio/wav")}
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.integration
def test_cascade_follows_the_card_threshold(make_client, served_workdir, rng) -> None:
    set_threshold(served_workdir, "@mini", 0.0)
    never = make_client()
    body = _identify(never, rng)
    assert (body["escalated"], body["model"]) == (False, "tone-mini@1")

    set_threshold(served_workdir, "@mini", 1.01)  # nothing is that sure: always escalate
    assert never.post("/v1/models/reload").status_code == 200
    body = _identify(never, rng, "sv")
    assert (body["escalated"], body["model"], body["language"]) == (True, "tone-premium@1", "sv")
    metrics = never.get("/metrics").text
    assert "nordlid_escalation_rate 0.5" in metrics
    assert 'nordlid_predictions_total{escalated="true",model="tone-premium@1"' in metrics

    # by id: both views were pushed, so the online cascade escalates too
    never.app.state.service.pusher.join()
    by_id = never.get(f"/v1/utterances/{body['request_id']}/language").json()
    assert (by_id["escalated"], by_id["model"], by_id["language"]) == (True, "tone-premium@1", "sv")
    never.__exit__(None, None, None)
    log = pd.read_parquet(served_workdir.serving_log)
    assert log["escalated"].tolist() == [False, True]
    assert log["servefine__bands"].isna().tolist() == [True, False]

    alone = make_client(premium_model="")
    body = _identify(alone, rng)
    assert (body["escalated"], body["model"]) == (False, "tone-mini@1")


@pytest.mark.integration
def test_only_unsure_inputs_escalate(served_workdir, rng) -> None:
    """A pitch between two classes leaves the mini model unsure; with the threshold between
    the two confidences only that input goes to the premium model."""
    from serving.adapters import ExtractorFeatureComputer, RegistryModelLoader
    from serving.predictor import Predictor

    loader, feats = RegistryModelLoader(served_workdir), ExtractorFeatureComputer()
    probe = Predictor.load(loader, feats, premium_ref=None)
    clean = tone("sv", 1.5, rng=rng)
    mixed = tone_at((PITCH["da"] + PITCH["fo"]) / 2, 1.5, rng=rng)
    c_clean = probe.identify(clean).confidence
    c_mixed = probe.identify(mixed).confidence
    assert c_mixed < c_clean
    set_threshold(served_workdir, "@mini", (c_clean + c_mixed) / 2)
    cascade = Predictor.load(loader, feats)
    assert cascade.identify(clean).escalated is False
    unsure = cascade.identify(mixed)
    assert unsure.escalated is True and unsure.model == "tone-premium@1"
    assert set(unsure.features) == {"servetone", "servefine"}


def test_predict_cli_json_lines(served_workdir, rng, tmp_path) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.wav").write_bytes(wav_bytes(tone("no", 1.5, rng=rng)))
    (folder / "sub" / "b.flac").write_bytes(wav_bytes(tone("da", 1.5, rng=rng), fmt="FLAC"))
    (folder / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    (folder / "notes.txt").write_text("ignored: not audio by extension")
    single = tmp_path / "c.ogg"
    single.write_bytes(wav_bytes(tone("is", 1.5, rng=rng), fmt="OGG", subtype="VORBIS"))
    result = CliRunner().invoke(
        app,
        [
            "--workdir",
            str(served_workdir.root),
            "predict",
            str(single),
            str(folder),
            str(tmp_path / "missing.wav"),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    by_name = {p["path"].rsplit("/", 1)[-1]: p for p in lines}
    assert set(by_name) == {"c.ogg", "a.wav", "b.flac", "broken.wav", "missing.wav"}
    assert [by_name[n]["language"] for n in ("c.ogg", "a.wav", "b.flac")] == ["is", "no", "da"]
    assert set(by_name["a.wav"]) >= {"path", "language", "confidence", "probabilities", "model"}
    assert "error" in by_name["broken.wav"] and "does not exist" in by_name["missing.wav"]["error"]


def test_predict_cli_without_model_is_one_line_exit_2(workdir, tmp_path) -> None:
    from pipeline.cli import main

    clip = tmp_path / "a.wav"
    clip.write_bytes(wav_bytes(np.zeros(16_000, np.float32)))
    with pytest.raises(SystemExit) as exit_info:
        main(["--workdir", str(workdir.root), "predict", str(clip)])
    assert exit_info.value.code == 2


@pytest.mark.integration
def test_premium_without_weights_disables_the_cascade(make_client, served_workdir, rng) -> None:
    from serving_toys import fine_spec

    from extractors import registry
    from extractors.registry import RegistryEntry

    broken = RegistryEntry("servefine", fine_spec, "serving_toys:MissingWeightsExtractor", "x")
    registry._ENTRIES["servefine"] = broken  # restored by the toy_registry fixture
    set_threshold(served_workdir, "@mini", 1.01)
    client = make_client()
    assert [m["role"] for m in client.get("/v1/models").json()["models"]] == ["mini"]
    body = _identify(client, rng)
    assert (body["escalated"], body["model"]) == (False, "tone-mini@1")


@pytest.mark.integration
def test_mini_without_weights_is_not_ready(make_client, served_workdir) -> None:
    from serving_toys import tone_spec

    from extractors import registry
    from extractors.registry import RegistryEntry

    broken = RegistryEntry("servetone", tone_spec, "serving_toys:MissingWeightsExtractor", "x")
    registry._ENTRIES["servetone"] = broken
    ready = make_client().get("/readyz")
    assert ready.status_code == 503
    assert "toy/fine-ckpt" in ready.json()["checks"]["models"]
