"""Acoustic fingerprints for near-duplicate detection.

The same speech re-encoded, resampled or with a gain change has a different PCM hash but
the same time–frequency pattern.  A fingerprint is that pattern, made invariant to what
such copies change:

1. 16 kHz mono input; leading and trailing low-energy frames trimmed (silence padding);
2. log-mel energies (40 bands, 60–4000 Hz, so band-limited and resampled copies agree),
   floored 80 dB below the peak;
3. the frame sequence averaged into a fixed number of time bins;
4. the global mean removed (a gain change is a constant offset in the log domain) and the
   vector scaled to unit length.

Two utterances are near duplicates when their fingerprints' cosine similarity reaches a
threshold *and* their trimmed durations agree within a tolerance (a copy keeps its timing).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from nordlid.audio import TARGET_SAMPLE_RATE

N_FFT = 512
HOP = 160
N_MELS = 40
F_MIN, F_MAX = 60.0, 4000.0
TIME_BINS = 48
FLOOR_DB = 80.0
TRIM_DB = 40.0  # frames this far below the loudest frame count as leading/trailing silence


@dataclass(frozen=True)
class Fingerprint:
    vector: np.ndarray  # float32, unit length (all zeros for silence)
    speech_s: float  # duration after trimming leading/trailing silence

    @property
    def is_silent(self) -> bool:
        return not bool(np.any(self.vector))


@functools.lru_cache(maxsize=1)
def _mel_filterbank() -> np.ndarray:
    """(n_fft//2+1, n_mels) triangular filters on the HTK mel scale."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, TARGET_SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mels = np.linspace(hz_to_mel(np.array(F_MIN)), hz_to_mel(np.array(F_MAX)), N_MELS + 2)
    edges = mel_to_hz(mels)
    fb = np.zeros((freqs.size, N_MELS), dtype=np.float64)
    for m in range(N_MELS):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[:, m] = np.clip(np.minimum(up, down), 0.0, None)
    return fb.astype(np.float32)


def _frames_power(wave: np.ndarray) -> np.ndarray:
    """Power spectrogram, (frames, n_fft//2+1)."""
    if wave.size < N_FFT:
        wave = np.pad(wave, (0, N_FFT - wave.size))
    n_frames = 1 + (wave.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = wave[idx] * np.hanning(N_FFT).astype(np.float32)[None, :]
    spec = np.fft.rfft(frames, axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def _time_bins(x: np.ndarray, bins: int) -> np.ndarray:
    """Average (frames, d) into exactly ``bins`` rows (repeating rows when frames < bins)."""
    n = x.shape[0]
    edges = np.linspace(0, n, bins + 1)
    out = np.empty((bins, x.shape[1]), dtype=np.float32)
    for b in range(bins):
        lo = int(np.floor(edges[b]))
        hi = max(lo + 1, int(np.ceil(edges[b + 1])))
        out[b] = x[lo:hi].mean(axis=0)
    return out


def fingerprint(wave16k: np.ndarray) -> Fingerprint:
    """The fingerprint of one 16 kHz mono wave (see the module docstring)."""
    wave = np.asarray(wave16k, dtype=np.float32).reshape(-1)
    zero = np.zeros(N_MELS * TIME_BINS, dtype=np.float32)
    if wave.size == 0 or not np.any(wave):
        return Fingerprint(zero, 0.0)
    power = _frames_power(wave)
    frame_db = 10.0 * np.log10(power.sum(axis=1) + 1e-12)
    loud = np.flatnonzero(frame_db >= frame_db.max() - TRIM_DB)
    first, last = int(loud[0]), int(loud[-1])
    speech_s = ((last - first) * HOP + N_FFT) / TARGET_SAMPLE_RATE
    mel = power[first : last + 1] @ _mel_filterbank()
    mel_db = 10.0 * np.log10(mel + 1e-12)
    mel_db = np.maximum(mel_db, mel_db.max() - FLOOR_DB)
    binned = _time_bins(mel_db, TIME_BINS)
    vec = (binned - binned.mean()).reshape(-1)
    norm = float(np.linalg.norm(vec))
    if norm == 0.0 or not np.isfinite(norm):
        return Fingerprint(zero, speech_s)
    return Fingerprint((vec / norm).astype(np.float32), speech_s)


def near_duplicate_pairs(
    vectors: np.ndarray, speech_s: np.ndarray, *, threshold: float, duration_tolerance: float
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` with ``i < j`` whose fingerprints match.

    Only pairs whose durations agree within ``duration_tolerance`` (relative) are compared:
    rows are sorted by duration and each is compared with the window of rows after it, so
    the cost grows with the number of similar-length utterances, not with n².
    """
    n = vectors.shape[0]
    if n < 2:
        return []
    order = np.argsort(speech_s, kind="stable")
    dur = speech_s[order]
    vecs = vectors[order]
    silent = ~np.any(vecs, axis=1)
    limits = np.searchsorted(dur, dur * (1.0 + duration_tolerance), side="right")
    pairs: list[tuple[int, int, float]] = []
    for a in range(n):
        hi = int(limits[a])
        if hi <= a + 1 or silent[a]:
            continue
        sims = vecs[a + 1 : hi] @ vecs[a]
        for off in np.flatnonzero(sims >= threshold):
            b = a + 1 + int(off)
            if silent[b]:
                continue
            i, j = int(order[a]), int(order[b])
            pairs.append((min(i, j), max(i, j), float(sims[off])))
    return pairs
