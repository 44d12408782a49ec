"""One pass over the audio files: readability, header consistency, fingerprint, VAD, SQUIM.

Each file is decoded once (``nordlid.audio.decode``); a file that cannot be decoded gets the
decoder's reason code and the scan goes on.  Nothing but small per-row numbers and the
fingerprint vector is kept, so memory does not grow with the audio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nordlid.audio import Audio, decode, to_mono
from nordlid.errors import AudioDecodeError
from validation import fingerprint as fp
from validation.config import QualityConfig
from validation.speech_quality import SQUIM_KEYS, Vad, VadSettings, speech_ratio, squim_scores

log = logging.getLogger(__name__)

SCAN_COLUMNS: tuple[str, ...] = (
    "readable",
    "decode_code",
    "decode_reason",
    "decoded_duration_s",
    "decoded_sample_rate",
    "decoded_channels",
    "rms_dbfs",
    "speech_s",
    "speech_ratio",
    *SQUIM_KEYS,
)


@dataclass
class AudioScan:
    table: pd.DataFrame  # SCAN_COLUMNS, one row per manifest row (same order)
    vectors: np.ndarray  # (rows, fingerprint dim) float32; zeros where unreadable/silent
    vad_backend: str | None
    squim_loaded: bool


def to_16k(audio: Audio) -> np.ndarray:
    """16 kHz mono float32.  soxr when installed (far faster on CPU), else nordlid.audio."""
    mono = to_mono(audio.samples)
    if audio.sample_rate == fp.TARGET_SAMPLE_RATE:
        return mono
    try:
        import soxr
    except ImportError:
        from nordlid.audio import resample

        return resample(mono, audio.sample_rate, fp.TARGET_SAMPLE_RATE)
    return np.asarray(
        soxr.resample(mono, audio.sample_rate, fp.TARGET_SAMPLE_RATE), dtype=np.float32
    )


def resolve_path(raw: Any, base: Path) -> Path | None:
    if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
        return None
    p = Path(str(raw)).expanduser()
    return p if p.is_absolute() else base / p


def _empty_row() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(SCAN_COLUMNS)
    row["readable"] = False
    return row


def scan_audio(
    paths: list[Any],
    *,
    base_dir: Path,
    quality: QualityConfig,
    vad: Vad | None,
    squim: Any | None,
    progress: Callable[[int], None] | None = None,
) -> AudioScan:
    """Scan every path (manifest order); ``progress(1)`` after each file."""
    rows: list[dict[str, Any]] = []
    vectors = np.zeros((len(paths), fp.N_MELS * fp.TIME_BINS), dtype=np.float32)
    settings = VadSettings(threshold=quality.vad_threshold)
    for i, raw in enumerate(paths):
        row = _empty_row()
        path = resolve_path(raw, base_dir)
        try:
            if path is None:
                raise AudioDecodeError(str(raw), "no path given", code="missing_file")
            audio = decode(path)
        except AudioDecodeError as exc:
            row["decode_code"], row["decode_reason"] = exc.code, exc.reason
            rows.append(row)
            if progress:
                progress(1)
            continue
        wave = to_16k(audio)
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
        fprint = fp.fingerprint(wave)
        vectors[i] = fprint.vector
        row.update(
            readable=True,
            decoded_duration_s=audio.duration_s,
            decoded_sample_rate=audio.sample_rate,
            decoded_channels=audio.num_channels,
            rms_dbfs=20.0 * np.log10(rms) if rms > 0 else float("-inf"),
            speech_s=fprint.speech_s,
        )
        if vad is not None and quality.vad:
            row["speech_ratio"] = 0.0 if fprint.is_silent else speech_ratio(wave, vad, settings)
        if squim is not None and quality.squim:
            scores = squim_scores(
                [wave], squim, max_seconds=quality.squim_max_seconds, threads=quality.squim_threads
            )
            row.update(scores[0])
        rows.append(row)
        if progress:
            progress(1)
    table = pd.DataFrame(rows, columns=list(SCAN_COLUMNS))
    for col in ("decoded_duration_s", "rms_dbfs", "speech_s", "speech_ratio", *SQUIM_KEYS):
        table[col] = table[col].astype(float)
    table["decoded_sample_rate"] = table["decoded_sample_rate"].astype("Int64")
    table["decoded_channels"] = table["decoded_channels"].astype("Int64")
    table["readable"] = table["readable"].astype(bool)
    return AudioScan(
        table=table,
        vectors=vectors,
        vad_backend=vad.backend if vad is not None and quality.vad else None,
        squim_loaded=squim is not None and quality.squim,
    )
