"""The GPU-minded path of the layer-statistics backbones, checked on the CPU.

Per-utterance normalisation of one-chunk utterances runs on the model's device, pooling
runs as batched matrix products, and ``precision="bf16-model"`` keeps weights in bf16.
Each must give the features of the plain NumPy / float64 / fp32 path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from extractors.backbones.chunking import pad_batch, split_chunks
from extractors.backbones.common import autocast_dtype
from extractors.backbones.pooling import masked_moments
from extractors.backbones.ssl import XLSRExtractor, normalize_rows, normalize_wave

SR = 16_000


def _waves(seconds: list[float], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for k, s in enumerate(seconds):
        t = np.arange(int(s * SR)) / SR
        wave = 0.3 * np.sin(2 * np.pi * (120 + 40 * k) * t) + 0.05 * rng.standard_normal(t.size)
        out.append((wave + 0.1 * (k + 1)).astype(np.float32))  # a DC offset to normalise away
    return out


@pytest.fixture(scope="module")
def tiny_xlsr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from extractors.backbones.random_init import wav2vec2_config

    torch.manual_seed(0)
    config = wav2vec2_config(
        hidden=32,
        layers=2,
        heads=2,
        intermediate=37,
        conv_dim=(16, 16),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        pos_conv=(16, 2),
    )
    path = tmp_path_factory.mktemp("tiny_xlsr_device_path")
    Wav2Vec2Model(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(feature_size=1, do_normalize=True).save_pretrained(path)
    return path


def _close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rtol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        scale = max(float(np.abs(b[key]).max()), 1e-6)
        err = float(np.abs(a[key] - b[key]).max()) / scale
        assert err <= rtol, f"{key}: relative difference {err:.2e} > {rtol:g}"


def test_split_chunks_marks_only_uncut_unpadded_waves_whole() -> None:
    waves = [np.ones(n, dtype=np.float32) for n in (5, 10, 1000, 1001)]
    chunks = split_chunks(waves, max_samples=1000, min_samples=10)
    whole = {c.utt: c.whole for c in chunks if c.utt in (0, 1, 2)}
    assert whole == {0: False, 1: True, 2: True}  # 5 samples is padded up to 10
    assert [c.whole for c in chunks if c.utt == 3] == [False, False]


def test_normalize_rows_equals_normalize_wave_and_keeps_padding_zero() -> None:
    waves = _waves([0.5, 0.2, 0.35], seed=1)
    batch, lengths = pad_batch(waves)
    rows = torch.tensor([True, True, False])
    out = normalize_rows(torch.from_numpy(batch), torch.from_numpy(lengths), rows).numpy()
    for i in (0, 1):
        n = lengths[i]
        np.testing.assert_allclose(out[i, :n], normalize_wave(waves[i]), atol=2e-5)
        assert not out[i, n:].any()
    np.testing.assert_array_equal(out[2], batch[2])  # not selected: untouched


def test_device_normalisation_gives_the_numpy_features(tiny_xlsr: Path) -> None:
    """Short (padded to the receptive field), one-chunk and chunked utterances together."""
    ext = XLSRExtractor(
        checkpoint=str(tiny_xlsr), device="cpu", max_chunk_seconds=1.0, max_pad_fraction=1.0
    )
    waves = _waves([0.001, 0.6, 0.9, 2.3])
    assert waves[0].shape[0] < ext.min_chunk_samples
    rows = ext.extract(waves)
    ext.do_normalize = False  # reference: every utterance normalised whole in NumPy
    reference = ext.extract([normalize_wave(w) for w in waves])
    for got, want in zip(rows, reference, strict=True):
        _close(got, want, rtol=1e-4)


def test_masked_moments_of_bf16_states_match_float64() -> None:
    rng = np.random.default_rng(3)
    hidden = torch.from_numpy(rng.standard_normal((2, 40, 8)) * 2 + 1).to(torch.bfloat16)
    mask = torch.zeros(2, 40, dtype=torch.bool)
    mask[0, :40] = True
    mask[1, :13] = True
    stats = masked_moments(hidden, mask)
    exact = hidden.to(torch.float64).numpy()
    for b, n in enumerate((40, 13)):
        assert stats[b].count == n
        np.testing.assert_allclose(stats[b].mean, exact[b, :n].mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats[b].std, exact[b, :n].std(0), rtol=1e-5)


def test_bf16_model_precision_keeps_weights_in_bf16(tiny_xlsr: Path) -> None:
    assert autocast_dtype(torch.device("cuda"), "bf16-model") is None
    full = XLSRExtractor(checkpoint=str(tiny_xlsr), device="cpu", precision="fp32")
    half = XLSRExtractor(checkpoint=str(tiny_xlsr), device="cpu", precision="bf16-model")
    assert {p.dtype for p in half.model.parameters()} == {torch.bfloat16}
    assert half.lineage()["precision"] == "bf16-model"
    assert half.spec == full.spec
    waves = _waves([0.7, 1.1], seed=5)
    for got, want in zip(half.extract(waves), full.extract(waves), strict=True):
        assert all(np.isfinite(v).all() for v in got.values())
        _close(got, want, rtol=0.1)


def test_backbone_options_defaults_and_unknown_keywords(tiny_xlsr: Path) -> None:
    ext = XLSRExtractor(checkpoint=str(tiny_xlsr), device="cpu")
    assert ext.max_batch_samples == 160 * SR and ext.max_chunk_samples == 20 * SR
    assert ext.lineage()["weights_sha256"]
    wrapped = XLSRExtractor.from_model(ext.model, checkpoint="in-memory", device="cpu", layers=[1])
    assert wrapped.layers == (1,) and wrapped.lineage()["weights"] == "in-memory model"
    with pytest.raises(TypeError, match=r"XLSRExtractor\(\).*max_chunk_secs"):
        XLSRExtractor(checkpoint=str(tiny_xlsr), device="cpu", max_chunk_secs=5.0)  # type: ignore[call-arg]
