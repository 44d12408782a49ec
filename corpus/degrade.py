"""Signal degradations shared by the synthetic corpus and monitoring's drift simulation.

All functions are pure: they take a mono float waveform (``(n,)`` float32 in [-1, 1]) and
return a new array; nothing is read or written.  Randomness only comes from the
``numpy.random.Generator`` the caller passes, so a seeded caller gets identical output.

- :func:`add_noise` mixes in noise at an exact signal-to-noise ratio (measured over the
  whole signal, i.e. ``10*log10(mean(s**2) / mean(n**2)) == snr_db``).
- :func:`telephone` band-limits to 300–3400 Hz, resamples to 8 kHz and applies G.711
  µ-law companding; it returns ``(wave, 8000)`` — the new sample rate is part of the
  result (pass ``keep_rate=True`` to get the degraded signal back at the input rate).
- :func:`apply_gain` scales by a gain in dB and hard-clips to [-1, 1] (clipping is part of
  what a too-hot recording sounds like).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

TELEPHONE_RATE = 8_000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
NoiseKind = Literal["white", "pink", "brown"]


def _as_mono(wave: np.ndarray) -> np.ndarray:
    arr = np.asarray(wave, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"expected a mono waveform of shape (n,), got shape {arr.shape}")
    return arr


def signal_power(wave: np.ndarray) -> float:
    """Mean square of the signal (float64 accumulation)."""
    return float(np.mean(np.square(np.asarray(wave, dtype=np.float64))))


def snr_db(clean: np.ndarray, noise: np.ndarray) -> float:
    """``10*log10(P(clean) / P(noise))`` — the measure :func:`add_noise` targets."""
    return 10.0 * float(np.log10(signal_power(clean) / signal_power(noise)))


def _coloured_noise(n: int, kind: NoiseKind, rng: np.random.Generator) -> np.ndarray:
    if kind == "white":
        return rng.standard_normal(n)
    m = fast_len(n)
    spectrum = np.fft.rfft(rng.standard_normal(m))
    freqs = np.arange(spectrum.shape[0], dtype=np.float64)
    freqs[0] = 1.0
    exponent = 0.5 if kind == "pink" else 1.0  # amplitude ~ f^-1/2 (pink), f^-1 (brown)
    spectrum = spectrum / freqs**exponent
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n=m)[:n]


def add_noise(
    wave: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    *,
    kind: NoiseKind = "white",
) -> np.ndarray:
    """Return ``wave + noise`` with the noise scaled to exactly ``snr_db`` (whole-signal power).

    The result is not clipped or normalised (so the SNR stays exact); callers that write
    16-bit audio rescale when the peak exceeds 1 (:func:`fit_to_range`).
    """
    x = _as_mono(wave)
    if x.size == 0:
        raise ValueError("cannot add noise to an empty waveform")
    p_signal = signal_power(x)
    if p_signal == 0.0:
        raise ValueError("cannot set an SNR on a silent waveform (signal power is 0)")
    noise = _coloured_noise(x.size, kind, rng)
    target = p_signal / (10.0 ** (snr_db / 10.0))
    noise *= np.sqrt(target / signal_power(noise))
    return (x.astype(np.float64) + noise).astype(np.float32)


def apply_gain(wave: np.ndarray, db: float, *, clip: bool = True) -> np.ndarray:
    """Scale by ``db`` decibels; hard-clip to [-1, 1] unless ``clip=False``."""
    x = _as_mono(wave)
    out = x * np.float32(10.0 ** (db / 20.0))
    if clip:
        out = np.clip(out, -1.0, 1.0)
    return out.astype(np.float32)


def _mu_law(x: np.ndarray, mu: int = 255) -> np.ndarray:
    """8-bit µ-law encode + decode (G.711 quantisation)."""
    x = np.clip(x, -1.0, 1.0)
    compressed = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    quantised = np.round((compressed + 1.0) / 2.0 * mu) / mu * 2.0 - 1.0
    return np.sign(quantised) * ((1.0 + mu) ** np.abs(quantised) - 1.0) / mu


def fast_len(n: int) -> int:
    """Smallest 2^a·3^b·5^c >= n (an FFT length numpy handles quickly)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _spectrum(x: np.ndarray) -> tuple[np.ndarray, int]:
    m = fast_len(max(x.size, 2))
    return np.fft.rfft(x, n=m), m


