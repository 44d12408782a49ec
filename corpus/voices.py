"""espeak-ng voices and the synthetic speakers built from them.

A synthetic *speaker* is an espeak-ng voice variant plus fixed prosody settings (base pitch
and speed); each utterance jitters pitch and speed a little around the speaker's base.
Corpus speakers and held-out speakers use disjoint variants and disjoint prosody ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

# nordlid language → espeak-ng voice name.
ESPEAK_VOICES: dict[str, str] = {"da": "da", "is": "is", "no": "nb", "sv": "sv"}

CORPUS_VARIANTS: dict[str, tuple[str, ...]] = {
    "male": ("m1", "m2", "m3", "m4", "m5", "m6", "m7"),
    "female": ("f1", "f2", "f3", "f4", "f5"),
}
# (base pitch 0-99, base speed words/min) per corpus speaker of one variant.
CORPUS_PROSODY: tuple[tuple[int, int], ...] = ((42, 150), (58, 172))
PITCH_JITTER = 4
SPEED_JITTER = 8

HOLDOUT_VARIANTS: dict[str, tuple[str, ...]] = {
    "male": ("m8", "Andy", "iven", "david"),
    "female": ("Annie", "linda", "steph", "belinda"),
}
# Outside the corpus ranges (pitch 38-62, speed 142-180).
HOLDOUT_PROSODY: tuple[tuple[int, int], ...] = ((28, 132), (72, 192))


@dataclass(frozen=True)
class Speaker:
    language: str
    variant: str
    gender: str
    pitch: int
    speed: int

    @property
    def speaker_id(self) -> str:
        return f"syn-{self.language}-{self.variant}-p{self.pitch}-s{self.speed}"

    @property
    def espeak_voice(self) -> str:
        return f"{ESPEAK_VOICES[self.language]}+{self.variant}"


def _speakers(
    language: str,
    variants: dict[str, tuple[str, ...]],
    prosody: tuple[tuple[int, int], ...],
) -> list[Speaker]:
    return [
        Speaker(language, variant, gender, pitch, speed)
        for gender, names in variants.items()
        for variant in names
        for pitch, speed in prosody
    ]


def corpus_speakers(language: str) -> list[Speaker]:
    return _speakers(language, CORPUS_VARIANTS, CORPUS_PROSODY)


def holdout_speakers(language: str) -> list[Speaker]:
    return _speakers(language, HOLDOUT_VARIANTS, HOLDOUT_PROSODY)
