"""The service under hostile input (issue 22): WebSocket fuzz, bodies refused before they
are read, the API key kept out of the log, stream timeouts and limits, and the no-speech
answer for silence, noise and tones on every entry point."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serving_toys import tone, wav_bytes
from starlette.websockets import WebSocketDisconnect

from nordlid import LANGUAGES

pytestmark = pytest.mark.integration

SR = 16_000
NESTED = "[" * 100_000
CONFIG = json.dumps({"sample_rate": SR})


# --- signals -------------------------------------------------------------------------------
def silence(seconds: float = 3.0) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


def white(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


def pink(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(spectrum.size)
    k[0] = 1
    wave = np.fft.irfft(spectrum / np.sqrt(k), n)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def sine(seconds: float = 3.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


NON_SPEECH = {
    "silence": silence,
    "white noise": white,
    "pink noise": pink,
    "sine 440 Hz": sine,
    "sine 200 Hz": lambda: sine(hz=200.0),
}


def espeak(tmp_path: Path, text: str = "Góðan daginn, ég heiti Jón og ég bý í Reykjavík.") -> bytes:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    out = tmp_path / f"speech-{uuid.uuid4().hex[:6]}.wav"
    subprocess.run(["espeak-ng", "-v", "is", "-w", str(out), text], check=True)
    return out.read_bytes()


def pcm16(wave: np.ndarray) -> bytes:
    return (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()


def speech_wave(tmp_path: Path) -> np.ndarray:
    from nordlid.audio import decode, to_model_input

    return to_model_input(decode(espeak(tmp_path), "speech.wav"))


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# --- WebSocket fuzz (TestClient) -----------------------------------------------------------
WS_CASES = [
    # (case, frames, status, close code, needle)
    ("binary first frame", [b"\x00\x01" * 500], 400, 1003, "binary frame of 1000 bytes"),
    ("empty binary first frame", [b""], 400, 1003, "binary frame of 0 bytes"),
    ("nested JSON config", [NESTED], 413, 1009, "100000 characters is too long"),
    ("nested JSON config under the cap", ["[" * 3000], 400, 1003, "nested too deeply"),
    ("garbage config", ["\x00\xff garbage"], 400, 1003, "must be JSON"),
    ("config of the wrong type", ['{"sample_rate": "x' + "y" * 200 + '"}'], 422, 1003, "str"),
    ("nested text after config", [CONFIG, NESTED], 413, 1009, "too long"),
    ("nested short text after config", [CONFIG, "[" * 3000], 400, 1003, "binary PCM"),
    ("garbage text after config", [CONFIG, "hello"], 400, 1003, "binary PCM"),
    ("end before any audio", [CONFIG, "end"], 422, 1003, "too short"),
]


def _ws_run(client: Any, frames: list[bytes | str], url: str = "/v1/stream") -> tuple[list, int]:
    """Send every frame, then read messages until the server closes: (messages, code)."""
    messages: list[dict[str, Any]] = []
    with client.websocket_connect(url) as ws:
        for frame in frames:
            if isinstance(frame, bytes):
                ws.send_bytes(frame)
            else:
                ws.send_text(frame)
        try:
            while True:
                messages.append(ws.receive_json())
        except WebSocketDisconnect as closed:
            return messages, closed.code


@pytest.mark.parametrize(
    ("case", "frames", "status", "code", "needle"), WS_CASES, ids=[c[0] for c in WS_CASES]
)
def test_stream_fuzz_is_an_error_message_and_a_close_code(
    make_client, caplog, case, frames, status, code, needle
) -> None:
    client = make_client()
    messages, closed = _ws_run(client, frames)
    error = messages[-1]
    assert error["type"] == "error" and error["status"] == status, (case, messages)
    assert needle in error["detail"], error["detail"]
    assert len(error["detail"]) < 400  # never the hostile payload echoed back
    assert closed == code
    assert _errors(caplog) == []
    # and the service goes on serving streams
    messages, closed = _ws_run(
        client, [CONFIG, pcm16(tone("da", 1.2, rng=np.random.default_rng(0))), "end"]
    )
    assert messages[-1]["type"] == "final" and closed == 1000


def test_stream_client_disconnects_anywhere(make_client, caplog, rng) -> None:
    client = make_client()
    with client.websocket_connect("/v1/stream"):
        pass  # before the config
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(CONFIG)
        ws.receive_json()
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(CONFIG)
        ws.receive_json()
        ws.send_bytes(pcm16(tone("sv", 2.5, rng=rng)))  # partials due, client gone
    assert _errors(caplog) == []
    messages, closed = _ws_run(client, [CONFIG, pcm16(tone("sv", 1.2, rng=rng)), "end"])
    assert messages[-1]["type"] == "final" and closed == 1000


def test_stream_config_and_idle_timeouts(make_client, caplog, rng) -> None:
    client = make_client(stream_config_timeout_s=0.2, stream_idle_timeout_s=0.3)
    messages, closed = _ws_run(client, [])  # never sends the config
    assert (
        messages[-1]["status"] == 408
        and "no config message within 0.2 s" in (messages[-1]["detail"])
    )
    assert closed == 1008
    messages, closed = _ws_run(client, [CONFIG, pcm16(tone("da", 0.5, rng=rng))])  # then idle
    assert messages[0]["type"] == "ready"
    assert messages[-1]["status"] == 408 and "no message within 0.3 s" in messages[-1]["detail"]
    assert closed == 1008
    assert _errors(caplog) == []


def test_concurrent_streams_are_capped(make_client) -> None:
    client = make_client(max_streams=1)
    with client.websocket_connect("/v1/stream") as first:
        first.send_text(CONFIG)
        assert first.receive_json()["type"] == "ready"
        messages, closed = _ws_run(client, [CONFIG])
        assert messages[-1]["status"] == 503 and "limit 1" in messages[-1]["detail"]
        assert closed == 1013
    messages, _ = _ws_run(client, [CONFIG])  # the slot is free again
    assert messages[0]["type"] == "ready"


# --- bodies refused before they are read (ASGI level) --------------------------------------
async def _asgi(
    app: Any, method: str, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, Any], int]:
    """One HTTP request straight into the ASGI app: (status, JSON body, chunks read)."""
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {
                "type": "http.request",
                "body": chunks[read - 1],
                "more_body": read < len(chunks),
            }
        await asyncio.sleep(3600)  # a client that never finishes: must not be waited for
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), 30)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), read


def _routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves: the OpenAPI paths and the top-level routes."""
    out = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    out |= {(m, r.path) for r in app.routes for m in getattr(r, "methods", None) or ()}
    return sorted((m, p.replace("{utterance_id}", "x")) for m, p in out)


