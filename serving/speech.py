"""The speech gate: audio with less detected speech than ``min_speech_s`` gets no language.

The language models answer every input with some language, confidently so for inputs unlike
anything they were trained on (three seconds of digital silence came back Icelandic at
0.99999999998).  So before the cascade runs, silero-vad (the one validation and the
``acoustic``/``quality`` extractors use, :mod:`validation.speech_quality`) measures how much
speech the audio holds; below the minimum the answer is "no speech":

- ``POST /v1/identify``: HTTP 422 ``{"detail", "reason": "no_speech", "speech_s"}``;
- ``WS /v1/stream``: ``{"type": "partial"|"final", "language": null, "reason": "no_speech",
  "speech_s"}``;
- ``nordlid predict``: ``{"path", "language": null, "reason": "no_speech", "speech_s"}``.

Silence, white and pink noise and pure or harmonic tones have no silero-vad speech segments
(measured: the largest frame probability was 0.22, for a 200 Hz sine, against the 0.5
threshold), so no extra spectral check is needed.  The VAD runs once per request: inside
:func:`validation.speech_quality.shared_speech_segments` the extractors that trim or measure
speech reuse this pass, and a stream scans each received sample once
(:class:`StreamSpeech`).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nordlid.audio import TARGET_SAMPLE_RATE
from serving.audio_input import RecentSamples, stream_input
from serving.errors import RequestError

if TYPE_CHECKING:
    from serving.predictor import Prediction, Predictor

log = logging.getLogger(__name__)

NO_SPEECH = "no_speech"
VAD_FRAME = 512  # samples per silero-vad frame at 16 kHz


class NoSpeechError(RequestError):
    """The audio holds less speech than the minimum (HTTP 422, ``reason: no_speech``)."""

    def __init__(self, speech_s: float, min_speech_s: float, what: str = "audio") -> None:
        super().__init__(
            422,
            f"{what} holds no speech: {speech_s:.2f} s of speech detected, "
            f"at least {min_speech_s:g} s needed to identify a language",
        )
        self.speech_s = round(speech_s, 3)
        self.min_speech_s = min_speech_s

    def body(self) -> dict[str, Any]:
        """The JSON answer (HTTP body; stream and CLI add their own fields)."""
        return {"detail": self.reason, "reason": NO_SPEECH, "speech_s": self.speech_s}


class SpeechGate:
    """Measures speech with silero-vad and rejects audio with too little of it.

    ``min_speech_s == 0`` turns the gate off (no VAD runs).  The VAD model loads on first
    use (or :meth:`preload`), once per process.
    """

    def __init__(self, min_speech_s: float) -> None:
        self.min_speech_s = float(min_speech_s)
        self._vad: Any = None

    @property
    def enabled(self) -> bool:
        return self.min_speech_s > 0

    def preload(self) -> None:
        if self.enabled:
            self.vad()

    def vad(self) -> Any:
        if self._vad is None:
            from validation.speech_quality import load_vad

            self._vad = load_vad()
        return self._vad

    def speech_seconds(self, wave16k: np.ndarray) -> float:
        """Seconds of ``wave16k`` inside silero-vad speech segments (one VAD pass; inside
        ``shared_speech_segments()`` the extractors reuse it)."""
        from validation.speech_quality import speech_segments

        segments = speech_segments(wave16k, self.vad())
        return sum(end - start for start, end in segments) / TARGET_SAMPLE_RATE

    def require(self, speech_s: float, what: str = "audio") -> None:
        """Raise :class:`NoSpeechError` when ``speech_s`` is below the minimum."""
        if self.enabled and speech_s < self.min_speech_s:
            raise NoSpeechError(speech_s, self.min_speech_s, what)

    def check(self, wave16k: np.ndarray, what: str = "audio") -> float | None:
        """Speech seconds of ``wave16k`` (None when the gate is off); raise when too few."""
        if not self.enabled:
            return None
        speech_s = self.speech_seconds(wave16k)
        self.require(speech_s, what)
        return speech_s


def identify_speech(
    predictor: Predictor,
    gate: SpeechGate,
    wave16k: np.ndarray,
    what: str,
    speech_s: float | None = None,
) -> tuple[Prediction, float | None]:
    """Check for speech (unless ``speech_s`` was measured already), then run the cascade.

    One VAD pass: inside ``shared_speech_segments()`` the extractors that trim silence or
    measure the speech ratio of this same wave reuse the gate's segments.
    """
    from validation.speech_quality import shared_speech_segments

    with shared_speech_segments():
        if speech_s is None:
            speech_s = gate.check(wave16k, what)
        else:
            gate.require(speech_s, what)
        return predictor.identify(wave16k), speech_s


@dataclass
class StreamSpeech:
    """Incremental VAD for a stream: each received sample is scanned once.

    Frame probabilities of the audio received so far are kept for the most recent
    ``window_s`` (the audio the model sees); speech segments are re-derived from those
    probabilities (cheap), never by running the model over the whole buffer again.
    """

    gate: SpeechGate
    window_s: float
    _probs: deque[float] = field(default_factory=deque)
    sample_rate: int = TARGET_SAMPLE_RATE
    pending: RecentSamples = field(init=False)  # received since the last scan (the window)

    def __post_init__(self) -> None:
        self.pending = RecentSamples(int(self.window_s * self.sample_rate))

    def add(self, samples: np.ndarray) -> None:
        """Queue newly received samples (at ``sample_rate``) for the next scan."""
        if not self.gate.enabled or samples.size == 0:
            return
        self.pending.append(samples)

    def _scan(self) -> None:
        if not self.pending.n:
            return
        wave = stream_input(self.pending.take(), self.sample_rate)
        self._probs.extend(float(p) for p in self.gate.vad().probabilities(wave))
        keep = int(np.ceil(self.window_s * TARGET_SAMPLE_RATE / VAD_FRAME))
        while len(self._probs) > keep:
            self._probs.popleft()

    def speech_seconds(self) -> float:
        """Speech in the window, after scanning what arrived since the last call."""
        from silero_vad import get_speech_timestamps_from_probs

        from validation.speech_quality import VadSettings

        self._scan()
        if not self._probs:
            return 0.0
        s = VadSettings()
        stamps = get_speech_timestamps_from_probs(
            list(self._probs),
            sampling_rate=TARGET_SAMPLE_RATE,
            threshold=s.threshold,
            min_speech_duration_ms=s.min_speech_ms,
            min_silence_duration_ms=s.min_silence_ms,
            speech_pad_ms=s.speech_pad_ms,
            audio_length_samples=len(self._probs) * VAD_FRAME,
        )
        return sum(int(x["end"]) - int(x["start"]) for x in stamps) / TARGET_SAMPLE_RATE

    def check(self) -> float | None:
        """Speech seconds in the window (None when the gate is off); raise when too few."""
        if not self.gate.enabled:
            return None
        speech_s = self.speech_seconds()
        self.gate.require(speech_s, "stream")
        return speech_s
