"""silero-vad speech regions and SQUIM scores through the real loading paths."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from nordlid.errors import ConfigError
from validation import speech_quality as sq


def test_load_vad_is_cached_and_keeps_torch_threads() -> None:
    import torch

    before = torch.get_num_threads()
    vad = sq.load_vad()
    assert sq.load_vad() is vad
    assert torch.get_num_threads() == before


def test_speech_segments_cover_the_speech_not_the_silence(speech16k: np.ndarray) -> None:
    vad = sq.load_vad()
    segments = sq.speech_segments(speech16k, vad)
    assert segments, "espeak speech must contain detected speech"
    start, end = segments[0][0], segments[-1][1]
    # 1 s of leading and trailing silence (silero pads segments by 30 ms)
    assert 16_000 - 1_600 <= start
    assert end <= speech16k.size - 16_000 + 1_600
    ratio = sq.speech_ratio(speech16k, vad)
    assert 0.3 < ratio < 0.85


def test_silence_and_faint_noise_have_no_speech() -> None:
    vad = sq.load_vad()
    rng = np.random.default_rng(0)
    assert sq.speech_ratio(np.zeros(32_000, dtype=np.float32), vad) == 0.0
    noise = (rng.standard_normal(32_000) * 1e-3).astype(np.float32)
    assert sq.speech_ratio(noise, vad) < 0.1
    assert sq.speech_segments(np.zeros(0, dtype=np.float32), vad) == []


def test_torchscript_backend_agrees_with_onnx(speech16k: np.ndarray) -> None:
    onnx_vad = sq.load_vad()
    if onnx_vad.backend != "onnx-sequence":
        pytest.skip("onnxruntime not installed: only the TorchScript backend is available")
    silero = sq._import_silero()
    jit_vad = sq.Vad(silero.load_silero_vad(), backend="jit")
    clip = speech16k[:48_000]
    np.testing.assert_allclose(jit_vad.probabilities(clip), onnx_vad.probabilities(clip), atol=1e-4)


@pytest.mark.parametrize("kind", ["safetensors", "pth"])
def test_load_squim_from_local_weights(
    kind: str, squim_weights: dict[str, Path], speech16k: np.ndarray
) -> None:
    import torch
    from safetensors.torch import load_file
    from torchaudio.models import squim_objective_base

    model = sq.load_squim(squim_weights[kind])
    assert model is not None
    reference = squim_objective_base().eval()
    reference.load_state_dict(load_file(str(squim_weights["safetensors"])))
    clip = speech16k[16_000:32_000]
    scores = sq.squim_scores([clip, np.zeros(10, dtype=np.float32)], model)
    with torch.inference_mode():
        expected = reference(torch.from_numpy(clip)[None, :])
    assert set(scores[0]) == {"stoi", "pesq", "si_sdr"}
    assert scores[0]["stoi"] == pytest.approx(float(expected[0][0]), rel=1e-5)
    assert scores[0]["si_sdr"] == pytest.approx(float(expected[2][0]), rel=1e-5)
    assert scores[1] == {"stoi": None, "pesq": None, "si_sdr": None}


def test_squim_env_var_and_max_seconds(
    squim_weights: dict[str, Path], speech16k: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sq.SQUIM_WEIGHTS_ENV, str(squim_weights["safetensors"]))
    model = sq.load_squim()
    assert model is not None
    speech = speech16k[16_000:]
    short = sq.squim_scores([speech[:16_000]], model)[0]
    import torch

    before = torch.get_num_threads()
    capped = sq.squim_scores([speech], model, max_seconds=1.0, threads=1)[0]
    assert torch.get_num_threads() == before
    assert all(v is not None for v in short.values())
    assert capped == pytest.approx(short)
    # digital silence has no defined score: None, never NaN
    assert sq.squim_scores([np.zeros(16_000, dtype=np.float32)], model)[0] == {
        "stoi": None,
        "pesq": None,
        "si_sdr": None,
    }


def test_squim_absent_weights_give_nulls_and_one_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    monkeypatch.delenv(sq.SQUIM_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with caplog.at_level(logging.WARNING, logger=sq.__name__):
        assert sq.load_squim() is None
    lines = [r.getMessage() for r in caplog.records if r.name == sq.__name__]
    assert len(lines) == 1
    assert sq.SQUIM_WEIGHTS_ENV in lines[0] and "squim_objective_dns2020.pth" in lines[0]
    waves = [np.ones(16_000, dtype=np.float32)] * 2
    assert sq.squim_scores(waves, None) == [{"stoi": None, "pesq": None, "si_sdr": None}] * 2


def test_squim_bad_weights_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        sq.load_squim(tmp_path / "missing.safetensors")
    import torch
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"weight": torch.zeros(3)}, str(wrong))
    with pytest.raises(ConfigError, match="squim_objective_base"):
        sq.load_squim(wrong)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="junk.pth"):
        sq.load_squim(junk)


def test_squim_failed_download_gives_nulls_and_one_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import urllib.error

    import torch
    import torchaudio.utils.download as ta_download

    def no_network(key: str, path: object, progress: bool) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.delenv(sq.SQUIM_WEIGHTS_ENV, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("NORDLID_OFFLINE", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(ta_download, "_download", no_network)
    with caplog.at_level(logging.WARNING, logger=sq.__name__):
        assert sq.load_squim() is None
    lines = [r.getMessage() for r in caplog.records if r.name == sq.__name__]
    assert len(lines) == 1 and "could not be downloaded" in lines[0]
    assert "no route to host" in lines[0]