def test_every_route_refuses_a_declared_oversize_body_unread(make_client) -> None:
    client = make_client(max_json_body_bytes=4096, max_upload_bytes=50_000)
    routes = _routes(client.app)
    assert ("POST", "/v1/feedback") in routes and ("POST", "/v1/identify") in routes
    for method, path in routes:
        size = 10 * 1024 * 1024
        headers = {"content-length": str(size), "content-type": "application/json"}
        if path == "/v1/identify":
            headers["content-type"] = "multipart/form-data; boundary=x"
        status, body, read = asyncio.run(_asgi(client.app, method, path, headers, [b"x"] * 3))
        assert status == 413, (method, path, body)
        assert f"body of {size} bytes is too large" in body["detail"]
        assert read == 0, (method, path)


def test_unauthenticated_requests_are_refused_before_the_body(make_client) -> None:
    client = make_client(api_key="s3cret")
    for method, path in _routes(client.app):
        if not path.startswith("/v1/"):
            continue
        for headers in ({"content-length": "300000000"}, {}, {"x-api-key": "wrong"}):
            status, body, read = asyncio.run(_asgi(client.app, method, path, headers, [b"{"] * 3))
            assert status in (401, 403) and "API key" in body["detail"], (method, path, body)
            assert read == 0, (method, path, headers)


