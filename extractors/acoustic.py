"""The ``acoustic`` extractor: weight-free LID statistics of 16 kHz speech.

Pipeline per batch: silence trimmed with silero-vad (``validation.speech_quality``) →
frame analysis with torch of all the batch's frames stacked without padding
(:mod:`extractors.acoustic_frames`) →
per-utterance pooling over that utterance's own frames only (this module).  Columns and
lengths are declared by :func:`extractors.acoustic_params.acoustic_spec`.

What separates languages cheaply: the distribution of cepstra and log-mel energies
(mean, spread, quantiles), their dynamics (deltas and shifted delta cepstra, which span
~200 ms and so capture phonotactics), spectral shape, and prosody (F0 level, range,
movement and the voiced fraction).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from extractors.acoustic_frames import FrameAnalyzer, FrameFeatures
from extractors.acoustic_params import AcousticParams, acoustic_spec, quantile_name
from extractors.base import Extractor, Row

log = logging.getLogger(__name__)


def deltas(x: np.ndarray, width: int) -> np.ndarray:
    """Regression deltas over ``±width`` frames with edge replication (``[T, D]``)."""
    t = x.shape[0]
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    num = np.zeros_like(x)
    for n in range(1, width + 1):
        num += n * (padded[width + n : width + n + t] - padded[width - n : width - n + t])
    return num / (2.0 * sum(n * n for n in range(1, width + 1)))


def shifted_delta_cepstra(c: np.ndarray, n: int, d: int, p: int, k: int) -> np.ndarray:
    """SDC N-d-P-k: ``k`` blocks of ``c[t+d]-c[t-d]`` shifted by ``P`` frames (``[T, N*k]``)."""
    t = c.shape[0]
    idx = np.arange(t)
    base = c[:, :n]
    delta = base[np.clip(idx + d, 0, t - 1)] - base[np.clip(idx - d, 0, t - 1)]
    shifted = np.clip(idx[:, None] + p * np.arange(k), 0, t - 1)  # [T, k]: one gather
    return delta[shifted].reshape(t, k * n)


def quantiles(x: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """``np.quantile(x, qs, axis=0)`` (its default linear method) from one sort of ``x``."""
    ordered = np.sort(x, axis=0)
    pos = np.asarray(qs, dtype=np.float64) * (len(x) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(x) - 1)
    frac = (pos - lo)[:, None]
    a, b = ordered[lo], ordered[hi]
    # numpy's lerp: from the nearer end, so q = 1 gives exactly the maximum
    return np.where(frac >= 0.5, b - (b - a) * (1.0 - frac), a + (b - a) * frac)


def random_fourier_projection(p: AcousticParams) -> tuple[np.ndarray, np.ndarray]:
    """The fixed projection ``(W [2·n_mfcc, rff_dim], b [rff_dim])`` drawn from ``rff_seed``."""
    rng = np.random.default_rng(p.rff_seed)
    dim = 2 * p.n_mfcc
    w = rng.standard_normal((dim, p.rff_dim)) / (p.rff_sigma * np.sqrt(dim))
    b = rng.uniform(0.0, 2.0 * np.pi, p.rff_dim)
    return w, b


def rff_mean(
    mfcc: np.ndarray,
    p: AcousticParams,
    proj: tuple[np.ndarray, np.ndarray],
    mfcc_deltas: np.ndarray | None = None,
) -> np.ndarray:
    """Kernel mean embedding: average over frames of ``cos([z, Δz] W + b)``.

    ``z`` is the utterance-mean-normalised MFCC in units of ``rff_scale_db``.  A linear model
    on this vector acts like an RBF-kernel model on the whole frame distribution, which
    captures the multi-modal shape that means and quantiles flatten.  ``mfcc_deltas``
    (``deltas(mfcc, p.delta_width)``) saves recomputing them: deltas ignore the mean.
    """
    import torch

    d1 = deltas(mfcc, p.delta_width) if mfcc_deltas is None else mfcc_deltas
    z = (mfcc - mfcc.mean(axis=0)) / p.rff_scale_db
    w, b = proj
    return _rff(z, d1 / p.rff_scale_db, torch.from_numpy(w.astype(np.float32)), b)


def _rff(z: np.ndarray, dz: np.ndarray, w: Any, b: np.ndarray) -> np.ndarray:
    """``mean_t cos([z, 2 Δz] W + b)`` in float32 torch (``w`` a ``[2D, R]`` tensor)."""
    import torch

    features = np.empty((z.shape[0], 2 * z.shape[1]), dtype=np.float32)
    features[:, : z.shape[1]] = z
    features[:, z.shape[1] :] = 2.0 * dz
    projected = torch.from_numpy(features) @ w
    projected += torch.from_numpy(b.astype(np.float32))
    return projected.cos_().mean(dim=0).double().numpy()


def correlations(x: np.ndarray) -> np.ndarray:
    """Upper-triangle Pearson correlations of the columns (0 where a column is constant)."""
    z = x - x.mean(axis=0)
    return _correlations(z, np.sqrt((z * z).mean(axis=0)))


def _correlations(z: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Correlations of already centred columns ``z`` with standard deviations ``std``."""
    cov = (z.T @ z) / max(len(z), 1)
    denom = np.outer(std, std)
    corr = np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 1e-12)
    return corr[np.triu_indices(z.shape[1], 1)]


