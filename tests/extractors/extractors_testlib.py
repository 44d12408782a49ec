"""Helpers of the extractor tests: known signals and a manifest of test recordings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from corpus.manifest import utterance_id
from nordlid.audio import pcm_sha256

SR = 16_000


def tone(freq: float, seconds: float, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def voiced_like(seconds: float, f0: float, seed: int, sr: int = SR) -> np.ndarray:
    """A speech-like test signal: harmonics of a gliding F0 with a syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    glide = f0 * (1.0 + 0.15 * np.sin(2 * np.pi * 0.7 * t + seed))
    phase = 2 * np.pi * np.cumsum(glide) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + seed) ** 2
    noise = 0.02 * rng.standard_normal(t.size)
    return (0.2 * envelope * wave + noise).astype(np.float32)


def _write(path: Path, wave: np.ndarray, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, sr, subtype="PCM_16")


def make_manifest(audio_dir: Path, specs: list[tuple[str, float, int, int]]) -> pd.DataFrame:
    """Rows for (name, seconds, sample_rate, channels) test signals written under audio_dir."""
    langs = ("da", "is", "no", "sv", "fo")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rows = []
    for k, (name, seconds, sr, channels) in enumerate(specs):
        mono = voiced_like(seconds, 100.0 + 15.0 * k, seed=k, sr=sr)
        wave = np.stack([mono, 0.5 * mono], axis=1) if channels == 2 else mono
        path = audio_dir / f"{name}.wav"
        _write(path, wave, sr)
        rows.append(
            {
                "utterance_id": utterance_id("folder", name),
                "path": str(path),
                "language": langs[k % len(langs)],
                "source": "folder",
                "source_language": langs[k % len(langs)],
                "speaker_id": None,
                "gender": None,
                "split": "train",
                "duration_s": len(mono) / sr,
                "sample_rate": sr,
                "num_channels": channels,
                "file_size": path.stat().st_size,
                "audio_sha256": pcm_sha256(path),
                "text": None,
                "condition": "clean",
                "event_timestamp": start + timedelta(minutes=k),
            }
        )
    return pd.DataFrame(rows)


MANIFEST_SPECS: list[tuple[str, float, int, int]] = [
    ("u00", 0.4, 16_000, 1),
    ("u01", 1.2, 16_000, 1),
    ("u02", 2.5, 22_050, 1),
    ("u03", 0.9, 16_000, 2),
    ("u04", 3.1, 16_000, 1),
    ("u05", 1.7, 8_000, 1),
    ("u06", 0.6, 16_000, 1),
    ("u07", 2.2, 16_000, 1),
    ("u08", 1.4, 44_100, 2),
    ("u09", 0.3, 16_000, 1),
]
