"""Streaming identification state: PCM chunks in, a prediction due every second of audio.

Protocol of ``WS /v1/stream``: the first message is JSON ``{"sample_rate": 16000}``; then
binary messages of little-endian 16-bit mono PCM; a text message ``{"event": "end"}``
(or ``"end"``) asks for the final answer, after which the server closes.  The server
sends ``{"type": "partial", ...}`` each time another second of audio has arrived (once
the minimum duration is reached), ``{"type": "final", ...}`` at the end and
``{"type": "error", "detail": ...}`` for bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from serving.audio_input import pcm16_to_float, stream_input
from serving.errors import RequestError

MIN_RATE, DEFAULT_MAX_RATE = 8_000, 48_000


def parse_start(message: str, max_rate: int = DEFAULT_MAX_RATE) -> int:
    """The sample rate from the opening message; RequestError names what is wrong."""
    try:
        data = json.loads(message)
    except json.JSONDecodeError as exc:
        raise RequestError(
            400, f'first message must be JSON like {{"sample_rate": 16000}}: {exc}'
        ) from exc
    rate = data.get("sample_rate") if isinstance(data, dict) else None
    if not isinstance(rate, int) or isinstance(rate, bool) or not MIN_RATE <= rate <= max_rate:
        raise RequestError(
            422, f"sample_rate must be an integer between {MIN_RATE} and {max_rate}, got {rate!r}"
        )
    return rate


def is_end(message: str) -> bool:
    text = message.strip()
    if text == "end":
        return True
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("event") == "end"


@dataclass
class StreamBuffer:
    """Accumulates PCM; keeps at most ``max_duration_s`` of the most recent audio."""

    sample_rate: int
    min_duration_s: float
    max_duration_s: float
    _chunks: list[np.ndarray] = field(default_factory=list)
    _n: int = 0
    _pending_byte: bytes = b""
    _received: int = 0  # all samples ever received
    _last_prediction_at: int = 0  # value of _received at the last prediction

    def feed(self, pcm: bytes) -> None:
        data = self._pending_byte + pcm
        if len(data) % 2:
            data, self._pending_byte = data[:-1], data[-1:]
        else:
            self._pending_byte = b""
        if not data:
            return
        samples = pcm16_to_float(data)
        self._chunks.append(samples)
        self._n += samples.size
        self._received += samples.size
        limit = int(self.max_duration_s * self.sample_rate)
        if self._n > 2 * limit:
            self._compact(limit)

    def _compact(self, limit: int) -> None:
        joined = np.concatenate(self._chunks)[-limit:]
        self._chunks, self._n = [joined], joined.size

    @property
    def received_s(self) -> float:
        return self._received / self.sample_rate

    @property
    def duration_s(self) -> float:
        return min(self._n, int(self.max_duration_s * self.sample_rate)) / self.sample_rate

    def partial_due(self) -> bool:
        """True once per further second of audio, after the minimum duration."""
        if self.received_s < self.min_duration_s:
            return False
        return (
            self._received - self._last_prediction_at >= self.sample_rate
            or self._last_prediction_at == 0
        )

    def mark_predicted(self) -> None:
        self._last_prediction_at = self._received

    def wave16k(self) -> np.ndarray:
        """The most recent ``max_duration_s`` of audio as 16 kHz model input."""
        if self.received_s < self.min_duration_s:
            raise RequestError(
                422,
                f"stream is too short ({self.received_s:.3f} s; minimum {self.min_duration_s:g} s)",
            )
        self._compact(int(self.max_duration_s * self.sample_rate))
        return stream_input(self._chunks[0], self.sample_rate)