def _from_spectrum(spec: np.ndarray, m: int, sr: int, target_sr: int, n_out: int) -> np.ndarray:
    """Inverse FFT at ``target_sr``: truncate (band-limit) or zero-pad the spectrum."""
    m_out = max(2, int(round(m * target_sr / sr)))
    bins = m_out // 2 + 1
    out_spec = np.zeros(bins, dtype=np.complex128)
    k = min(bins, spec.shape[0])
    out_spec[:k] = spec[:k]
    return np.fft.irfft(out_spec * (m_out / m), n=m_out)[:n_out]


def resample(wave: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """FFT resampling (ideal low-pass at the lower Nyquist); float64 out."""
    x = np.asarray(wave, dtype=np.float64)
    if sr == target_sr:
        return x
    spec, m = _spectrum(x)
    return _from_spectrum(spec, m, sr, target_sr, int(round(x.size * target_sr / sr)))


def _band_mask(
    freqs: np.ndarray, low: float, high: float, low_taper: float, high_taper: float
) -> np.ndarray:
    """1 inside [low, high], raised-cosine roll-offs just outside, else 0."""
    mask = ((freqs >= low) & (freqs <= high)).astype(np.float64)
    below = (freqs > low - low_taper) & (freqs < low)
    mask[below] = 0.5 - 0.5 * np.cos(np.pi * (freqs[below] - (low - low_taper)) / low_taper)
    above = (freqs > high) & (freqs < high + high_taper)
    mask[above] = 0.5 + 0.5 * np.cos(np.pi * (freqs[above] - high) / high_taper)
    return mask


def telephone(
    wave: np.ndarray, sr: int, *, keep_rate: bool = False, mu_law: bool = True
) -> tuple[np.ndarray, int]:
    """Narrow-band telephone channel: 300–3400 Hz band-pass, 8 kHz, µ-law.

    Band-pass and resampling are one FFT operation (raised-cosine edges 100 Hz below 300 Hz
    and 300 Hz above 3400 Hz).  Returns ``(wave, 8000)`` by default; with ``keep_rate=True``
    the degraded signal is resampled back and returned at ``sr``.
    """
    x = _as_mono(wave).astype(np.float64)
    if sr <= 0:
        raise ValueError(f"invalid sample rate {sr}")
    low, high = TELEPHONE_BAND_HZ
    spec, m = _spectrum(x)
    freqs = np.fft.rfftfreq(m, 1.0 / sr)
    top = min(high, sr / 2.0)
    high_taper = max(1.0, min(300.0, min(TELEPHONE_RATE, sr) / 2.0 - top))
    spec = spec * _band_mask(freqs, low, top, 100.0, high_taper)
    n_out = int(round(x.size * TELEPHONE_RATE / sr))
    narrow = _from_spectrum(spec, m, sr, TELEPHONE_RATE, n_out)
    if mu_law:
        narrow = _mu_law(narrow)
    if keep_rate:
        return resample(narrow, TELEPHONE_RATE, sr)[: x.size].astype(np.float32), sr
    return narrow.astype(np.float32), TELEPHONE_RATE


def fit_to_range(wave: np.ndarray, peak: float = 0.99) -> np.ndarray:
    """Scale down (never up) so that ``max(|wave|) <= peak``; keeps every ratio intact."""
    x = np.asarray(wave, dtype=np.float32)
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if m > peak:
        x = x * np.float32(peak / m)
    return x
