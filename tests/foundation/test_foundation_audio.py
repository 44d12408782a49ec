"""nordlid.audio: one decoder for files and bytes, with named, coded errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from nordlid.audio import decode, pcm_sha256, to_model_input
from nordlid.errors import AudioDecodeError


def _tone(sr: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_decode_stereo_flac_resamples_to_16k_mono(tmp_path: Path) -> None:
    wave = _tone(44_100)
    stereo = np.stack([wave, wave * 0.5], axis=1)
    path = tmp_path / "x.flac"
    sf.write(path, stereo, 44_100)
    audio = decode(path)
    assert audio.num_channels == 2 and audio.sample_rate == 44_100
    mono = to_model_input(audio)
    assert mono.dtype == np.float32
    assert abs(len(mono) - 16_000) <= 1
    # the 440 Hz tone survives resampling: the spectrum peaks there
    spectrum = np.abs(np.fft.rfft(mono))
    peak_hz = np.argmax(spectrum) * 16_000 / len(mono)
    assert abs(peak_hz - 440) < 3


def test_pcm_hash_ignores_container_but_not_content(tmp_path: Path) -> None:
    pcm = np.round(_tone(16_000) * 32767).astype(np.int16)
    sf.write(tmp_path / "a.wav", pcm, 16_000, subtype="PCM_16")
    sf.write(tmp_path / "b.flac", pcm, 16_000, subtype="PCM_16")
    sf.write(tmp_path / "c.wav", pcm // 2, 16_000, subtype="PCM_16")
    assert pcm_sha256(tmp_path / "a.wav") == pcm_sha256(tmp_path / "b.flac")
    assert pcm_sha256(tmp_path / "a.wav") != pcm_sha256(tmp_path / "c.wav")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", "empty"),
        (b"this is certainly not audio" * 20, "not_audio"),
    ],
)
def test_bad_bytes_raise_coded_errors(payload: bytes, code: str) -> None:
    with pytest.raises(AudioDecodeError) as info:
        decode(payload, "upload.wav")
    assert info.value.code == code
    assert "upload.wav" in str(info.value)


def test_truncated_wav_is_reported(tmp_path: Path) -> None:
    buf = io.BytesIO()
    sf.write(buf, _tone(16_000, 2.0), 16_000, format="WAV", subtype="PCM_16")
    data = buf.getvalue()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioDecodeError) as info:
        decode(path)
    assert info.value.code in {"truncated", "corrupt"}
    assert "cut.wav" in str(info.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="nope.wav"):
        decode(tmp_path / "nope.wav")


def test_non_finite_samples_rejected(tmp_path: Path) -> None:
    wave = _tone(16_000)
    wave[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, wave, 16_000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError) as info:
        decode(path)
    assert info.value.code == "non_finite"


def test_hash_of_decoded_audio_equals_hash_of_file(tmp_path: Path) -> None:
    pcm = np.round(_tone(16_000) * 32767).astype(np.int16)
    pcm[:10] = -32768  # the extreme value must survive the float round trip
    sf.write(tmp_path / "a.wav", pcm, 16_000, subtype="PCM_16")
    assert pcm_sha256(decode(tmp_path / "a.wav")) == pcm_sha256(tmp_path / "a.wav")