@pytest.mark.parametrize("path", ["/v1/feedback", "/v1/identify"])
def test_a_streamed_body_is_cut_off_at_the_limit(make_client, path) -> None:
    client = make_client(max_json_body_bytes=16_384, max_upload_bytes=16_384)
    chunk, count = b"7" * 8192, 1000  # 8 MB, no Content-Length
    ctype = "application/json" if path == "/v1/feedback" else "multipart/form-data; boundary=x"
    head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    chunks = [chunk] * count if path == "/v1/feedback" else [head] + [chunk] * count
    status, body, read = asyncio.run(
        _asgi(client.app, "POST", path, {"content-type": ctype}, chunks)
    )
    assert status == 413 and "too large" in body["detail"], body
    limit = 16_384 + (64 * 1024 if path == "/v1/identify" else 0)
    assert read <= limit // len(chunk) + 1  # reading stopped just past the limit


def test_feedback_body_limit_over_http(make_client) -> None:
    client = make_client(max_json_body_bytes=2048)
    r = client.post(
        "/v1/feedback",
        content=b"{" + b" " * 5000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and "limit 2048 bytes" in r.json()["detail"]
    r = client.post("/v1/feedback", json={"request_id": "x", "language": "da"})
    assert r.status_code == 404  # a small body still gets through to the route


def test_unknown_utterance_404_echoes_a_capped_id(make_client) -> None:
    r = make_client().get("/v1/utterances/" + "a" * 10_000 + "/language")
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert "a" * 64 + "…" in detail and len(detail) < 300


def test_redaction_of_secret_query_parameters() -> None:
    from serving.guard import redact

    line = '127.0.0.1:5 - "WebSocket /v1/stream?api_key=abc&x=1&token=t0k" 403'
    assert (
        redact(line)
        == '127.0.0.1:5 - "WebSocket /v1/stream?api_key=<redacted>&x=1&token=<redacted>" 403'
    )


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("NORDLID_STREAM_IDLE_TIMEOUT_S", "0"),
        ("NORDLID_STREAM_CONFIG_TIMEOUT_S", "-1"),
        ("NORDLID_MAX_STREAMS", "0"),
        ("NORDLID_MAX_JSON_BODY_BYTES", "10"),
        ("NORDLID_MIN_SPEECH_S", "-0.1"),
    ],
)
def test_new_settings_are_validated(monkeypatch, var, value) -> None:
    from nordlid.errors import ConfigError
    from serving.settings import load_settings

    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert f"{var}={value!r}" in str(info.value)


# --- no speech -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(NON_SPEECH))
def test_identify_answers_no_speech_for_silence_noise_and_tones(make_client, name) -> None:
    client = make_client(min_speech_s=0.3)
    r = client.post(
        "/v1/identify", files={"file": ("x.wav", wav_bytes(NON_SPEECH[name]()), "audio/wav")}
    )
    assert r.status_code == 422, (name, r.text)
    body = r.json()
    assert body["reason"] == "no_speech" and body["speech_s"] < 0.3
    assert "holds no speech" in body["detail"]
    assert "language" not in body and "confidence" not in body


def test_identify_still_answers_real_speech(make_client, tmp_path) -> None:
    client = make_client(min_speech_s=0.3)
    r = client.post("/v1/identify", files={"file": ("s.wav", espeak(tmp_path), "audio/wav")})
    assert r.status_code == 200, r.text
    assert r.json()["language"] in LANGUAGES


def test_no_speech_is_documented_in_openapi(make_client) -> None:
    schema = make_client().get("/openapi.json").json()
    answer = schema["paths"]["/v1/identify"]["post"]["responses"]["422"]
    assert "no_speech" in answer["description"]
    ref = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {
        "detail",
        "reason",
        "speech_s",
    }


def _stream_wave(client: Any, wave: np.ndarray) -> tuple[list[dict[str, Any]], int]:
    pcm = pcm16(wave)
    frames: list[bytes | str] = [CONFIG]
    frames += [pcm[i : i + 8000] for i in range(0, len(pcm), 8000)]
    return _ws_run(client, [*frames, "end"])


