"""espeak-ng voices and the synthetic speakers built from them.

A synthetic *speaker* is an espeak-ng voice variant plus fixed prosody settings (base pitch
and speed); each utterance jitters pitch and speed a little around the speaker's base.
Corpus speakers and held-out speakers use disjoint variants and disjoint prosody ranges.

The default ``wide`` voice set uses every ordinary espeak-ng variant except the held-out ones
and their siblings (``iven2``…, ``steph2``…, ``AnxiousAndy``) and the novelty voices (robots,
whisper, croak): with only the dozen ``m1``–``m7``/``f1``–``f5`` variants a model learns the
voices, and reaches ~70 % on unseen variants; with the wide set it has to learn the languages.
The ``classic`` set (those twelve) stays available for small, homogeneous test corpora.
"""

from __future__ import annotations

from dataclasses import dataclass

from nordlid.errors import ConfigError

# nordlid language → espeak-ng voice name.
ESPEAK_VOICES: dict[str, str] = {"da": "da", "is": "is", "no": "nb", "sv": "sv"}

VoiceSet = dict[str, tuple[str, ...]]

CORPUS_VARIANTS: VoiceSet = {
    "male": (
        "m1", "m2", "m3", "m4", "m5", "m6", "m7", "Alex", "Denis", "Diogo", "Gene", "Henrique",
        "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "Storm", "adam",
        "announcer", "antonio", "benjamin", "boris", "caleb", "ed", "edward", "gustave", "john",
        "kaukovalta", "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "marcelo", "max",
        "michel", "miguel", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert",
        "sandro", "travis", "victor", "zac",
    ),
    "female": ("f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "anika", "aunty", "grandma"),
}
CLASSIC_VARIANTS: VoiceSet = {
    "male": ("m1", "m2", "m3", "m4", "m5", "m6", "m7"),
    "female": ("f1", "f2", "f3", "f4", "f5"),
}
VOICE_SETS: dict[str, VoiceSet] = {"wide": CORPUS_VARIANTS, "classic": CLASSIC_VARIANTS}
DEFAULT_VOICE_SET = "wide"

# (base pitch 0-99, base speed words/min) per corpus speaker of one variant.
CORPUS_PROSODY: tuple[tuple[int, int], ...] = ((42, 150), (58, 172))
PITCH_JITTER = 4
SPEED_JITTER = 8

HOLDOUT_VARIANTS: VoiceSet = {
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
    variants: VoiceSet,
    prosody: tuple[tuple[int, int], ...],
) -> list[Speaker]:
    return [
        Speaker(language, variant, gender, pitch, speed)
        for gender, names in variants.items()
        for variant in names
        for pitch, speed in prosody
    ]


def voice_set_variants(name: str) -> VoiceSet:
    """The variants of voice set ``name``; ConfigError naming the known sets otherwise."""
    if name not in VOICE_SETS:
        raise ConfigError(f"voice_set: unknown {name!r} (choose from {', '.join(VOICE_SETS)})")
    return VOICE_SETS[name]


def corpus_speakers(language: str, voice_set: str = DEFAULT_VOICE_SET) -> list[Speaker]:
    return _speakers(language, voice_set_variants(voice_set), CORPUS_PROSODY)


def holdout_speakers(language: str) -> list[Speaker]:
    return _speakers(language, HOLDOUT_VARIANTS, HOLDOUT_PROSODY)