def skew_kurtosis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = x - x.mean(axis=0)
    return _skew_kurtosis(z, np.sqrt((z * z).mean(axis=0)))


def _skew_kurtosis(z: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardised third and fourth moments of centred columns (0 where constant)."""
    ok = std > 1e-12
    u = z * np.where(ok, 1.0 / np.where(ok, std, 1.0), 0.0)
    u2 = u * u
    return (u2 * u).mean(axis=0), (u2 * u2).mean(axis=0)


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


_SCALARS = (
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_rolloff",
    "zcr",
    "rms",
)


def pool_utterance(
    ff: FrameFeatures,
    b: int,
    p: AcousticParams,
    n_samples: int,
    proj: tuple[np.ndarray, np.ndarray] | None = None,
    proj_tensor: Any = None,
) -> Row:
    """Statistics of utterance ``b`` over its own frames (float64 maths, float32 out).

    Every per-frame track (MFCC, deltas, SDC, log-mel, contrast, the scalar tracks) is laid
    side by side in one ``[T, D]`` matrix so that means and standard deviations take one
    pass each; ``proj_tensor`` is ``proj``'s ``W`` as a float32 tensor (cached by the caller).
    """
    s = ff.span(b)
    t = s.stop - s.start
    c, w = p.n_mfcc, p.delta_width
    sdc_dim = p.sdc_n * p.sdc_k
    widths = {
        "mfcc": c,
        "mfcc_delta": c,
        "mfcc_delta2": c,
        "sdc": sdc_dim,
        "logmel": p.n_mels,
        "spectral_contrast": ff.contrast.shape[1],
    }
    cols = {}
    at = 0
    for name, width in widths.items():
        cols[name] = slice(at, at + width)
        at += width
    frame = np.empty((t, at + len(_SCALARS)), dtype=np.float64)
    mfcc = frame[:, cols["mfcc"]]
    mfcc[:] = ff.mfcc[s]
    frame[:, cols["mfcc_delta"]] = d1 = deltas(mfcc, w)
    frame[:, cols["mfcc_delta2"]] = deltas(d1, w)
    frame[:, cols["sdc"]] = shifted_delta_cepstra(mfcc, p.sdc_n, p.sdc_d, p.sdc_p, p.sdc_k)
    frame[:, cols["logmel"]] = ff.logmel[s]
    frame[:, cols["spectral_contrast"]] = ff.contrast[s]
    for j, track in enumerate((ff.centroid, ff.bandwidth, ff.rolloff, ff.zcr, ff.rms)):
        frame[:, at + j] = track[s]

    mean = frame.mean(axis=0)
    centred = frame - mean
    std = np.sqrt((centred * centred).mean(axis=0))
    row: Row = {}
    row["mfcc_mean"], row["mfcc_std"] = mean[cols["mfcc"]], std[cols["mfcc"]]
    for q, values in zip(p.quantiles, quantiles(mfcc, p.quantiles), strict=True):
        row[f"mfcc_{quantile_name(q)}"] = values
    z, z_std = centred[:, cols["mfcc"]], std[cols["mfcc"]]
    row["mfcc_skew"], row["mfcc_kurtosis"] = _skew_kurtosis(z, z_std)
    k = p.corr_coeffs
    row["mfcc_corr"] = _correlations(z[:, :k], z_std[:k])
    for name in ("mfcc_delta", "mfcc_delta2", "sdc"):
        row[f"{name}_mean"], row[f"{name}_std"] = mean[cols[name]], std[cols[name]]
    if p.rff_dim:
        import torch

        w_proj, b_proj = proj or random_fourier_projection(p)
        w_t = (
            proj_tensor if proj_tensor is not None else torch.from_numpy(w_proj.astype(np.float32))
        )
        row["rff_mean"] = _rff(z / p.rff_scale_db, d1 / p.rff_scale_db, w_t, b_proj)
    for name in ("logmel", "spectral_contrast"):
        row[f"{name}_mean"], row[f"{name}_std"] = mean[cols[name]], std[cols[name]]
    for j, name in enumerate(_SCALARS):
        row[f"{name}_mean"], row[f"{name}_std"] = mean[at + j], std[at + j]
    row.update(_pitch_stats(ff, b, p))
    row["speech_duration_s"] = n_samples / p.sample_rate
    return {k: (_f32(v) if np.ndim(v) else float(np.float32(v))) for k, v in row.items()}


def _pitch_stats(ff: FrameFeatures, b: int, p: AcousticParams) -> dict[str, float]:
    s = ff.pitch_span(b)
    f0 = ff.f0[s].astype(np.float64)
    rms = ff.pitch_rms[s].astype(np.float64)
    # Voiced: periodic (decided in the frame stage) and within 30 dB of the loudest frame.
    voiced = (f0 > 0) & (rms > 10 ** (-30 / 20) * rms.max())
    out = {
        "voiced_ratio": float(voiced.mean()),
        "pitch_median_st": 0.0,
        "pitch_std_st": 0.0,
        "pitch_range_st": 0.0,
        "pitch_slope_std_st": 0.0,
    }
    if not voiced.any():
        return out
    st = 12.0 * np.log2(np.where(voiced, f0, 100.0) / 100.0)
    v = st[voiced]
    lo, med, hi = np.quantile(v, (0.1, 0.5, 0.9))
    out.update(pitch_median_st=med, pitch_std_st=v.std(), pitch_range_st=hi - lo)
    both = voiced[1:] & voiced[:-1]
    if both.sum() >= 2:
        out["pitch_slope_std_st"] = float(np.diff(st)[both].std())
    return out


class AcousticExtractor(Extractor):
    """Weight-free acoustic statistics; optional silero-vad trimming of silence."""

    engine_autocast = False  # spectral statistics stay in float32
    vad_threads = min(4, os.cpu_count() or 1)

    def __init__(self, vad: Any = None, device: str = "cpu", **params: Any) -> None:
        self.params = AcousticParams(**params)
        self.spec = acoustic_spec(**params)
        self._vad = vad
        self.device = device
        self._analyzer: FrameAnalyzer | None = None
        self._proj = random_fourier_projection(self.params)
        self._proj_tensor: Any = None

    def to(self, device: str) -> AcousticExtractor:
        if device != self.device:
            self.device = device
            self._analyzer = None
        return self

    @property
    def analyzer(self) -> FrameAnalyzer:
        if self._analyzer is None:
            self._analyzer = FrameAnalyzer(self.params, self.device)
        return self._analyzer

    def lineage(self) -> dict[str, str]:
        out = super().lineage()
        out["vad"] = "silero-vad" if self.params.trim_silence else "none"
        digest = hashlib.sha256(self._proj[0].tobytes() + self._proj[1].tobytes())
        out["rff_projection_sha256"] = digest.hexdigest()
        return out

    def trim(self, wave: np.ndarray) -> np.ndarray:
        """Concatenate the VAD speech segments; the whole wave when none is found."""
        if not self.params.trim_silence:
            return wave
        from validation.speech_quality import load_vad, speech_segments

        if self._vad is None:
            self._vad = load_vad()
        segments = speech_segments(wave, self._vad)
        if not segments:
            return wave
        return np.concatenate([wave[s:e] for s, e in segments])

    def _trim_all(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Trim every wave; silero-vad (ONNX, GIL released) runs on a few threads."""
        workers = min(len(waves), self.vad_threads)
        if not self.params.trim_silence or workers <= 1:
            return [self.trim(w) for w in waves]
        if self._vad is None:
            from validation.speech_quality import load_vad

            self._vad = load_vad()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nordlid-vad") as pool:
            # each task in a copy of this context: a shared_speech_segments() memo stays visible
            jobs = [pool.submit(contextvars.copy_context().run, self.trim, w) for w in waves]
            return [job.result() for job in jobs]

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        if not waves:
            return []
        trimmed = self._trim_all([np.asarray(w, dtype=np.float32) for w in waves])
        for i, w in enumerate(trimmed):
            if w.size == 0:
                raise ValueError(f"acoustic: wave {i} of the batch is empty")
        ff = self.analyzer.analyze(trimmed)
        if self._proj_tensor is None:
            import torch

            self._proj_tensor = torch.from_numpy(self._proj[0].astype(np.float32))
        return [
            pool_utterance(ff, b, self.params, len(w), self._proj, self._proj_tensor)
            for b, w in enumerate(trimmed)
        ]
