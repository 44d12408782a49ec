"""Turn uploaded bytes (or a file, or streamed PCM) into the 16 kHz mono model input.

Decoding is :func:`nordlid.audio.decode` (the same code the batch stages use); this
module adds the service's limits — upload size, content type, duration bounds — and maps
every failure to a :class:`~serving.errors.RequestError` with an HTTP status and a reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nordlid.audio import TARGET_SAMPLE_RATE, Audio, decode, to_model_input
from nordlid.errors import AudioDecodeError
from serving.errors import RequestError

# Part content types accepted for the uploaded file ('' = the client sent none).
_ALLOWED_PREFIXES = ("audio/", "video/ogg", "application/ogg", "application/octet-stream")

_DECODE_STATUS = {
    "empty": 400,
    "no_samples": 422,
    "non_finite": 422,
    "truncated": 422,
    "corrupt": 422,
    "bad_header": 422,
    "not_audio": 415,
}


_BYTESIO_RE = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4_000, 192_000
# Band-limited resampling builds a (16000/g) x (rate/g) kernel, g = gcd(rate, 16000):
# odd rates (e.g. 7919 Hz) would need hundreds of MB.  Common rates stay far below this.
MAX_RESAMPLE_KERNEL = 2_000_000


@dataclass(frozen=True)
class ModelInput:
    wave: np.ndarray  # float32, 16 kHz mono
    duration_s: float
    sample_rate: int
    num_channels: int


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int
    min_duration_s: float
    max_duration_s: float


def check_part_content_type(content_type: str | None, filename: str) -> None:
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct and not ct.startswith(_ALLOWED_PREFIXES):
        raise RequestError(
            415,
            f"file {filename!r}: content type {ct!r} is not audio "
            "(send WAV, FLAC, OGG or MP3 as audio/* or application/octet-stream)",
        )


def check_size(size: int, limits: Limits, filename: str) -> None:
    if size > limits.max_upload_bytes:
        raise RequestError(
            413,
            f"file {filename!r}: {size} bytes is too large (limit {limits.max_upload_bytes} bytes)",
        )


def check_duration(duration_s: float, limits: Limits, filename: str) -> None:
    if duration_s < limits.min_duration_s:
        raise RequestError(
            422,
            f"file {filename!r}: audio is too short ({duration_s:.3f} s; "
            f"minimum {limits.min_duration_s:g} s)",
        )
    if duration_s > limits.max_duration_s:
        raise RequestError(
            422,
            f"file {filename!r}: audio is too long ({duration_s:.3f} s; "
            f"maximum {limits.max_duration_s:g} s)",
        )


def _decode(source: bytes | Path, filename: str) -> Audio:
    try:
        return decode(source, filename)
    except AudioDecodeError as exc:
        status = _DECODE_STATUS.get(exc.code, 422)
        reason = _BYTESIO_RE.sub("the upload", exc.reason)
        if exc.code == "not_audio":
            reason = (
                "not a supported audio file (WAV, FLAC, OGG or MP3 expected; "
                f"unknown format or unsupported codec): {reason}"
            )
        raise RequestError(status, f"file {filename!r}: {reason}") from exc


def check_sample_rate(rate: int, filename: str) -> None:
    g = math.gcd(rate, TARGET_SAMPLE_RATE)
    if (
        not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
        or (rate // g) * (TARGET_SAMPLE_RATE // g) > MAX_RESAMPLE_KERNEL
    ):
        raise RequestError(
            422,
            f"file {filename!r}: sample rate {rate} Hz is not supported (use a standard rate "
            f"between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, e.g. 16000, 22050, 44100, 48000)",
        )


def prepare(audio: Audio, limits: Limits, filename: str) -> ModelInput:
    check_sample_rate(audio.sample_rate, filename)
    check_duration(audio.duration_s, limits, filename)
    wave = to_model_input(audio)
    if not np.isfinite(wave).all():  # resampling never adds these; decode rejects them first
        raise RequestError(422, f"file {filename!r}: audio contains NaN or infinite samples")
    return ModelInput(wave, audio.duration_s, audio.sample_rate, audio.num_channels)


def precheck_header(source: bytes | Path, limits: Limits, filename: str) -> None:
    """Reject over-long audio from its header, before decoding (a small FLAC of silence
    can hold hours of samples).  Unreadable headers are left to :func:`decode` to report."""
    import io

    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as f:
            frames, rate = int(f.frames), int(f.samplerate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError):
        return
    if rate > 0:
        check_sample_rate(rate, filename)
        if 0 < frames < 2**62:
            seconds = frames / rate
            if seconds > limits.max_duration_s:
                check_duration(seconds, limits, filename)


def from_bytes(data: bytes, limits: Limits, filename: str = "<upload>") -> ModelInput:
    """Validate and decode an upload (size → header → decode → duration → 16 kHz mono)."""
    check_size(len(data), limits, filename)
    if data:
        precheck_header(data, limits, filename)
    return prepare(_decode(data, filename), limits, filename)


def from_path(path: Path, limits: Limits) -> ModelInput:
    """The same checks for a local file (``nordlid predict``)."""
    name = str(path)
    if path.is_file():
        check_size(path.stat().st_size, limits, name)
        precheck_header(path, limits, name)
    return prepare(_decode(path, name), limits, name)


def pcm16_to_float(pcm: bytes) -> np.ndarray:
    """Little-endian 16-bit PCM bytes → float32 in [-1, 1)."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def stream_input(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Streamed mono samples at ``sample_rate`` → 16 kHz model input."""
    audio = Audio(samples=samples.reshape(1, -1), sample_rate=sample_rate)
    return to_model_input(audio, TARGET_SAMPLE_RATE)


MAX_CHUNKS = 256  # received arrays kept before they are joined (tiny frames cost ~100 B each)


@dataclass
class RecentSamples:
    """Received sample arrays, bounded: once they pass twice ``limit`` samples or
    :data:`MAX_CHUNKS` arrays (a flood of tiny frames) they are joined and cut to the most
    recent ``limit`` samples.  A stream's audio buffer and its incremental VAD both use it."""

    limit: int
    n: int = 0  # samples held
    _chunks: list[np.ndarray] = field(default_factory=list)

    @property
    def n_chunks(self) -> int:
        return len(self._chunks)

    def append(self, samples: np.ndarray) -> None:
        self._chunks.append(samples)
        self.n += samples.size
        if self.n > 2 * self.limit or len(self._chunks) > MAX_CHUNKS:
            self._join(cut=True)

    def _join(self, *, cut: bool) -> np.ndarray:
        joined = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        if cut:
            joined = joined[-self.limit :]
        self._chunks, self.n = [joined], joined.size
        return joined

    def recent(self) -> np.ndarray:
        """The most recent ``limit`` samples as one array."""
        return self._join(cut=True)

    def take(self) -> np.ndarray:
        """Everything held, as one array; the queue is empty afterwards."""
        joined = self._join(cut=False)
        self._chunks, self.n = [], 0
        return joined
