"""Audio decoding shared by every stage (corpus, validation, extractors, serving).

One implementation: files and uploaded bytes both go through :func:`decode`, which
returns float32 samples shaped ``(channels, samples)`` and names the source in every
error.  :func:`to_model_input` turns that into the 16 kHz mono signal all extractors use.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from nordlid.errors import AudioDecodeError

log = logging.getLogger(__name__)

TARGET_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 in [-1, 1], shape ``(channels, samples)``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def num_channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.num_samples / float(self.sample_rate)


def _riff_truncation(head: bytes, total_size: int) -> str | None:
    """For RIFF/WAVE data: a reason when the ``data`` chunk claims more bytes than exist.

    libsndfile silently shortens such files to what is present, so a WAV cut in transfer
    would otherwise decode as a shorter, "valid" recording.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        size = int.from_bytes(head[offset + 4 : offset + 8], "little")
        if chunk_id == b"data":
            available = total_size - (offset + 8)
            if size != 0xFFFFFFFF and size > available:
                return f"truncated: WAV data chunk declares {size} bytes, only {available} present"
            return None
        offset += 8 + size + (size & 1)
    return None


def _open(source: str | Path | bytes, name: str) -> sf.SoundFile:
    target: io.BytesIO | str
    if isinstance(source, bytes):
        if not source:
            raise AudioDecodeError(name, "empty input (0 bytes)", code="empty")
        target = io.BytesIO(source)
        reason = _riff_truncation(source[:4096], len(source))
    else:
        path = Path(source)
        if not path.exists():
            raise AudioDecodeError(name, "file does not exist", code="missing_file")
        if path.stat().st_size == 0:
            raise AudioDecodeError(name, "empty file (0 bytes)", code="empty")
        target = str(path)
        with open(path, "rb") as fh:
            reason = _riff_truncation(fh.read(4096), path.stat().st_size)
    if reason:
        raise AudioDecodeError(name, reason, code="truncated")
    try:
        return sf.SoundFile(target)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioDecodeError(
            name, f"not a readable audio file ({exc})", code="not_audio"
        ) from exc


def decode(source: str | Path | bytes, name: str | None = None, *, dtype: str = "float32") -> Audio:
    """Decode a WAV/FLAC/OGG/MP3 file or byte string.

    Raises :class:`AudioDecodeError` (with a reason code) for empty, truncated or non-audio
    input, zero samples, and non-finite sample values.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    with _open(source, label) as f:
        sample_rate = int(f.samplerate)
        declared = f.frames
        try:
            data = f.read(dtype=dtype, always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioDecodeError(label, f"corrupt audio data ({exc})", code="corrupt") from exc
    if sample_rate <= 0:
        raise AudioDecodeError(label, f"invalid sample rate {sample_rate}", code="bad_header")
    if data.shape[0] == 0:
        raise AudioDecodeError(label, "audio has 0 samples", code="no_samples")
    if declared > 0 and data.shape[0] < declared:
        raise AudioDecodeError(
            label,
            f"truncated: header declares {declared} frames, only {data.shape[0]} present",
            code="truncated",
        )
    samples = np.ascontiguousarray(data.T)
    if samples.dtype.kind == "f" and not np.isfinite(samples).all():
        raise AudioDecodeError(label, "audio contains NaN or infinite samples", code="non_finite")
    return Audio(samples=samples, sample_rate=sample_rate)


def file_info(path: str | Path) -> sf._SoundFileInfo:
    """Header information without decoding; raises :class:`AudioDecodeError`."""
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(
            str(path), f"not a readable audio file ({exc})", "not_audio"
        ) from exc


def pcm_sha256(source: str | Path | bytes | Audio, name: str | None = None) -> str:
    """SHA-256 of the decoded 16-bit PCM samples (interleaved), independent of the container.

    The same samples stored as WAV or FLAC hash identically; a resampled or gain-changed
    copy does not (that is a *near* duplicate, found by validation's fingerprints).
    """
    if isinstance(source, Audio):
        # decoding divides 16-bit PCM by 32768, so this inverts it exactly
        pcm = np.clip(np.round(source.samples * 32768.0), -32768, 32767).astype("<i2")
        channels = source.num_channels
    else:
        audio = decode(source, name, dtype="int16")
        pcm = audio.samples.astype("<i2")
        channels = audio.num_channels
    h = hashlib.sha256()
    h.update(f"ch={channels};".encode())
    h.update(np.ascontiguousarray(pcm.T).tobytes())
    return h.hexdigest()


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average channels: ``(channels, n)`` or ``(n,)`` → ``(n,)`` float32."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=0).astype(np.float32)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int = TARGET_SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling: soxr (high quality, ~30x faster on CPU) or torchaudio's sinc.

    Every stage calls this one function, so batch features and served features agree.
    """
    if orig_sr == target_sr:
        return wave.astype(np.float32, copy=False)
    try:
        import soxr
    except ImportError:  # soxr is a declared dependency; torchaudio is the documented fallback
        soxr = None
    if soxr is not None:
        out = soxr.resample(np.ascontiguousarray(wave, dtype=np.float32), orig_sr, target_sr, "HQ")
        return np.asarray(out, dtype=np.float32)
    import torch
    import torchaudio.functional as taf

    tensor = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    return taf.resample(tensor, orig_sr, target_sr).numpy()


def to_model_input(audio: Audio, target_sr: int = TARGET_SAMPLE_RATE) -> np.ndarray:
    """Stereo→mono then resample: the one signal every extractor consumes."""
    return resample(to_mono(audio.samples), audio.sample_rate, target_sr)


def load_for_model(path: str | Path, target_sr: int = TARGET_SAMPLE_RATE) -> np.ndarray:
    return to_model_input(decode(path), target_sr)
