"""Field-condition augmentation banks for backbone training: simulated rooms and babble.

The corpus renders reverberation and competing speech into some files
(:mod:`corpus.field`); training crops get them on the fly as well, so every utterance is
heard in many rooms and under many talkers.  Both banks are built once per training run,
seeded:

- :func:`build_rirs` — room impulse responses of ShoeBox rooms (``pyroomacoustics``, the
  corpus's own :func:`corpus.field.room_rir`), RT60 0.2–1.1 s;
- :func:`build_babble_pool` — espeak-ng speech of **non-target** languages only
  (:data:`corpus.texts.BABBLE_VOICES`), from the training half of their babble sentences
  (:func:`corpus.texts.babble_sentences`), never the held-out half.

:func:`add_reverb` and :func:`add_babble` apply them to one crop; target-language speech
enters a crop only as a quiet background (:func:`add_background`), so the label never
becomes ambiguous.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpus import degrade

log = logging.getLogger(__name__)

RT60_S = (0.2, 1.1)
ROOM_M = ((3.0, 9.0), (3.0, 8.0), (2.4, 3.6))
BABBLE_VARIANTS: tuple[str, ...] = ("m2", "m4", "m6", "f5", "m1", "f2")


@dataclass
class FieldBank:
    """What the on-the-fly field augmentation draws from."""

    rirs: list[np.ndarray] = field(default_factory=list)
    talkers: list[np.ndarray] = field(default_factory=list)


def build_rirs(n: int, sample_rate: int, seed: int) -> list[np.ndarray]:
    """``n`` impulse responses of random rooms, source and microphone ≥ 0.5 m from walls."""
    from corpus.field import room_rir

    rng = np.random.default_rng([seed, 0x726972])  # "rir"
    out = []
    for _ in range(n):
        room = [float(rng.uniform(lo, hi)) for lo, hi in ROOM_M]
        rt60 = float(rng.uniform(*RT60_S))

        def place(z: tuple[float, float], room: list[float] = room) -> list[float]:
            return [
                float(rng.uniform(0.5, room[0] - 0.5)),
                float(rng.uniform(0.5, room[1] - 0.5)),
                float(rng.uniform(*z)),
            ]

        rir = room_rir(sample_rate, room, rt60, place((1.2, 1.9)), place((0.8, 1.6)))
        out.append((rir / max(float(np.abs(rir).max()), 1e-9)).astype(np.float32))
    return out


def build_babble_pool(per_language: int, sample_rate: int, seed: int) -> list[np.ndarray]:
    """espeak-ng clips of every non-target babble language (``per_language`` each)."""
    from corpus import texts
    from corpus.render import speak

    rng = np.random.default_rng([seed, 0x626162])  # "bab"
    out = []
    with tempfile.TemporaryDirectory(prefix="nordlid-babble-pool-") as tmp:
        for lang, voice in texts.BABBLE_VOICES.items():
            sentences = texts.babble_sentences(lang)
            for k in range(per_language):
                text = sentences[int(rng.integers(len(sentences)))]
                variant = BABBLE_VARIANTS[int(rng.integers(len(BABBLE_VARIANTS)))]
                pitch, speed = int(rng.integers(20, 80)), int(rng.integers(140, 200))
                wave, rate = speak(
                    f"{voice}+{variant}", pitch, speed, text, Path(tmp, f"{lang}{k}.wav")
                )
                if rate != sample_rate:
                    wave = degrade.resample(wave, rate, sample_rate).astype(np.float32)
                out.append(wave)
    return out


def build_field_bank(
    sample_rate: int, seed: int, *, n_rirs: int = 24, talkers_per_language: int = 3
) -> FieldBank:
    bank = FieldBank(
        rirs=build_rirs(n_rirs, sample_rate, seed) if n_rirs else [],
        talkers=(
            build_babble_pool(talkers_per_language, sample_rate, seed)
            if talkers_per_language
            else []
        ),
    )
    log.info(
        "field augmentation: %d room impulse responses, %d non-target babble clips",
        len(bank.rirs),
        len(bank.talkers),
    )
    return bank


def add_reverb(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``x`` in the room of ``rir``, cut to its own length, at the dry signal's level."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(x, rir)[: x.size]
    p_wet = degrade.signal_power(wet)
    if p_wet == 0.0:
        return x
    return (wet * np.sqrt(degrade.signal_power(x) / p_wet)).astype(np.float32)


def _mix(
    x: np.ndarray, others: list[np.ndarray], snr_db: float, rng: np.random.Generator
) -> np.ndarray:
    """``x`` plus the sum of ``others`` (each looped from a random start to ``x``'s length,
    at equal power) at ``snr_db`` (whole-signal power)."""
    total = np.zeros(x.size, dtype=np.float64)
    for wave in others:
        p = degrade.signal_power(wave)
        if wave.size == 0 or p == 0.0:
            continue
        start = int(rng.integers(0, wave.size))
        total += np.resize(np.roll(wave, -start), x.size) / np.sqrt(p)
    p_total, p_x = degrade.signal_power(total), degrade.signal_power(x)
    if p_total == 0.0 or p_x == 0.0:
        return x
    scale = np.sqrt(p_x / (10.0 ** (snr_db / 10.0)) / p_total)
    return (x + total * scale).astype(np.float32)


def add_babble(
    x: np.ndarray,
    talkers: list[np.ndarray],
    snr_db: float,
    rng: np.random.Generator,
    n_talkers: tuple[int, int] = (1, 4),
) -> np.ndarray:
    """``x`` under 1–4 non-target talkers at ``snr_db``."""
    k = int(rng.integers(n_talkers[0], n_talkers[1] + 1))
    picks = [talkers[int(i)] for i in rng.integers(0, len(talkers), size=k)]
    return _mix(x, picks, snr_db, rng)


def add_background(
    x: np.ndarray, other: np.ndarray, snr_db: float, rng: np.random.Generator
) -> np.ndarray:
    """``x`` over one other (target-language) utterance, quiet enough (``snr_db`` ≥ 15 dB is
    the intended range) that ``x`` stays the one speaker."""
    return _mix(x, [other], snr_db, rng)
