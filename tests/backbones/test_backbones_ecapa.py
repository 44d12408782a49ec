"""SpeechBrain ECAPA built tiny, saved as a local EncoderClassifier source, loaded for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extractors import registry
from extractors.backbones.ecapa import EcapaExtractor
from nordlid.errors import MissingCheckpointError

from .conftest import assert_rows_close, make_waves


def test_ecapa_loads_local_source(tiny_ecapa_dir: Path, tmp_path: Path) -> None:
    ext = registry.create(
        "ecapa", checkpoint=str(tiny_ecapa_dir), device="cpu", savedir=tmp_path / "sb"
    )
    assert isinstance(ext, EcapaExtractor)
    assert ext.spec.feature_names == ["embedding"]
    assert ext.spec.columns[0].length == 12  # lin_neurons of the tiny model
    rows = ext.extract(make_waves([0.6, 1.7, 1.1], seed=2))
    for row in rows:
        vec = np.asarray(row["embedding"])
        assert vec.shape == (12,) and vec.dtype == np.float32
        assert np.isfinite(vec).all()
    assert not np.allclose(rows[0]["embedding"], rows[1]["embedding"])
    assert len(ext.lineage()["weights_sha256"]) == 64


def test_ecapa_batch_invariance(tiny_ecapa_dir: Path, tmp_path: Path) -> None:
    ext = EcapaExtractor(checkpoint=str(tiny_ecapa_dir), device="cpu", savedir=tmp_path / "sb")
    waves = make_waves([0.7, 2.5, 1.3, 0.7], seed=5)
    batched = ext.extract(waves)
    assert_rows_close(batched[0], ext.extract([waves[0]])[0])
    assert_rows_close(batched[2], ext.extract([waves[2]])[0])


def test_ecapa_padded_mode_uses_relative_lengths(tiny_ecapa_dir: Path, tmp_path: Path) -> None:
    import torch

    ext = EcapaExtractor(
        checkpoint=str(tiny_ecapa_dir),
        device="cpu",
        savedir=tmp_path / "sb",
        batching="padded",
        max_pad_fraction=1.0,
    )
    assert ext.spec.params["batching"] == "padded"
    waves = make_waves([0.7, 2.5], seed=6)
    rows = ext.extract(waves)
    padded = torch.zeros(2, len(waves[1]))
    padded[0, : len(waves[0])] = torch.from_numpy(waves[0])
    padded[1] = torch.from_numpy(waves[1])
    rel = torch.tensor([len(waves[0]) / len(waves[1]), 1.0])
    with torch.inference_mode():
        expected = ext.model.encode_batch(padded, rel)[:, 0].numpy()
    np.testing.assert_allclose(rows[0]["embedding"], expected[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows[1]["embedding"], expected[1], rtol=1e-5, atol=1e-6)


def test_ecapa_long_audio_chunks_weighted(tiny_ecapa_dir: Path, tmp_path: Path) -> None:
    ext = EcapaExtractor(
        checkpoint=str(tiny_ecapa_dir), device="cpu", savedir=tmp_path / "sb", max_chunk_seconds=1.0
    )
    wave = make_waves([3.0], seed=7)[0]
    row = ext.extract([wave])[0]
    parts = [wave[i * 16_000 : (i + 1) * 16_000] for i in range(3)]
    expected = np.mean([ext.extract([p])[0]["embedding"] for p in parts], axis=0)
    np.testing.assert_allclose(row["embedding"], expected, rtol=1e-4, atol=1e-6)


def test_ecapa_missing_checkpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("NORDLID_ECAPA_CHECKPOINT", raising=False)
    with pytest.raises(MissingCheckpointError) as err:
        registry.create("ecapa", device="cpu", savedir=tmp_path / "sb")
    assert err.value.checkpoint == "speechbrain/lang-id-voxlingua107-ecapa"
    assert "NORDLID_ECAPA_CHECKPOINT" in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingCheckpointError, match="hyperparams.yaml"):
        EcapaExtractor(checkpoint=str(empty), device="cpu", savedir=tmp_path / "sb2")
