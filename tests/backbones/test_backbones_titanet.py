"""NeMo TitaNet/AmberNet built tiny, saved with save_to(.nemo), loaded via restore_from."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from extractors import registry
from extractors.backbones.titanet import TitaNetExtractor
from nordlid.errors import MissingCheckpointError

from .conftest import assert_rows_close, make_waves


def test_titanet_restores_nemo_file(tiny_titanet_nemo: Path) -> None:
    ext = registry.create("titanet", checkpoint=str(tiny_titanet_nemo), device="cpu")
    assert isinstance(ext, TitaNetExtractor)
    assert ext.spec.feature_names == ["embedding"]
    assert ext.spec.columns[0].length == 12  # emb_sizes of the tiny model
    rows = ext.extract(make_waves([0.6, 1.9, 1.2], seed=3))
    for row in rows:
        vec = np.asarray(row["embedding"])
        assert vec.shape == (12,) and vec.dtype == np.float32
        assert np.isfinite(vec).all()
    assert not np.allclose(rows[0]["embedding"], rows[1]["embedding"])
    lineage = ext.lineage()
    assert lineage["nemo_file"] == "tiny_ambernet.nemo"
    assert len(lineage["weights_sha256"]) == 64


def test_titanet_batch_invariance_and_padded_mode(tiny_titanet_nemo: Path) -> None:
    import torch

    ext = TitaNetExtractor(checkpoint=str(tiny_titanet_nemo.parent), device="cpu")  # a directory
    waves = make_waves([0.7, 2.6, 1.3, 0.7], seed=8)
    batched = ext.extract(waves)
    assert_rows_close(batched[0], ext.extract([waves[0]])[0])
    assert_rows_close(batched[2], ext.extract([waves[2]])[0])

    padded = TitaNetExtractor(
        checkpoint=str(tiny_titanet_nemo), device="cpu", batching="padded", max_pad_fraction=1.0
    )
    rows = padded.extract(waves[:2])
    x = torch.zeros(2, len(waves[1]))
    x[0, : len(waves[0])] = torch.from_numpy(waves[0])
    x[1] = torch.from_numpy(waves[1])
    with torch.inference_mode():
        _, emb = padded.model.forward(
            input_signal=x, input_signal_length=torch.tensor([len(waves[0]), len(waves[1])])
        )
    np.testing.assert_allclose(rows[0]["embedding"], emb[0].numpy(), rtol=1e-5, atol=1e-6)


def test_titanet_long_audio_chunks(tiny_titanet_nemo: Path) -> None:
    ext = TitaNetExtractor(checkpoint=str(tiny_titanet_nemo), device="cpu", max_chunk_seconds=1.0)
    wave = make_waves([2.0], seed=9)[0]
    row = ext.extract([wave])[0]
    halves = [ext.extract([wave[:16_000]])[0], ext.extract([wave[16_000:]])[0]]
    expected = (halves[0]["embedding"] + halves[1]["embedding"]) / 2
    np.testing.assert_allclose(row["embedding"], expected, rtol=1e-4, atol=1e-6)
    assert ext.spec.params["max_chunk_seconds"] == 1.0


def test_titanet_missing_checkpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_titanet_nemo: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NEMO_CACHE_DIR", str(tmp_path / "nemo_cache"))
    monkeypatch.delenv("NORDLID_TITANET_CHECKPOINT", raising=False)
    with pytest.raises(MissingCheckpointError) as err:
        registry.create("titanet", device="cpu")
    assert err.value.checkpoint == "langid_ambernet"
    assert "NORDLID_TITANET_CHECKPOINT" in str(err.value)
    with pytest.raises(MissingCheckpointError, match="no such file"):
        TitaNetExtractor(checkpoint=str(tmp_path / "absent.nemo"), device="cpu")
    # a cached download is found offline, as NeMo's from_pretrained would
    cache = tmp_path / "nemo_cache" / "ambernet" / "abc123"
    cache.mkdir(parents=True)
    shutil.copy(tiny_titanet_nemo, cache / "ambernet.nemo")
    ext = registry.create("titanet", device="cpu")
    assert ext.spec.checkpoint == "langid_ambernet"
    assert ext.lineage()["nemo_file"] == "ambernet.nemo"
