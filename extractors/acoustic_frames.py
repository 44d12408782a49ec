"""Frame-level acoustic analysis of a padded batch of 16 kHz waves (torch, batched).

Frames are taken with ``center=False`` so that every valid frame of an utterance sees
only that utterance's own samples: a frame's values never depend on what the utterance
was padded with, which is what makes the pooled statistics batch-invariant.  Frames at
or beyond an utterance's ``n_frames`` are padding and must be ignored by the caller.

Long batches are analysed in chunks of ``chunk_frames`` frames (frame-aligned, so the
result equals the unchunked analysis exactly); nothing is ever truncated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from extractors.acoustic_params import AcousticParams

PITCH_FFT = 512
PITCH_DECIMATION = 2
_EPS = 1e-10


def num_frames(n_samples: int, win: int, hop: int) -> int:
    """Frames of ``win`` samples every ``hop`` that lie entirely inside the signal (≥ 1)."""
    if n_samples <= win:
        return 1
    return 1 + (n_samples - win) // hop


@dataclass
class FrameFeatures:
    """Per-frame features of one batch, as CPU numpy arrays ``[B, T, ...]``."""

    n_frames: np.ndarray  # [B] valid spectral frames per utterance
    logmel: np.ndarray  # [B, T, n_mels] dB
    mfcc: np.ndarray  # [B, T, n_mfcc]
    centroid: np.ndarray  # [B, T] Hz
    bandwidth: np.ndarray  # [B, T] Hz
    rolloff: np.ndarray  # [B, T] Hz
    contrast: np.ndarray  # [B, T, bands + 1] dB
    zcr: np.ndarray  # [B, T] crossings per sample
    rms: np.ndarray  # [B, T]
    n_pitch_frames: np.ndarray  # [B]
    f0: np.ndarray  # [B, Tp] Hz (0 where unvoiced)
    periodicity: np.ndarray  # [B, Tp] normalised autocorrelation peak
    pitch_rms: np.ndarray  # [B, Tp]


class FrameAnalyzer:
    """Holds the constant matrices (window, mel filters, DCT, band masks) for one device."""

    def __init__(self, params: AcousticParams, device: str = "cpu") -> None:
        import torch
        import torchaudio.functional as taf

        self.p = params
        self.device = torch.device(device)
        sr, n_fft = params.sample_rate, params.n_fft
        n_freqs = n_fft // 2 + 1
        self.freqs = torch.linspace(0, sr / 2, n_freqs, dtype=torch.float32, device=self.device)
        self.window = torch.hann_window(params.win_length, periodic=True, device=self.device)
        self.mel = taf.melscale_fbanks(
            n_freqs,
            params.f_min,
            params.f_max,
            params.n_mels,
            sr,
            norm="slaney",
            mel_scale="slaney",
        ).to(self.device)
        self.dct = taf.create_dct(params.n_mfcc, params.n_mels, "ortho").to(self.device)
        edges = [0.0] + [params.contrast_f_min * 2.0**i for i in range(params.contrast_bands)]
        edges.append(sr / 2 + 1.0)
        self.bands: list[torch.Tensor] = []
        freqs = self.freqs.cpu().numpy()
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            idx = np.nonzero((freqs >= lo) & (freqs < hi))[0]
            if idx.size == 0:
                raise ValueError(f"spectral contrast band [{lo}, {hi}) Hz holds no FFT bin")
            self.bands.append(torch.as_tensor(idx, device=self.device))
        # Pitch: Boersma-style autocorrelation, normalised by the window's own autocorrelation.
        self.pitch_win = params.pitch_win_length // PITCH_DECIMATION
        self.pitch_hop = params.hop_length // PITCH_DECIMATION
        self.pitch_sr = sr // PITCH_DECIMATION
        self.pitch_window = torch.hann_window(self.pitch_win, periodic=False, device=self.device)
        rw = torch.fft.irfft(torch.fft.rfft(self.pitch_window, n=PITCH_FFT).abs() ** 2, n=PITCH_FFT)
        self.lag_min = int(math.floor(self.pitch_sr / params.pitch_f_max))
        self.lag_max = int(math.ceil(self.pitch_sr / params.pitch_f_min))
        if self.lag_max >= self.pitch_win or self.pitch_win + self.lag_max > PITCH_FFT:
            raise ValueError("pitch_f_min too low for pitch_win_length / FFT size")
        self.window_acf = (rw[: self.lag_max + 2] / rw[0]).clamp_min(1e-3)

    # ------------------------------------------------------------------------------------
    def analyze(self, waves: list[np.ndarray]) -> FrameFeatures:
        """Pad ``waves`` into one batch and compute every frame-level feature."""
        import torch

        p = self.p
        lengths = [max(len(w), p.pitch_win_length, p.win_length) for w in waves]
        n_max = max(lengths)
        batch = torch.zeros((len(waves), n_max), dtype=torch.float32)
        for i, w in enumerate(waves):
            batch[i, : len(w)] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
        batch = batch.to(self.device)
        n_frames = np.array([num_frames(len(w), p.win_length, p.hop_length) for w in waves])
        spectral = self._chunked(batch, p.win_length, p.hop_length, self._spectral)
        spectral.update(self._zcr_rms(batch, n_max))
        # Pitch on the signal decimated to 8 kHz (F0 <= 400 Hz): a quarter of the FFT work.
        small = self._decimate(batch)
        n_pitch = np.array(
            [
                num_frames(-(-len(w) // PITCH_DECIMATION), self.pitch_win, self.pitch_hop)
                for w in waves
            ]
        )
        pitch = self._chunked(small, self.pitch_win, self.pitch_hop, self._pitch)
        return FrameFeatures(
            n_frames=n_frames,
            logmel=spectral["logmel"],
            mfcc=spectral["mfcc"],
            centroid=spectral["centroid"],
            bandwidth=spectral["bandwidth"],
            rolloff=spectral["rolloff"],
            contrast=spectral["contrast"],
            zcr=spectral["zcr"],
            rms=spectral["rms"],
            n_pitch_frames=n_pitch,
            f0=pitch["f0"],
            periodicity=pitch["periodicity"],
            pitch_rms=pitch["rms"],
        )

    def _decimate(self, batch: torch.Tensor) -> torch.Tensor:
        import torchaudio.functional as taf

        sr = self.p.sample_rate
        return taf.resample(batch, sr, sr // PITCH_DECIMATION)

    def _zcr_rms(self, batch: torch.Tensor, n_max: int) -> dict[str, np.ndarray]:
        """Zero-crossing rate and RMS of every frame from running sums (O(samples))."""
        import torch

        p = self.p
        win, hop = p.win_length, p.hop_length
        t = num_frames(n_max, win, hop)
        starts = torch.arange(t, device=batch.device) * hop
        signs = torch.signbit(batch)
        flips = (signs[:, 1:] != signs[:, :-1]).to(torch.int32)
        crossings = torch.nn.functional.pad(flips.cumsum(-1), (1, 0))
        zcr = (crossings[:, starts + win - 1] - crossings[:, starts]).double() / (win - 1)
        energy = torch.nn.functional.pad(batch.double().square().cumsum(-1), (1, 0))
        mean_square = (energy[:, starts + win] - energy[:, starts]).clamp_min(0.0) / win
        return {"zcr": zcr.float().cpu().numpy(), "rms": mean_square.sqrt().float().cpu().numpy()}

    def _chunked(
        self,
        batch: torch.Tensor,
        win: int,
        hop: int,
        fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    ) -> dict[str, np.ndarray]:
        """Apply ``fn`` to frame-aligned chunks of the unfolded batch; concatenate along T."""
        frames = batch.unfold(-1, win, hop)  # view [B, T, win]
        step = max(1, self.p.chunk_frames)
        parts: dict[str, list[np.ndarray]] = {}
        for t0 in range(0, frames.shape[1], step):
            for key, value in fn(frames[:, t0 : t0 + step]).items():
                parts.setdefault(key, []).append(value.float().cpu().numpy())
        return {k: np.concatenate(v, axis=1) for k, v in parts.items()}

    def _spectral(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        import torch

        p = self.p
        spec = torch.fft.rfft(frames * self.window, n=p.n_fft)
        power = spec.real.square() + spec.imag.square()
        mag = power.sqrt()
        mel_power = power @ self.mel
        logmel = 10.0 * torch.log10(mel_power + _EPS)
        mfcc = logmel @ self.dct

        total = mag.sum(-1) + _EPS
        centroid = (mag * self.freqs).sum(-1) / total
        bandwidth = ((self.freqs - centroid.unsqueeze(-1)).square() * mag).sum(-1).div(total).sqrt()
        cumulative = mag.cumsum(-1)
        below = (cumulative < p.rolloff * cumulative[..., -1:]).sum(-1)
        rolloff = self.freqs[below.clamp_max(self.freqs.shape[0] - 1)]

        contrast = []
        for idx in self.bands:
            band = power.index_select(-1, idx)
            k = max(1, int(round(p.contrast_quantile * idx.numel())))
            valley = band.topk(k, dim=-1, largest=False).values.mean(-1)
            peak = band.topk(k, dim=-1).values.mean(-1)
            contrast.append(10.0 * (torch.log10(peak + _EPS) - torch.log10(valley + _EPS)))
        return {
            "logmel": logmel,
            "mfcc": mfcc,
            "centroid": centroid,
            "bandwidth": bandwidth,
            "rolloff": rolloff,
            "contrast": torch.stack(contrast, dim=-1),
        }

    def _pitch(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        import torch

        p = self.p
        centred = frames - frames.mean(-1, keepdim=True)
        rms = centred.pow(2).mean(-1).sqrt()
        spec = torch.fft.rfft(centred * self.pitch_window, n=PITCH_FFT)
        acf = torch.fft.irfft(spec.real.square() + spec.imag.square(), n=PITCH_FFT)
        acf = acf[..., : self.lag_max + 2] / (acf[..., :1] + _EPS)
        acf = acf / self.window_acf
        search = acf[..., self.lag_min : self.lag_max + 1]
        best = search.max(-1, keepdim=True).values
        # Octave-safe choice: the shortest lag whose local peak is within 10 % of the best
        # (a periodic frame also peaks at 2, 3, ... periods).
        inner = acf[..., self.lag_min - 1 : self.lag_max + 2]
        is_peak = (search >= inner[..., :-2]) & (search >= inner[..., 2:])
        good = is_peak & (search >= 0.9 * best)
        arg = torch.where(good.any(-1), good.float().argmax(-1), search.argmax(-1))
        peak = search.gather(-1, arg.unsqueeze(-1)).squeeze(-1)
        lag = (arg + self.lag_min).clamp(1, self.lag_max)
        # Parabolic interpolation of the peak for sub-sample lag resolution.
        left = acf.gather(-1, (lag - 1).unsqueeze(-1)).squeeze(-1)
        right = acf.gather(-1, (lag + 1).unsqueeze(-1)).squeeze(-1)
        denom = left - 2 * peak + right
        shift = torch.where(
            denom.abs() > 1e-9, 0.5 * (left - right) / denom, torch.zeros_like(denom)
        )
        refined = lag.float() + shift.clamp(-0.5, 0.5)
        voiced = (peak > p.voicing_threshold) & (rms > p.silence_rms)
        f0 = torch.where(voiced, self.pitch_sr / refined, torch.zeros_like(refined))
        return {"f0": f0, "periodicity": peak.clamp(-1.0, 1.5), "rms": rms}
