"""Helpers for the corpus tests: tiny audio files written in the layouts the adapters read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def tone(seconds: float = 0.5, sr: int = 16_000, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    """A short voiced-like signal: a tone plus a little seeded noise (distinct per seed)."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    wave = 0.3 * np.sin(2 * np.pi * (freq + 10 * seed) * t) + 0.01 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def write_audio(
    path: Path, *, seconds: float = 0.5, sr: int = 16_000, seed: int = 0, **kw: object
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(seconds, sr, seed=seed), sr, **kw)
    return path


def audio_bytes(
    fmt: str = "WAV", *, seconds: float = 0.4, sr: int = 16_000, seed: int = 0
) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, tone(seconds, sr, seed=seed), sr, format=fmt)
    return buf.getvalue()


class AudioKit:
    """Fixture object bundling the helpers (test modules cannot import conftest)."""

    tone = staticmethod(tone)
    write = staticmethod(write_audio)
    as_bytes = staticmethod(audio_bytes)


@pytest.fixture()
def audio_kit() -> AudioKit:
    return AudioKit()
