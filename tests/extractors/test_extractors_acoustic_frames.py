"""The acoustic frame stage's fast paths equal the straightforward computations they replace."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio.functional as taf
from extractors_testlib import SR, voiced_like

from extractors.acoustic_frames import FrameAnalyzer, extreme_mean, ragged_blocks
from extractors.acoustic_params import AcousticParams


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_extreme_mean_equals_topk_mean_with_ties(k: int, largest: bool) -> None:
    g = torch.Generator().manual_seed(k)
    ties = torch.randint(0, 4, (40, 25), generator=g).float()  # many equal values
    smooth = torch.rand(40, 25, generator=g)
    for band in (ties, smooth):
        expected = band.topk(k, dim=0, largest=largest).values.mean(0)
        torch.testing.assert_close(extreme_mean(band, k, largest), expected)


def test_ragged_blocks_regroup_rows_in_order() -> None:
    views = [
        torch.arange(n * 2, dtype=torch.float32).reshape(n, 2) + 100 * i
        for i, n in enumerate((3, 1, 7, 2))
    ]
    blocks = list(ragged_blocks(views, 4))
    assert [b.shape[0] for b in blocks] == [4, 4, 4, 1]
    torch.testing.assert_close(torch.cat(blocks), torch.cat(views))


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    return FrameAnalyzer(AcousticParams.model_validate({"trim_silence": False}))


@pytest.mark.parametrize("slice_outputs", [7, 1 << 16])
def test_cached_decimation_equals_torchaudio_resample(
    analyzer: FrameAnalyzer, slice_outputs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import extractors.acoustic_frames as frames_module

    monkeypatch.setattr(frames_module, "DECIMATE_SLICE", slice_outputs)
    for n in (641, 16_001, 40_000):
        wave = torch.from_numpy(voiced_like(n / SR, 130.0, seed=n))
        expected = taf.resample(wave, SR, SR // 2)
        torch.testing.assert_close(analyzer._decimate(wave), expected, atol=1e-6, rtol=1e-5)


def test_spectral_frame_features_match_the_direct_formulas(analyzer: FrameAnalyzer) -> None:
    p = analyzer.p
    wave = torch.from_numpy(voiced_like(1.0, 150.0, seed=4))
    frames = wave.unfold(-1, p.win_length, p.hop_length)
    out = analyzer._spectral(frames.contiguous())
    spec = torch.fft.rfft(frames * analyzer.window, n=p.n_fft)
    power = spec.abs() ** 2
    mag = power.sqrt()
    freqs = analyzer.freqs
    total = mag.sum(-1) + 1e-10
    centroid = (mag * freqs).sum(-1) / total
    bandwidth = (((freqs - centroid[:, None]) ** 2) * mag).sum(-1).div(total).sqrt()
    cumulative = mag.cumsum(-1)
    below = (cumulative < p.rolloff * cumulative[:, -1:]).sum(-1)
    torch.testing.assert_close(out["centroid"], centroid, rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(out["bandwidth"], bandwidth, rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(out["rolloff"], freqs[below.clamp_max(len(freqs) - 1)])
    contrast = []
    for lo, hi, k in analyzer.bands:
        band = power[:, lo:hi]
        peak = band.topk(k, dim=-1).values.mean(-1)
        valley = band.topk(k, dim=-1, largest=False).values.mean(-1)
        contrast.append(10 * (torch.log10(peak + 1e-10) - torch.log10(valley + 1e-10)))
    torch.testing.assert_close(out["contrast"], torch.stack(contrast, -1), rtol=1e-4, atol=1e-3)


def test_frames_of_a_batch_are_those_of_each_wave_alone(analyzer: FrameAnalyzer) -> None:
    waves = [voiced_like(s, 120.0, seed=i) for i, s in enumerate((0.01, 1.3, 0.03, 2.2))]
    together = analyzer.analyze(waves)
    assert together.n_frames.tolist() == [1, 128, 1, 218]
    for b, wave in enumerate(waves):
        alone = analyzer.analyze([wave])
        np.testing.assert_allclose(together.mfcc[together.span(b)], alone.mfcc, atol=1e-3)
        np.testing.assert_allclose(together.f0[together.pitch_span(b)], alone.f0, atol=1e-3)


def test_pooling_quantiles_equal_numpy_quantile() -> None:
    from extractors.acoustic import quantiles

    rng = np.random.default_rng(0)
    qs = (0.0, 0.1, 0.25, 0.5, 0.9, 1.0)
    for n in (1, 2, 3, 10, 501):
        x = rng.standard_normal((n, 5))
        np.testing.assert_allclose(quantiles(x, qs), np.quantile(x, qs, axis=0), atol=1e-12)