@pytest.mark.parametrize("name", ["silence", "white noise", "sine 440 Hz"])
def test_stream_answers_no_speech(make_client, name) -> None:
    client = make_client(min_speech_s=0.3)
    messages, closed = _stream_wave(client, NON_SPEECH[name]())
    partials, final = messages[1:-1], messages[-1]
    assert partials and all(p["language"] is None and p["reason"] == "no_speech" for p in partials)
    assert final["type"] == "final" and final["language"] is None, final
    assert final["reason"] == "no_speech" and final["speech_s"] < 0.3
    assert closed == 1000


def test_stream_still_answers_real_speech(make_client, tmp_path) -> None:
    client = make_client(min_speech_s=0.3)
    messages, closed = _stream_wave(client, speech_wave(tmp_path))
    assert messages[-1]["type"] == "final" and messages[-1]["language"] in LANGUAGES
    assert closed == 1000


def test_the_vad_runs_once_per_request_and_once_per_streamed_sample(
    make_client, vad_calls: list[int], tmp_path
) -> None:
    calls = vad_calls
    client = make_client(min_speech_s=0.3)
    speech = speech_wave(tmp_path)
    r = client.post("/v1/identify", files={"file": ("s.wav", wav_bytes(speech), "audio/wav")})
    assert r.status_code == 200 and calls == [speech.size]
    calls.clear()
    messages, _ = _stream_wave(client, speech)
    predictions = [m for m in messages if m["type"] in ("partial", "final")]
    assert len(predictions) >= 3  # partials at 1, 2, 3 s and the final
    assert sum(calls) == speech.size  # every sample scanned once, not the buffer each time


