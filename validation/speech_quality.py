"""Speech-quality measurements shared by validation and the ``quality``/``acoustic`` extractors.

- Voice activity from silero-vad, whose weights ship inside the ``silero_vad`` package.
  The batched ONNX ("sequence") model is used when ``onnxruntime`` is installed (bit-exact
  with the streaming model, about ten times faster on CPU); otherwise the TorchScript model.
- SQUIM objective scores (STOI, PESQ, SI-SDR) from torchaudio's ``SquimObjective``.  Its
  pretrained weights are not in any package; they come from a local file (safetensors or a
  PyTorch state dict), ``NORDLID_SQUIM_WEIGHTS``, torchaudio's asset cache, or a download
  through ``torchaudio.pipelines.SQUIM_OBJECTIVE`` when downloads are allowed.  When none is
  available :func:`load_squim` logs one line saying so and returns ``None``; the scores are
  then recorded as nulls.

All waves are 16 kHz mono float32 (``nordlid.audio.to_model_input``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import ConfigError

log = logging.getLogger(__name__)

VAD_FRAME = 512  # samples per silero-vad frame at 16 kHz
SQUIM_WEIGHTS_ENV = "NORDLID_SQUIM_WEIGHTS"
SQUIM_ASSET_KEY = "models/squim_objective_dns2020.pth"
DOWNLOAD_TIMEOUT_S = 30.0
SQUIM_KEYS: tuple[str, ...] = ("stoi", "pesq", "si_sdr")
SQUIM_MIN_SAMPLES = 800  # 50 ms: shorter input has no meaningful score (and < 64 crashes)


# --------------------------------------------------------------------------------------
# Voice activity detection
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VadSettings:
    """silero-vad's segmentation parameters (its own defaults)."""

    threshold: float = 0.5
    min_speech_ms: int = 250
    min_silence_ms: int = 100
    speech_pad_ms: int = 30


class Vad:
    """A loaded silero-vad model: per-frame speech probabilities for 16 kHz audio."""

    def __init__(self, model: Any, backend: str) -> None:
        self._model = model
        self.backend = backend

    def probabilities(self, wave16k: np.ndarray) -> np.ndarray:
        """One speech probability per 512-sample frame (the last frame zero-padded)."""
        wave = np.ascontiguousarray(np.asarray(wave16k, dtype=np.float32).reshape(-1))
        if wave.size == 0:
            return np.zeros(0, dtype=np.float32)
        if self.backend == "onnx-sequence":
            probs = self._model.audio_forward(wave, sampling_rate=TARGET_SAMPLE_RATE)
            return np.asarray(probs, dtype=np.float32).reshape(-1)
        import torch

        with torch.inference_mode():
            self._model.reset_states()
            out = self._model.audio_forward(torch.from_numpy(wave), TARGET_SAMPLE_RATE)
        return out.numpy().astype(np.float32).reshape(-1)


def _import_silero() -> Any:
    """Import silero_vad without letting it pin torch to one thread for the whole process.

    ``silero_vad.model`` calls ``torch.set_num_threads(1)`` at import time.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        import silero_vad
    finally:
        torch.set_num_threads(threads)
    return silero_vad


@functools.lru_cache(maxsize=1)
def load_vad() -> Vad:
    """The packaged silero-vad model, loaded once per process."""
    silero_vad = _import_silero()
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.info("onnxruntime not installed: silero-vad runs its TorchScript model (slower)")
        return Vad(silero_vad.load_silero_vad(), backend="jit")
    return Vad(silero_vad.load_silero_vad(sequence=True), backend="onnx-sequence")


class _SegmentMemo:
    """Speech segments already computed in one :func:`shared_speech_segments` block.

    Keyed by the wave *object* (plus the VAD and its settings); the entry keeps the array
    alive, so its ``id`` cannot be reused by another array while the block lasts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, int, VadSettings], tuple[Any, list[tuple[int, int]]]] = {}

    def get(self, wave: Any, vad: Vad, s: VadSettings) -> list[tuple[int, int]] | None:
        with self._lock:
            entry = self._entries.get((id(wave), id(vad), s))
        if entry is None or entry[0] is not wave:
            return None
        return list(entry[1])

    def put(self, wave: Any, vad: Vad, s: VadSettings, segments: list[tuple[int, int]]) -> None:
        with self._lock:
            self._entries[(id(wave), id(vad), s)] = (wave, list(segments))


