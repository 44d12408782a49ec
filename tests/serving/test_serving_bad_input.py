"""Every malformed request is a 4xx JSON ``{"detail": ...}`` naming the problem; never a 5xx,
and the service keeps answering afterwards.  Includes a hypothesis fuzz run."""

from __future__ import annotations

import io
import struct
from urllib.parse import quote

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_toys import tone, wav_bytes

pytestmark = pytest.mark.integration


def _post(client, data: bytes, name: str = "x.wav", ctype: str = "audio/wav"):
    return client.post("/v1/identify", files={"file": (name, data, ctype)})


def _good(rng) -> bytes:
    return wav_bytes(tone("da", 1.5, rng=rng))


def _unknown_codec_wav() -> bytes:
    """A RIFF/WAVE whose fmt chunk names format tag 0x1234 (no such codec)."""
    fmt = struct.pack("<HHIIHH", 0x1234, 1, 16_000, 32_000, 2, 16) + struct.pack("<H", 0)
    data = bytes(3200)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _float_wav(values: np.ndarray) -> bytes:
    return wav_bytes(values.astype(np.float32), 16_000, "WAV", "FLOAT")


CASES = [
    ("empty body", lambda rng: b"", 400, "empty"),
    (
        "random bytes",
        lambda rng: np.random.default_rng(5).bytes(5000),
        415,
        "not a supported audio",
    ),
    ("truncated header", lambda rng: _good(rng)[:30], 415, "No 'data' chunk"),
    ("truncated data", lambda rng: _good(rng)[:2000], 422, "truncated"),
    ("unsupported codec", lambda rng: _unknown_codec_wav(), 415, "unsupported codec"),
    (
        "mp4 container",
        lambda rng: b"\x00\x00\x00\x20ftypM4A " + bytes(400),
        415,
        "Format not recognised",
    ),
    ("zero samples", lambda rng: _float_wav(np.zeros(0)), 422, "0 samples"),
    (
        "nan samples",
        lambda rng: _float_wav(np.where(np.arange(16_000) == 7, np.nan, 0.1)),
        422,
        "NaN",
    ),
    (
        "inf samples",
        lambda rng: _float_wav(np.where(np.arange(16_000) == 7, np.inf, 0.1)),
        422,
        "infinite",
    ),
    ("too short", lambda rng: wav_bytes(tone("da", 0.4, rng=rng)), 422, "too short"),
    ("too long", lambda rng: wav_bytes(tone("da", 4.0, rng=rng)), 422, "too long"),
    (
        "odd sample rate",
        lambda rng: wav_bytes(tone("da", 1.5, rng=rng, sr=7919), 7919),
        422,
        "7919 Hz",
    ),
]


@pytest.mark.parametrize(("case", "make", "status", "needle"), CASES, ids=[c[0] for c in CASES])
def test_bad_audio_is_a_clear_4xx(make_client, rng, case, make, status, needle) -> None:
    client = make_client(max_duration_s=3.0)
    r = _post(client, make(rng))
    assert r.status_code == status, (case, r.text)
    detail = r.json()["detail"]
    assert needle in detail, detail
    assert "x.wav" in detail  # names the file
    assert _post(client, _good(rng)).status_code == 200  # the worker is alive


def test_long_flac_of_silence_is_rejected_from_its_header(make_client) -> None:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(16_000 * 600, dtype=np.int16), 16_000, format="FLAC")
    client = make_client()
    r = _post(client, buf.getvalue(), "silence.flac", "audio/flac")
    assert r.status_code == 422 and "too long (600.000 s" in r.json()["detail"]


def test_too_large_upload_by_content_length(make_client, rng) -> None:
    client = make_client(max_upload_bytes=20_000)
    r = _post(client, _good(rng))  # 48 kB
    assert r.status_code == 413
    assert "too large" in r.json()["detail"] and "20000" in r.json()["detail"]


def test_too_large_upload_chunked_without_content_length(make_client, rng) -> None:
    client = make_client(max_upload_bytes=20_000)
    boundary = "nordlidboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + wav_bytes(np.zeros(16_000 * 4, np.float32))
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def chunks():
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    r = client.post(
        "/v1/identify",
        content=chunks(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413, r.text
    assert "too large" in r.json()["detail"]


def test_too_large_file_within_a_small_body_limit(make_client, rng) -> None:
    # the multipart allowance lets the body through; the file itself is then measured
    client = make_client(max_upload_bytes=47_000)
    r = _post(client, _good(rng))
    assert r.status_code == 413 and "48044 bytes is too large" in r.json()["detail"]


def test_wrong_request_content_type(make_client) -> None:
    client = make_client()
    r = client.post("/v1/identify", json={"file": "abc"})
    assert r.status_code == 415
    assert "multipart/form-data" in r.json()["detail"] and "application/json" in r.json()["detail"]
    r = client.post("/v1/identify", content=b"RIFF....", headers={"content-type": "audio/wav"})
    assert r.status_code == 415


def test_wrong_part_content_type(make_client, rng) -> None:
    r = _post(make_client(), _good(rng), "notes.txt", "text/plain")
    assert r.status_code == 415
    assert "'text/plain' is not audio" in r.json()["detail"]


def test_missing_file_field(make_client, rng) -> None:
    client = make_client()
    r = client.post("/v1/identify", files={"audio": ("x.wav", _good(rng), "audio/wav")})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("file: Field required")
    r = client.post("/v1/identify", data={"file": "not a file"})
    assert r.status_code in (415, 422)


def test_empty_multipart_body(make_client) -> None:
    r = make_client().post(
        "/v1/identify", content=b"", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert 400 <= r.status_code < 500
    assert r.json()["detail"]


# --- fuzz ----------------------------------------------------------------------------------
CTYPES = st.sampled_from(["audio/wav", "audio/mpeg", "application/octet-stream", "audio/flac", ""])


def _mutate(base: bytes, data: st.DataObject) -> bytes:
    out = bytearray(base)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, 63))
        out[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(out))))
    return bytes(out if cut is None else out[:cut])


@pytest.fixture()
def fuzz_client(make_client):
    return make_client(max_duration_s=5.0)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_identify_never_5xx(fuzz_client, data) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    fmt = data.draw(st.sampled_from(["WAV", "FLAC"]))
    if data.draw(st.booleans()):
        payload = data.draw(st.binary(max_size=2048))
    else:
        payload = _mutate(wav_bytes(tone("sv", 1.2, rng=rng), 16_000, fmt), data)
    r = fuzz_client.post("/v1/identify", files={"file": ("f.bin", payload, data.draw(CTYPES))})
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert isinstance(r.json()["detail"], str) and r.json()["detail"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    uid=st.text(min_size=1, max_size=40).filter(lambda s: s.strip(".") != ""),
    body=st.dictionaries(
        st.sampled_from(["request_id", "language", "x"]),
        st.one_of(st.text(max_size=10), st.integers(), st.none()),
    ),
)
def test_fuzz_by_id_and_feedback_never_5xx(fuzz_client, uid, body) -> None:
    r = fuzz_client.get(f"/v1/utterances/{quote(uid, safe='')}/language")
    assert r.status_code in (404, 200), r.text
    r = fuzz_client.post("/v1/feedback", json=body)
    assert 400 <= r.status_code < 500, r.text
