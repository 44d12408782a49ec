"""Streaming identification state: PCM chunks in, a prediction due every second of audio.

Protocol of ``WS /v1/stream``: the first message is JSON ``{"sample_rate": 16000}``; then
binary messages of little-endian 16-bit mono PCM; a text message ``{"event": "end"}``
(or ``"end"``) asks for the final answer, after which the server closes.  The server
sends ``{"type": "partial", ...}`` each time the audio received crosses another whole
second (once the minimum duration is reached), ``{"type": "final", ...}`` at the end and
``{"type": "error", "status": ..., "detail": ...}`` for bad input, then closes with a
WebSocket close code (:func:`close_code`).  Audio with too little speech gets
``{"type": "partial"|"final", "language": null, "reason": "no_speech", "speech_s": ...}``.
Text messages are at most :data:`CONTROL_MAX_CHARS` characters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving.audio_input import RecentSamples, pcm16_to_float, stream_input
from serving.errors import RequestError
from serving.speech import StreamSpeech

MIN_RATE, DEFAULT_MAX_RATE = 8_000, 48_000


CONTROL_MAX_CHARS = 4096  # text (control) messages: the config and "end"
CONFIG_HINT = 'send JSON like {"sample_rate": 16000} as a text message'


# WebSocket close codes for the HTTP-like statuses of a failed stream (RFC 6455 section 7.4)
_CLOSE_CODES = {401: 1008, 403: 1008, 408: 1008, 413: 1009, 503: 1013}


def close_code(status: int) -> int:
    """Policy violation for auth and timeouts, message too big, try again later when
    full; other bad input is unsupported data, server faults internal error."""
    return _CLOSE_CODES.get(status, 1003 if status < 500 else 1011)


def parse_control(message: str, what: str) -> Any:
    """JSON of a text message, size-capped before parsing; RequestError names the problem."""
    if len(message) > CONTROL_MAX_CHARS:
        raise RequestError(
            413,
            f"{what}: text message of {len(message)} characters is too long "
            f"(control messages are at most {CONTROL_MAX_CHARS})",
        )
    try:
        return json.loads(message)
    except RecursionError:
        raise RequestError(400, f"{what}: JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and out-of-range numbers
        raise RequestError(400, f"{what} must be JSON: {exc}") from None


def parse_start(message: str, max_rate: int = DEFAULT_MAX_RATE) -> int:
    """The sample rate from the opening message; RequestError names what is wrong."""
    data = parse_control(message, f"first message ({CONFIG_HINT})")
    rate = data.get("sample_rate") if isinstance(data, dict) else None
    if not isinstance(rate, int) or isinstance(rate, bool) or not MIN_RATE <= rate <= max_rate:
        shown = repr(rate) if rate is None or isinstance(rate, int) else type(rate).__name__
        shown = shown if len(shown) <= 24 else shown[:24] + "…"
        raise RequestError(
            422, f"sample_rate must be an integer between {MIN_RATE} and {max_rate}, got {shown}"
        )
    return rate


def is_end(message: str) -> bool:
    """True for ``"end"`` or ``{"event": "end"}``; over-long text raises RequestError(413)."""
    text = message.strip()
    if text == "end":
        return True
    try:
        data = parse_control(text, "text message")
    except RequestError as exc:
        if exc.status == 413:
            raise
        return False
    return isinstance(data, dict) and data.get("event") == "end"


@dataclass
class StreamBuffer:
    """Accumulates PCM; keeps at most ``max_duration_s`` of the most recent audio."""

    sample_rate: int
    min_duration_s: float
    max_duration_s: float
    speech: StreamSpeech | None = None  # incremental VAD (the no-speech check)
    audio: RecentSamples = field(init=False)
    _pending_byte: bytes = b""
    _received: int = 0  # all samples ever received
    _last_prediction_at: int = 0  # value of _received at the last prediction

    def __post_init__(self) -> None:
        self.audio = RecentSamples(int(self.max_duration_s * self.sample_rate))

    def feed(self, pcm: bytes) -> None:
        data = self._pending_byte + pcm
        if len(data) % 2:
            data, self._pending_byte = data[:-1], data[-1:]
        else:
            self._pending_byte = b""
        if not data:
            return
        samples = pcm16_to_float(data)
        self.audio.append(samples)
        if self.speech is not None:
            self.speech.add(samples)
        self._received += samples.size

    @property
    def received_s(self) -> float:
        return self._received / self.sample_rate

    @property
    def duration_s(self) -> float:
        return min(self.audio.n, self.audio.limit) / self.sample_rate

    def partial_due(self) -> bool:
        """True each time the audio received crosses another whole second (1 s, 2 s, ...),
        once the minimum duration is reached."""
        if self.received_s < self.min_duration_s:
            return False
        return self._received // self.sample_rate > self._last_prediction_at // self.sample_rate

    def mark_predicted(self) -> None:
        self._last_prediction_at = self._received

    def wave16k(self) -> np.ndarray:
        """The most recent ``max_duration_s`` of audio as 16 kHz model input."""
        if self.received_s < self.min_duration_s:
            raise RequestError(
                422,
                f"stream is too short ({self.received_s:.3f} s; minimum {self.min_duration_s:g} s)",
            )
        return stream_input(self.audio.recent(), self.sample_rate)