_SEGMENT_MEMO: contextvars.ContextVar[_SegmentMemo | None] = contextvars.ContextVar(
    "nordlid_speech_segment_memo", default=None
)


@contextlib.contextmanager
def shared_speech_segments() -> Iterator[None]:
    """Within this block, :func:`speech_segments` of the same wave runs the VAD once.

    For computing several feature sets of the same in-memory waves (the ``acoustic``
    extractor trims silence, the ``quality`` extractor measures the speech ratio: one VAD
    pass serves both).  "The same wave" is the same array object, which must not be
    modified inside the block.  Threads started inside see the memo when they run in a
    copy of the caller's context (``contextvars.copy_context().run``).  Nested blocks share
    the outermost memo; it is dropped when that block ends.
    """
    if _SEGMENT_MEMO.get() is not None:
        yield
        return
    token = _SEGMENT_MEMO.set(_SegmentMemo())
    try:
        yield
    finally:
        _SEGMENT_MEMO.reset(token)


def speech_segments(
    wave16k: np.ndarray, vad: Vad, settings: VadSettings | None = None
) -> list[tuple[int, int]]:
    """Speech regions as ``(start, end)`` sample indices into ``wave16k`` (end exclusive).

    Inside :func:`shared_speech_segments`, a wave already segmented is not run again.
    """
    s = settings or VadSettings()
    memo = _SEGMENT_MEMO.get()
    if memo is not None:
        known = memo.get(wave16k, vad, s)
        if known is not None:
            return known
    out = _speech_segments(wave16k, vad, s)
    if memo is not None:
        memo.put(wave16k, vad, s, out)
    return out


