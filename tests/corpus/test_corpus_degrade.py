"""Degradations: exact SNR, telephone band and rate, gain in dB, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from corpus import degrade


def _speechlike(n: int = 22_050, sr: int = 22_050) -> np.ndarray:
    t = np.arange(n) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.4 * env * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0.0, 7.5, 20.0])
def test_add_noise_hits_requested_snr(kind: str, snr: float) -> None:
    clean = _speechlike()
    noisy = degrade.add_noise(clean, snr, np.random.default_rng(1), kind=kind)  # type: ignore[arg-type]
    assert noisy.shape == clean.shape and noisy.dtype == np.float32
    measured = degrade.snr_db(clean, noisy.astype(np.float64) - clean)
    assert measured == pytest.approx(snr, abs=0.05)


def test_add_noise_is_deterministic_for_a_seed() -> None:
    clean = _speechlike()
    a = degrade.add_noise(clean, 10, np.random.default_rng(5))
    b = degrade.add_noise(clean, 10, np.random.default_rng(5))
    c = degrade.add_noise(clean, 10, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_add_noise_rejects_silence_and_stereo() -> None:
    with pytest.raises(ValueError, match="silent"):
        degrade.add_noise(np.zeros(100, np.float32), 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="mono"):
        degrade.add_noise(np.ones((2, 100), np.float32), 10, np.random.default_rng(0))


def _band_energy(wave: np.ndarray, sr: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(wave.size, 1 / sr)
    return float(spec[(freqs >= lo) & (freqs <= hi)].sum())


def test_telephone_band_limits_and_resamples_to_8k() -> None:
    sr = 22_050
    t = np.arange(sr) / sr
    low = 0.3 * np.sin(2 * np.pi * 100 * t)
    mid = 0.3 * np.sin(2 * np.pi * 1000 * t)
    high = 0.3 * np.sin(2 * np.pi * 6000 * t)
    out, rate = degrade.telephone((low + mid + high).astype(np.float32), sr, mu_law=False)
    assert rate == degrade.TELEPHONE_RATE
    assert out.size == pytest.approx(8000, abs=2)
    mid_e = _band_energy(out, rate, 900, 1100)
    low_e = _band_energy(out, rate, 50, 150)
    assert low_e < mid_e / 100  # 100 Hz is >20 dB down
    # 6 kHz cannot exist at 8 kHz sampling: nothing folded back into the band either
    assert _band_energy(out, rate, 1900, 2100) < mid_e / 100


def test_telephone_keep_rate_returns_input_rate() -> None:
    wave = _speechlike()
    out, rate = degrade.telephone(wave, 22_050, keep_rate=True)
    assert rate == 22_050
    assert abs(out.size - wave.size) <= 3
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0 + 1e-6


def test_apply_gain_scales_in_db_and_clips() -> None:
    wave = np.array([0.1, -0.2, 0.5], np.float32)
    quiet = degrade.apply_gain(wave, -20)
    np.testing.assert_allclose(quiet, wave * 0.1, rtol=1e-5)
    loud = degrade.apply_gain(wave, 12)
    assert loud.max() == pytest.approx(1.0) and loud.min() >= -1.0
    unclipped = degrade.apply_gain(wave, 12, clip=False)
    assert unclipped.max() > 1.0


def test_fit_to_range_only_scales_down() -> None:
    assert np.array_equal(degrade.fit_to_range(np.array([0.5], np.float32)), [0.5])
    out = degrade.fit_to_range(np.array([2.0, -1.0], np.float32), peak=0.99)
    np.testing.assert_allclose(out, [0.99, -0.495], rtol=1e-6)
