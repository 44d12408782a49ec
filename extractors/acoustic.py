"""The ``acoustic`` extractor: weight-free LID statistics of 16 kHz speech.

Pipeline per batch: silence trimmed with silero-vad (``validation.speech_quality``) →
frame analysis of the padded batch with torch (:mod:`extractors.acoustic_frames`) →
per-utterance pooling over that utterance's own frames only (this module).  Columns and
lengths are declared by :func:`extractors.acoustic_params.acoustic_spec`.

What separates languages cheaply: the distribution of cepstra and log-mel energies
(mean, spread, quantiles), their dynamics (deltas and shifted delta cepstra, which span
~200 ms and so capture phonotactics), spectral shape, and prosody (F0 level, range,
movement and the voiced fraction).
"""

from __future__ import annotations

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
    blocks = [delta[np.clip(idx + i * p, 0, t - 1)] for i in range(k)]
    return np.concatenate(blocks, axis=1)


def random_fourier_projection(p: AcousticParams) -> tuple[np.ndarray, np.ndarray]:
    """The fixed projection ``(W [2·n_mfcc, rff_dim], b [rff_dim])`` drawn from ``rff_seed``."""
    rng = np.random.default_rng(p.rff_seed)
    dim = 2 * p.n_mfcc
    w = rng.standard_normal((dim, p.rff_dim)) / (p.rff_sigma * np.sqrt(dim))
    b = rng.uniform(0.0, 2.0 * np.pi, p.rff_dim)
    return w, b


def rff_mean(
    mfcc: np.ndarray, p: AcousticParams, proj: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Kernel mean embedding: average over frames of ``cos([z, Δz] W + b)``.

    ``z`` is the utterance-mean-normalised MFCC in units of ``rff_scale_db``.  A linear model
    on this vector acts like an RBF-kernel model on the whole frame distribution, which
    captures the multi-modal shape that means and quantiles flatten.
    """
    import torch

    z = (mfcc - mfcc.mean(axis=0)) / p.rff_scale_db
    features = torch.from_numpy(np.hstack([z, 2.0 * deltas(z, p.delta_width)]).astype(np.float32))
    w, b = proj
    projected = features @ torch.from_numpy(w.astype(np.float32)) + torch.from_numpy(
        b.astype(np.float32)
    )
    return projected.cos_().mean(dim=0).double().numpy()


def correlations(x: np.ndarray) -> np.ndarray:
    """Upper-triangle Pearson correlations of the columns (0 where a column is constant)."""
    z = x - x.mean(axis=0)
    std = np.sqrt((z * z).mean(axis=0))
    cov = (z.T @ z) / max(len(x), 1)
    denom = np.outer(std, std)
    corr = np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 1e-12)
    return corr[np.triu_indices(x.shape[1], 1)]


def skew_kurtosis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = x - x.mean(axis=0)
    std = np.sqrt((z * z).mean(axis=0))
    safe = np.where(std > 1e-12, std, 1.0)
    u = np.where(std > 1e-12, z / safe, 0.0)
    return (u**3).mean(axis=0), (u**4).mean(axis=0)


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), x.std(axis=0)


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def pool_utterance(
    ff: FrameFeatures,
    b: int,
    p: AcousticParams,
    n_samples: int,
    proj: tuple[np.ndarray, np.ndarray] | None = None,
) -> Row:
    """Statistics of utterance ``b`` over its valid frames (float64 maths, float32 out)."""
    t = int(ff.n_frames[b])
    mfcc = ff.mfcc[b, :t].astype(np.float64)
    logmel = ff.logmel[b, :t].astype(np.float64)
    d1 = deltas(mfcc, p.delta_width)
    d2 = deltas(d1, p.delta_width)
    sdc = shifted_delta_cepstra(mfcc, p.sdc_n, p.sdc_d, p.sdc_p, p.sdc_k)
    row: Row = {}
    row["mfcc_mean"], row["mfcc_std"] = _mean_std(mfcc)
    quantiles = np.quantile(mfcc, p.quantiles, axis=0)
    for q, values in zip(p.quantiles, quantiles, strict=True):
        row[f"mfcc_{quantile_name(q)}"] = values
    row["mfcc_skew"], row["mfcc_kurtosis"] = skew_kurtosis(mfcc)
    row["mfcc_corr"] = correlations(mfcc[:, : p.corr_coeffs])
    row["mfcc_delta_mean"], row["mfcc_delta_std"] = _mean_std(d1)
    row["mfcc_delta2_mean"], row["mfcc_delta2_std"] = _mean_std(d2)
    row["sdc_mean"], row["sdc_std"] = _mean_std(sdc)
    if p.rff_dim:
        row["rff_mean"] = rff_mean(mfcc, p, proj or random_fourier_projection(p))
    row["logmel_mean"], row["logmel_std"] = _mean_std(logmel)
    contrast = ff.contrast[b, :t].astype(np.float64)
    row["spectral_contrast_mean"], row["spectral_contrast_std"] = _mean_std(contrast)
    for name in ("centroid", "bandwidth", "rolloff"):
        values = getattr(ff, name)[b, :t].astype(np.float64)
        row[f"spectral_{name}_mean"], row[f"spectral_{name}_std"] = values.mean(), values.std()
    for name in ("zcr", "rms"):
        values = getattr(ff, name)[b, :t].astype(np.float64)
        row[f"{name}_mean"], row[f"{name}_std"] = values.mean(), values.std()
    row.update(_pitch_stats(ff, b, p))
    row["speech_duration_s"] = n_samples / p.sample_rate
    return {k: (_f32(v) if np.ndim(v) else float(np.float32(v))) for k, v in row.items()}


def _pitch_stats(ff: FrameFeatures, b: int, p: AcousticParams) -> dict[str, float]:
    tp = int(ff.n_pitch_frames[b])
    f0 = ff.f0[b, :tp].astype(np.float64)
    rms = ff.pitch_rms[b, :tp].astype(np.float64)
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
            return list(pool.map(self.trim, waves))

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        if not waves:
            return []
        trimmed = self._trim_all([np.asarray(w, dtype=np.float32) for w in waves])
        for i, w in enumerate(trimmed):
            if w.size == 0:
                raise ValueError(f"acoustic: wave {i} of the batch is empty")
        ff = self.analyzer.analyze(trimmed)
        return [
            pool_utterance(ff, b, self.params, len(w), self._proj) for b, w in enumerate(trimmed)
        ]