def _speech_segments(wave16k: np.ndarray, vad: Vad, s: VadSettings) -> list[tuple[int, int]]:
    from silero_vad import get_speech_timestamps_from_probs

    wave = np.asarray(wave16k, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        return []
    probs = vad.probabilities(wave)
    stamps = get_speech_timestamps_from_probs(
        probs.tolist(),
        sampling_rate=TARGET_SAMPLE_RATE,
        threshold=s.threshold,
        min_speech_duration_ms=s.min_speech_ms,
        min_silence_duration_ms=s.min_silence_ms,
        speech_pad_ms=s.speech_pad_ms,
        audio_length_samples=int(wave.size),
    )
    out: list[tuple[int, int]] = []
    for stamp in stamps:
        start = max(0, int(stamp["start"]))
        end = min(int(wave.size), int(stamp["end"]))
        if end > start:
            out.append((start, end))
    return out


def speech_ratio(wave16k: np.ndarray, vad: Vad, settings: VadSettings | None = None) -> float:
    """Fraction of the samples that lie inside detected speech (0.0 for empty audio)."""
    wave = np.asarray(wave16k, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        return 0.0
    covered = np.zeros(wave.size, dtype=bool)
    # the caller's array, not the reshaped view: shared_speech_segments() knows it by identity
    for start, end in speech_segments(wave16k, vad, settings):
        covered[start:end] = True
    return float(covered.mean())


# --------------------------------------------------------------------------------------
# SQUIM objective
# --------------------------------------------------------------------------------------
def _offline() -> bool:
    flags = ("HF_HUB_OFFLINE", "NORDLID_OFFLINE")
    return any(os.environ.get(f, "").strip().lower() in {"1", "true", "yes"} for f in flags)


def _read_state_dict(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError) as exc:
            raise ConfigError(
                f"SQUIM weights {path}: not a readable safetensors file ({exc})"
            ) from exc
    import pickle

    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise ConfigError(f"SQUIM weights {path}: not a readable state dict ({exc})") from exc
    if not isinstance(state, dict):
        raise ConfigError(
            f"SQUIM weights {path}: expected a state dict, found {type(state).__name__}"
        )
    return state


def _model_from_file(path: Path) -> Any:
    from torchaudio.models import squim_objective_base

    model = squim_objective_base()
    state = _read_state_dict(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(
            f"SQUIM weights {path}: do not match torchaudio's squim_objective_base ({first})"
        ) from exc
    model.eval()
    log.info("SQUIM objective model loaded from %s", path)
    return model


@functools.lru_cache(maxsize=4)
def _load_cached(key: str) -> Any:
    if key != "<pipeline>":
        return _model_from_file(Path(key))
    from torchaudio.pipelines import SQUIM_OBJECTIVE

    return SQUIM_OBJECTIVE.get_model()


def load_squim(weights: str | Path | None = None) -> Any | None:
    """Load torchaudio's SQUIM objective model, or ``None`` (one log line) when no weights exist.

    ``weights``: a ``.safetensors`` file or a PyTorch state-dict file (``.pt``/``.pth``,
    loaded with ``weights_only=True``) for ``torchaudio.models.squim_objective_base``.
    Without it: ``$NORDLID_SQUIM_WEIGHTS``, then torchaudio's asset cache, then a download
    through ``torchaudio.pipelines.SQUIM_OBJECTIVE`` unless ``HF_HUB_OFFLINE``/``NORDLID_OFFLINE``
    is set.  A named file that does not exist or does not fit raises :class:`ConfigError`.
    """
    if weights is None and os.environ.get(SQUIM_WEIGHTS_ENV):
        weights = os.environ[SQUIM_WEIGHTS_ENV]
    if weights is not None:
        path = Path(weights).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"SQUIM weights file {path} does not exist")
        return _load_cached(str(path))

    from torchaudio.utils.download import _get_local_path

    cached = Path(_get_local_path(SQUIM_ASSET_KEY))
    if cached.is_file():
        return _load_cached("<pipeline>")
    how = (
        f"pass a squim_objective_base state dict (.safetensors or .pth) via ${SQUIM_WEIGHTS_ENV} "
        f"or the validation config's squim_weights, or place torchaudio's "
        f"squim_objective_dns2020.pth at {cached}"
    )
    if _offline():
        log.warning(
            "SQUIM objective weights are not available (offline); scores recorded as null: %s", how
        )
        return None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a firewall that drops packets must not hang
    try:
        return _load_cached("<pipeline>")
    except OSError as exc:  # urllib's URLError and socket timeouts are OSErrors
        log.warning(
            "SQUIM objective weights could not be downloaded (%s); scores recorded as null: %s",
            exc,
            how,
        )
        return None
    finally:
        socket.setdefaulttimeout(previous)


def _null_scores() -> dict[str, float | None]:
    return dict.fromkeys(SQUIM_KEYS)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run torch ops with ``n`` intra-op threads (None: leave as is), then restore."""
    import torch

    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def squim_scores(
    waves16k: list[np.ndarray],
    model: Any | None,
    *,
    max_seconds: float | None = None,
    threads: int | None = None,
) -> list[dict[str, float | None]]:
    """STOI, PESQ and SI-SDR per wave (``None`` values when ``model`` is None, a wave is
    shorter than 50 ms, or the model returns a non-finite score, as for digital silence).
    ``threads`` caps torch's intra-op threads while scoring: on a busy shared CPU one thread
    is several times faster than oversubscribed ones.

    Each wave is scored on its own (padding would change the scores); ``max_seconds`` scores
    only the first that many seconds, bounding the cost of long recordings.
    """
    if model is None:
        return [_null_scores() for _ in waves16k]
    import torch

    limit = int(max_seconds * TARGET_SAMPLE_RATE) if max_seconds else None
    out: list[dict[str, float | None]] = []
    with torch_threads(threads), torch.inference_mode():
        for wave in waves16k:
            x = np.asarray(wave, dtype=np.float32).reshape(-1)[:limit]
            if x.size < SQUIM_MIN_SAMPLES:
                out.append(_null_scores())
                continue
            stoi, pesq, si_sdr = model(torch.from_numpy(np.ascontiguousarray(x))[None, :])
            values = (float(stoi[0]), float(pesq[0]), float(si_sdr[0]))
            # digital silence normalises to NaN inside the model: no score, not a number
            out.append(
                {
                    k: (v if np.isfinite(v) else None)
                    for k, v in zip(SQUIM_KEYS, values, strict=True)
                }
            )
    return out
