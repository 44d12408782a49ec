"""Frame-level acoustic analysis of a batch of 16 kHz waves (torch, ragged, batched).

Frames are taken with ``center=False`` so that every frame of an utterance sees only that
utterance's own samples.  The frames of all utterances of a batch are stacked along one
axis (no padding between utterances) and analysed in blocks of consecutive frames, so the
cost is proportional to the audio actually given and a frame's values never depend on
which other utterances share the batch: the pooled statistics are batch-invariant.
:class:`FrameFeatures` says which rows belong to which utterance.

Long batches are analysed in blocks of at most ``chunk_frames`` frames (frame-aligned, so
the result equals the unblocked analysis); nothing is ever truncated.

Cost notes (CPU): the FFT input is written, windowed, into a zero-padded contiguous buffer
(``torch.fft.rfft(x, n=...)`` on a strided view is ~3× slower); the 2:1 decimation for pitch
reuses one cached torchaudio sinc kernel; spectral contrast takes band maxima/minima of
contiguous bin ranges instead of a top-k per band.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from extractors.acoustic_params import AcousticParams

PITCH_FFT = 512
PITCH_DECIMATION = 2
#: frames per block of the frame stage (bounded by ``chunk_frames``): big enough to amortise
#: per-op overhead, small enough that a block's spectra stay in the CPU cache.
BLOCK_FRAMES = 1024
#: decimated samples computed per matrix-vector product (bounds the unfolded copy: ~7 MB)
DECIMATE_SLICE = 1 << 16
_EPS = 1e-10


def num_frames(n_samples: int, win: int, hop: int) -> int:
    """Frames of ``win`` samples every ``hop`` that lie entirely inside the signal (≥ 1)."""
    if n_samples <= win:
        return 1
    return 1 + (n_samples - win) // hop


@dataclass
class FrameFeatures:
    """Per-frame features of one batch as CPU numpy arrays, utterances stacked on axis 0.

    Utterance ``b`` owns rows ``offsets[b]:offsets[b+1]`` of the spectral arrays and rows
    ``pitch_offsets[b]:pitch_offsets[b+1]`` of the pitch arrays.
    """

    offsets: np.ndarray  # [B+1] spectral frame offsets
    logmel: np.ndarray  # [N, n_mels] dB
    mfcc: np.ndarray  # [N, n_mfcc]
    centroid: np.ndarray  # [N] Hz
    bandwidth: np.ndarray  # [N] Hz
    rolloff: np.ndarray  # [N] Hz
    contrast: np.ndarray  # [N, bands + 1] dB
    zcr: np.ndarray  # [N] crossings per sample
    rms: np.ndarray  # [N]
    pitch_offsets: np.ndarray  # [B+1]
    f0: np.ndarray  # [Np] Hz (0 where unvoiced)
    periodicity: np.ndarray  # [Np] normalised autocorrelation peak
    pitch_rms: np.ndarray  # [Np]

    @property
    def n_frames(self) -> np.ndarray:
        """Spectral frames per utterance ``[B]``."""
        return np.diff(self.offsets)

    @property
    def n_pitch_frames(self) -> np.ndarray:
        """Pitch frames per utterance ``[B]``."""
        return np.diff(self.pitch_offsets)

    def span(self, b: int) -> slice:
        return slice(int(self.offsets[b]), int(self.offsets[b + 1]))

    def pitch_span(self, b: int) -> slice:
        return slice(int(self.pitch_offsets[b]), int(self.pitch_offsets[b + 1]))


def ragged_blocks(views: list[torch.Tensor], block: int) -> Iterator[torch.Tensor]:
    """Consecutive rows of ``views`` (each ``[n_i, win]``) regrouped into ``[≤block, win]``."""
    import torch

    pending: list[torch.Tensor] = []
    size = 0
    for view in views:
        start = 0
        while start < view.shape[0]:
            take = min(block - size, view.shape[0] - start)
            pending.append(view[start : start + take])
            size += take
            start += take
            if size == block:
                yield pending[0] if len(pending) == 1 else torch.cat(pending)
                pending, size = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else torch.cat(pending)


def contrast_bands(freqs: np.ndarray, params: AcousticParams) -> list[tuple[int, int, int]]:
    """Octave bands as ``(first bin, end bin, k)``: contiguous FFT-bin ranges, and how many
    bins (``contrast_quantile`` of the band, at least one) its peak and valley average."""
    edges = [0.0] + [params.contrast_f_min * 2.0**i for i in range(params.contrast_bands)]
    edges.append(params.sample_rate / 2 + 1.0)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        idx = np.nonzero((freqs >= lo) & (freqs < hi))[0]
        if idx.size == 0:
            raise ValueError(f"spectral contrast band [{lo}, {hi}) Hz holds no FFT bin")
        k = max(1, int(round(params.contrast_quantile * idx.size)))
        out.append((int(idx[0]), int(idx[-1]) + 1, k))  # freqs ascend: the bins are contiguous
    return out


def extreme_mean(band: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    """Mean of the ``k`` largest (or smallest) values along axis 0 (= the top-k mean).

    ``band`` is ``[bins, frames]`` (frequency-major), so each step is a reduction across
    contiguous rows; for the small ``k`` of spectral contrast, repeated extreme + knock-out
    of that one bin is several times cheaper on CPU than ``topk``.
    """
    if k > 4:
        return band.topk(k, dim=0, largest=largest).values.mean(0)
    fill = float("-inf") if largest else float("inf")
    best, arg = band.max(0, keepdim=True) if largest else band.min(0, keepdim=True)
    total = best
    for _ in range(k - 1):
        band = band.scatter(0, arg, fill)  # knock out one occurrence, as topk would take it
        best, arg = band.max(0, keepdim=True) if largest else band.min(0, keepdim=True)
        total = total + best
    return total.squeeze(0) / k


class FrameAnalyzer:
    """Holds the constant matrices (window, mel filters, DCT, band indices) for one device."""

    def __init__(self, params: AcousticParams, device: str = "cpu") -> None:
        import torch
        import torchaudio
        import torchaudio.functional as taf

        self.p = params
        self.device = torch.device(device)
        self.block = max(1, min(params.chunk_frames, BLOCK_FRAMES))
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
        # [n_freqs, 2]: one matmul gives each frame's total magnitude and its first moment
        self.moments = torch.stack([torch.ones_like(self.freqs), self.freqs], dim=1)
        self.bands = contrast_bands(self.freqs.cpu().numpy(), params)
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
        # torchaudio's band-limited sinc kernel for sr → sr/2, computed once (as Resample does)
        resampler = torchaudio.transforms.Resample(sr, sr // PITCH_DECIMATION)
        self.resample_kernel = resampler.kernel.reshape(-1).to(self.device)
        self.resample_width = int(resampler.width)
        if self.resample_kernel.numel() != 2 * self.resample_width + PITCH_DECIMATION:
            raise ValueError("unexpected torchaudio resampling kernel layout")

    # ------------------------------------------------------------------------------------
    def analyze(self, waves: list[np.ndarray]) -> FrameFeatures:
        """Frame every wave, stack the frames of all waves, compute every frame-level feature."""
        import torch

        p = self.p
        min_len = max(p.pitch_win_length, p.win_length)
        spectral_views: list[torch.Tensor] = []
        pitch_views: list[torch.Tensor] = []
        zcr: list[torch.Tensor] = []
        rms: list[torch.Tensor] = []
        counts, pitch_counts = [], []
        for w in waves:
            x = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)).to(self.device)
            if x.numel() < min_len:  # too short for one frame: zero-padded, one frame
                x = torch.nn.functional.pad(x, (0, min_len - x.numel()))
            n = num_frames(len(w), p.win_length, p.hop_length)
            frames = x.unfold(-1, p.win_length, p.hop_length)[:n]
            spectral_views.append(frames)
            zcr.append(self._zcr(x, n))
            rms.append(torch.linalg.vector_norm(frames, dim=-1) / math.sqrt(p.win_length))
            # Pitch on the signal decimated to 8 kHz (F0 <= 400 Hz): a quarter of the FFT work.
            n_pitch = num_frames(-(-len(w) // PITCH_DECIMATION), self.pitch_win, self.pitch_hop)
            small = self._decimate(x)
            pitch_views.append(small.unfold(-1, self.pitch_win, self.pitch_hop)[:n_pitch])
            counts.append(n)
            pitch_counts.append(n_pitch)
        spectral = self._blocks(spectral_views, self._spectral)
        pitch = self._blocks(pitch_views, self._pitch)
        return FrameFeatures(
            offsets=np.concatenate([[0], np.cumsum(counts)]),
            logmel=spectral["logmel"],
            mfcc=spectral["mfcc"],
            centroid=spectral["centroid"],
            bandwidth=spectral["bandwidth"],
            rolloff=spectral["rolloff"],
            contrast=spectral["contrast"],
            zcr=torch.cat(zcr).cpu().numpy(),
            rms=torch.cat(rms).cpu().numpy(),
            pitch_offsets=np.concatenate([[0], np.cumsum(pitch_counts)]),
            f0=pitch["f0"],
            periodicity=pitch["periodicity"],
            pitch_rms=pitch["rms"],
        )

    def _decimate(self, x: torch.Tensor) -> torch.Tensor:
        """``torchaudio.functional.resample(x, sr, sr/2)`` with the cached kernel (1-D).

        The FIR runs as a matrix-vector product over an unfolded view, in slices of
        :data:`DECIMATE_SLICE` outputs so that the unfolded copy stays small for long audio.
        """
        import torch

        k, width = self.resample_kernel, self.resample_width
        padded = torch.nn.functional.pad(x, (width, width + PITCH_DECIMATION))
        n_out = -(-x.numel() // PITCH_DECIMATION)
        taps = k.numel()
        parts = []
        for j0 in range(0, n_out, DECIMATE_SLICE):
            j1 = min(n_out, j0 + DECIMATE_SLICE)
            piece = padded[j0 * PITCH_DECIMATION : (j1 - 1) * PITCH_DECIMATION + taps]
            parts.append(piece.unfold(-1, taps, PITCH_DECIMATION) @ k)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _zcr(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """Sign changes between neighbouring samples inside each of the first ``n`` frames."""
        import torch

        win, hop = self.p.win_length, self.p.hop_length
        signs = torch.signbit(x)
        flips = (signs[1:] != signs[:-1]).to(torch.float32)
        return flips.unfold(-1, win - 1, hop)[:n].sum(-1) / (win - 1)

    def _blocks(
        self,
        views: list[torch.Tensor],
        fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    ) -> dict[str, np.ndarray]:
        """Apply ``fn`` to blocks of consecutive stacked frames; concatenate the results."""
        parts: dict[str, list[np.ndarray]] = {}
        for block in ragged_blocks(views, self.block):
            for key, value in fn(block).items():
                parts.setdefault(key, []).append(value.float().cpu().numpy())
        return {k: np.concatenate(v, axis=0) for k, v in parts.items()}

    def _spectral(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        import torch

        p = self.p
        buf = frames.new_zeros((frames.shape[0], p.n_fft))
        torch.mul(frames, self.window, out=buf[:, : p.win_length])
        spec = torch.fft.rfft(buf)
        power = spec.real.square().add_(spec.imag.square())
        mag = power.sqrt()
        logmel = torch.log10((power @ self.mel).add_(_EPS)).mul_(10.0)
        mfcc = logmel @ self.dct

        moments = mag @ self.moments
        total = moments[:, 0] + _EPS
        centroid = moments[:, 1] / total
        spread = (self.freqs - centroid.unsqueeze(-1)).square_().mul_(mag).sum(-1)
        bandwidth = spread.div_(total).sqrt_()
        cumulative = mag.cumsum(-1)
        threshold = (p.rolloff * cumulative[:, -1:]).contiguous()
        below = torch.searchsorted(cumulative, threshold).squeeze(-1)  # bins strictly below
        rolloff = self.freqs[below.clamp_max(self.freqs.shape[0] - 1)]
        return {
            "logmel": logmel,
            "mfcc": mfcc,
            "centroid": centroid,
            "bandwidth": bandwidth,
            "rolloff": rolloff,
            "contrast": self._contrast(power),
        }

    def _contrast(self, power: torch.Tensor) -> torch.Tensor:
        """Octave-band peak/valley ratio in dB: means of the top and bottom quantile bins."""
        import torch

        by_bin = power.t().contiguous()  # [n_freqs, frames]: band reductions run across rows
        peaks, valleys = [], []
        for lo, hi, k in self.bands:
            band = by_bin[lo:hi]
            peaks.append(band.amax(0) if k == 1 else extreme_mean(band, k, largest=True))
            valleys.append(band.amin(0) if k == 1 else extreme_mean(band, k, largest=False))
        peak = torch.stack(peaks, dim=-1).add_(_EPS)
        valley = torch.stack(valleys, dim=-1).add_(_EPS)
        return (torch.log10(peak) - torch.log10(valley)).mul_(10.0)

    def _pitch(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        import torch

        p = self.p
        buf = frames.new_zeros((frames.shape[0], PITCH_FFT))
        centred = buf[:, : self.pitch_win]
        torch.sub(frames, frames.mean(-1, keepdim=True), out=centred)
        rms = torch.linalg.vector_norm(centred, dim=-1) / math.sqrt(self.pitch_win)
        centred.mul_(self.pitch_window)
        spec = torch.fft.rfft(buf)
        acf = torch.fft.irfft(spec.real.square().add_(spec.imag.square()), n=PITCH_FFT)
        acf = acf[:, : self.lag_max + 2]
        acf = acf / (acf[:, :1] + _EPS) / self.window_acf
        search = acf[:, self.lag_min : self.lag_max + 1]
        best = search.max(-1, keepdim=True).values
        # Octave-safe choice: the shortest lag whose local peak is within 10 % of the best
        # (a periodic frame also peaks at 2, 3, ... periods).
        inner = acf[:, self.lag_min - 1 : self.lag_max + 2]
        good = (search >= inner[:, :-2]) & (search >= inner[:, 2:]) & (search >= 0.9 * best)
        arg = torch.where(good.any(-1), good.to(torch.uint8).argmax(-1), search.argmax(-1))
        lag = (arg + self.lag_min).clamp(1, self.lag_max)
        # Parabolic interpolation of the peak for sub-sample lag resolution.
        around = acf.gather(-1, torch.stack([lag - 1, lag, lag + 1], dim=-1))
        left, peak, right = around.unbind(-1)
        denom = left - 2 * peak + right
        shift = torch.where(
            denom.abs() > 1e-9, 0.5 * (left - right) / denom, torch.zeros_like(denom)
        )
        refined = lag.float() + shift.clamp(-0.5, 0.5)
        voiced = (peak > p.voicing_threshold) & (rms > p.silence_rms)
        f0 = torch.where(voiced, self.pitch_sr / refined, torch.zeros_like(refined))
        return {"f0": f0, "periodicity": peak.clamp(-1.0, 1.5), "rms": rms}