def test_predict_cli_answers_no_speech(served_workdir, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv("NORDLID_MIN_SPEECH_S", "0.3")
    folder = tmp_path / "clips"
    folder.mkdir()
    for name, make in NON_SPEECH.items():
        (folder / f"{name.replace(' ', '_')}.wav").write_bytes(wav_bytes(make()))
    (folder / "speech.wav").write_bytes(espeak(tmp_path))
    result = CliRunner().invoke(
        app, ["--workdir", str(served_workdir.root), "predict", str(folder)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    by_name = {Path(p["path"]).stem: p for p in lines}
    assert len(by_name) == len(NON_SPEECH) + 1
    for name in NON_SPEECH:
        line = by_name[name.replace(" ", "_")]
        assert line["language"] is None and line["reason"] == "no_speech", line
        assert line["speech_s"] < 0.3 and "confidence" not in line
    assert by_name["speech"]["language"] in LANGUAGES


def _tones() -> dict[str, np.ndarray]:
    t = np.arange(3 * SR) / SR
    out = {
        f"sine {hz} Hz x{a}": a * np.sin(2 * np.pi * hz * t)
        for hz in (60, 150, 300, 1000, 3000, 7000)
        for a in (0.01, 0.5, 0.99)
    }
    out["square 140 Hz"] = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t))
    out["tone at a syllable rate (4 Hz AM)"] = (
        0.5 * np.sin(2 * np.pi * 200 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    )
    out["chirp 100-1600 Hz"] = 0.5 * np.sin(2 * np.pi * (100 + 250 * t) * t)
    out["DC offset"] = np.full(t.size, 0.5)
    out["clipped white noise"] = np.clip(np.random.default_rng(3).standard_normal(t.size), -1, 1)
    return {k: v.astype(np.float32) for k, v in out.items()}


def test_silero_vad_alone_finds_no_speech_in_tones_and_noise(tmp_path) -> None:
    """Why the gate needs no extra spectral-flatness or harmonicity check."""
    from serving.speech import NoSpeechError, SpeechGate

    gate = SpeechGate(0.3)
    for name, wave in {**_tones(), **{k: f() for k, f in NON_SPEECH.items()}}.items():
        assert gate.speech_seconds(wave) == 0.0, name
        with pytest.raises(NoSpeechError):
            gate.check(wave)
    assert gate.check(speech_wave(tmp_path)) > 1.0


def test_stream_speech_scanned_in_chunks_agrees_with_the_whole_wave(tmp_path) -> None:
    from serving.speech import SpeechGate, StreamSpeech

    gate = SpeechGate(0.3)
    wave = speech_wave(tmp_path)
    stream = StreamSpeech(gate, window_s=30.0)
    for i in range(0, wave.size, 4000):
        stream.add(wave[i : i + 4000])
        stream.speech_seconds()
    assert abs(stream.speech_seconds() - gate.speech_seconds(wave)) < 0.2
    silent = StreamSpeech(gate, window_s=2.0)  # only the window counts
    silent.add(wave)
    silent.add(silence(4.0))
    assert silent.speech_seconds() == 0.0


def test_a_flood_of_tiny_frames_is_joined_not_kept_one_by_one() -> None:
    from serving.audio_input import MAX_CHUNKS
    from serving.speech import SpeechGate, StreamSpeech
    from serving.stream import StreamBuffer

    speech = StreamSpeech(SpeechGate(0.3), window_s=2.0)
    buffer = StreamBuffer(SR, 1.0, 2.0, speech)
    for _ in range(20_000):
        buffer.feed(b"\x01\x00")
    assert buffer.received_s == 20_000 / SR and buffer.duration_s == 20_000 / SR
    assert buffer.audio.n_chunks <= MAX_CHUNKS + 1 and speech.pending.n_chunks <= MAX_CHUNKS + 1
    assert buffer.wave16k().size == 20_000


# --- the real server: its log ----------------------------------------------------------------
def _live_ws(
    url: str, frames: list[bytes | str], stop_after: int = 100, **kwargs: Any
) -> tuple[list[dict[str, Any]], int | None]:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    messages: list[dict[str, Any]] = []
    with connect(url, open_timeout=10, close_timeout=5, **kwargs) as ws:
        try:
            for frame in frames:
                ws.send(frame)
            while len(messages) < stop_after:
                messages.append(json.loads(ws.recv(timeout=20)))
            return messages, None
        except ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd else None


def test_real_server_log_has_no_key_and_no_traceback(live_service, rng, tmp_path) -> None:
    import httpx
    from websockets.sync.client import connect

    key = f"key-{uuid.uuid4().hex}"
    service = live_service(NORDLID_API_KEY=key, NORDLID_MIN_SPEECH_S="0.3")
    url = f"{service.ws}/v1/stream"
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=service.http, timeout=30) as http:
        r = http.post(
            "/v1/identify",
            headers=headers,
            files={"file": ("s.wav", espeak(tmp_path), "audio/wav")},
        )
        assert r.status_code == 200, r.text
        r = http.post(
            "/v1/identify",
            headers=headers,
            files={"file": ("z.wav", wav_bytes(silence()), "audio/wav")},
        )
        assert r.status_code == 422 and r.json()["reason"] == "no_speech"
        r = http.post(
            "/v1/feedback", content=b"{" * 300_000, headers={"content-type": "application/json"}
        )
        assert r.status_code == 401
        r = http.get("/v1/models", params={"api_key": key})  # a key in the URL is refused
        assert r.status_code == 401
    messages, code = _live_ws(url, [CONFIG, pcm16(silence(1.5)), "end"], additional_headers=headers)
    assert messages[-1]["reason"] == "no_speech" and code == 1000
    messages, code = _live_ws(url, [CONFIG], 1, subprotocols=["nordlid", f"nordlid.key.{key}"])
    assert messages[0]["type"] == "ready"
    messages, code = _live_ws(f"{url}?api_key={key}", [])  # refused: no query-string key
    assert messages[-1]["status"] == 401 and code == 1008
    for case, frames, status, close, _ in WS_CASES:
        messages, code = _live_ws(url, frames, additional_headers=headers)
        assert (messages[-1]["status"], code) == (status, close), case
    with connect(url, additional_headers=headers) as ws:  # a client that drops mid-stream
        ws.send(CONFIG)
        ws.recv(timeout=10)
        ws.send(pcm16(tone("no", 2.2, rng=rng)))
        ws.socket.close()
    log = service.stop()
    assert "WebSocket /v1/stream" in log and "<redacted>" in log  # the log is the real one
    assert key not in log
    for needle in ("Traceback", "Exception in ASGI", "without completing handshake", "ERROR"):
        assert needle not in log, log[-4000:]
