"""A pretrained speaker encoder: Resemblyzer's GE2E voice encoder (Apache-2.0).

The ``resemblyzer`` wheel ships ``resemblyzer/pretrained.pt`` (a 3-layer LSTM over 40-band
mel frames, trained with the generalised end-to-end speaker loss).  nordlid does not
import the package (its module imports webrtcvad at load): it reads that file with
``torch.load(weights_only=True)`` — plain tensors only, never arbitrary pickled objects —
into the same architecture, and computes the same input (volume normalised to -30 dBFS,
a 40-band mel power spectrogram, 25 ms windows every 10 ms, 1.6 s partial utterances whose
embeddings are averaged and L2-normalised).  Long silences are not trimmed (Resemblyzer
does that with webrtcvad); the corpus's validation already checks the speech ratio.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import ConfigError, MissingCheckpointError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DISTRIBUTION = "resemblyzer"
WEIGHTS_PATH = "resemblyzer/pretrained.pt"
SAMPLE_RATE = TARGET_SAMPLE_RATE  # the model input rate (nordlid.audio)
N_MELS = 40
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
PARTIAL_FRAMES = 160  # 1.6 s
TARGET_DBFS = -30.0
HIDDEN = 256
LAYERS = 3


def locate_weights() -> Path:
    """The installed ``resemblyzer/pretrained.pt``, or MissingCheckpointError."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise MissingCheckpointError(
            "voice-encoder", WEIGHTS_PATH, "pip install resemblyzer==0.1.4 (its wheel ships them)"
        ) from None
    path = Path(str(dist.locate_file(WEIGHTS_PATH)))
    if not path.is_file():
        raise MissingCheckpointError(
            "voice-encoder", str(path), "the resemblyzer installation has no pretrained.pt"
        )
    return path


class VoiceEncoder:
    """GE2E speaker embeddings (256-d, L2-normalised) of 16 kHz mono waves."""

    def __init__(self, weights: Path | None = None, *, partials_per_second: float = 0.625) -> None:
        import torch

        self.weights = weights or locate_weights()
        if not 0.625 <= partials_per_second <= 10:
            raise ConfigError(
                f"voice encoder: partials_per_second={partials_per_second} is not in "
                "[0.625, 10] (1.6 s partials must cover the utterance)"
            )
        self.step = max(1, round(SAMPLE_RATE / partials_per_second / HOP))
        try:
            checkpoint = torch.load(self.weights, map_location="cpu", weights_only=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ConfigError(f"{self.weights}: not a plain tensor checkpoint ({exc})") from exc
        state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise ConfigError(f"{self.weights}: no 'model_state' dict of tensors")
        self.lstm = torch.nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
        self.linear = torch.nn.Linear(HIDDEN, HIDDEN)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.lstm.eval()
        self.linear.eval()
        self.weights_sha256 = hashlib.sha256(self.weights.read_bytes()).hexdigest()
        self._mel_basis = _mel_basis()

    def lineage(self) -> dict[str, str]:
        return {
            "model": "resemblyzer GE2E voice encoder",
            "package": f"{DISTRIBUTION}=={importlib.metadata.version(DISTRIBUTION)}",
            "weights_sha256": self.weights_sha256,
        }

    def partials(self, wave: np.ndarray) -> np.ndarray:
        """``(n, 160, 40)`` mel partials of one wave (zero-padded to whole partials)."""
        wave = normalize_volume(np.asarray(wave, dtype=np.float32))
        n_frames = int(np.ceil((len(wave) + 1) / HOP))
        starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + self.step + 1), self.step))
        if len(starts) > 1:  # drop a last partial that is mostly padding (Resemblyzer: < 75 %)
            coverage = (len(wave) - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
            if coverage < 0.75:
                starts = starts[:-1]
        needed = (starts[-1] + PARTIAL_FRAMES) * HOP
        if needed > len(wave):
            wave = np.pad(wave, (0, needed - len(wave)))
        mel = self.mel(wave)
        return np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])

    def mel(self, wave: np.ndarray) -> np.ndarray:
        """``(frames, 40)`` mel power spectrogram (librosa's defaults: centred, Hann, Slaney)."""
        import librosa

        spec = np.abs(librosa.stft(wave, n_fft=N_FFT, hop_length=HOP)) ** 2
        mel: np.ndarray = (self._mel_basis @ spec).astype(np.float32).T
        return mel

    def _embed_partials(self, partials: torch.Tensor) -> torch.Tensor:
        import torch

        _, (hidden, _) = self.lstm(partials)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / torch.linalg.norm(raw, dim=1, keepdim=True).clamp(min=1e-12)

    def embed(self, waves: list[np.ndarray], batch_partials: int = 256) -> np.ndarray:
        """``(len(waves), 256)`` utterance embeddings (mean of partials, L2-normalised)."""
        import torch

        parts = [self.partials(w) for w in waves]
        owners = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
        stacked = np.concatenate(parts) if parts else np.zeros((0, PARTIAL_FRAMES, N_MELS))
        out = np.zeros((len(stacked), HIDDEN), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(stacked), batch_partials):
                batch = torch.from_numpy(stacked[start : start + batch_partials])
                out[start : start + batch_partials] = self._embed_partials(batch).numpy()
        embeds = np.zeros((len(waves), HIDDEN), dtype=np.float32)
        np.add.at(embeds, owners, out)
        norms = np.linalg.norm(embeds, axis=1, keepdims=True)
        return embeds / np.maximum(norms, 1e-12)


def normalize_volume(wave: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    if rms <= 0:
        return wave
    gain = 10 ** ((target_dbfs - 20 * np.log10(rms)) / 20)
    return (wave * gain).astype(np.float32)


def _mel_basis() -> np.ndarray:
    import librosa

    basis: np.ndarray = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    return basis
