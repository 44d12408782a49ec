"""espeak-ng voices and the synthetic speakers built from them.

A synthetic *speaker* is an espeak-ng voice variant plus fixed prosody settings (base pitch
and speed); each utterance jitters pitch and speed a little around the speaker's base.
Corpus speakers and held-out speakers use disjoint variants and disjoint prosody ranges.

The ``wide`` voice set uses every ordinary espeak-ng variant except the held-out ones and
their siblings (``iven2``…, ``steph2``…, ``AnxiousAndy``) and the novelty voices (robots,
whisper, croak): with only the dozen ``m1``–``m7``/``f1``–``f5`` variants a model learns the
voices, and reaches ~70 % on unseen variants; with the wide set it has to learn the languages.
The default ``mixed`` set adds 120 procedural variants (:mod:`corpus.procedural_voices`:
40 male, 80 female, each a child of two named variants of one split) to the wide set's 62,
which has only ten female voices.  The ``classic`` set (those twelve) stays
available for small, homogeneous test corpora.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from corpus.procedural_voices import ProceduralVariant, draw_variants, system_data_dir
from corpus.splits import assign_units
from nordlid.errors import ConfigError

# nordlid language → espeak-ng voice name.
ESPEAK_VOICES: dict[str, str] = {"da": "da", "is": "is", "no": "nb", "sv": "sv"}

VoiceSet = dict[str, tuple[str, ...]]

# fmt: off
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
# fmt: on
CLASSIC_VARIANTS: VoiceSet = {
    "male": ("m1", "m2", "m3", "m4", "m5", "m6", "m7"),
    "female": ("f1", "f2", "f3", "f4", "f5"),
}
# Procedural variants (:mod:`corpus.procedural_voices`) per gender added to a named set.
PROCEDURAL_COUNTS: dict[str, dict[str, int]] = {"mixed": {"male": 40, "female": 80}}
VOICE_SETS: dict[str, VoiceSet] = {
    "wide": CORPUS_VARIANTS,
    "classic": CLASSIC_VARIANTS,
    "mixed": CORPUS_VARIANTS,
}
DEFAULT_VOICE_SET = "mixed"

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


def voice_set_known(name: str) -> None:
    if name not in VOICE_SETS:
        raise ConfigError(f"voice_set: unknown {name!r} (choose from {', '.join(VOICE_SETS)})")


def named_variants(name: str) -> VoiceSet:
    """The espeak-ng variants of voice set ``name`` that ship with espeak-ng."""
    voice_set_known(name)
    return VOICE_SETS[name]


def _named_splits(name: str, seed: int) -> dict[str, str]:
    return assign_units(
        {variant: (g, 1.0) for g, names in named_variants(name).items() for variant in names},
        seed=seed,
    )


@functools.lru_cache(maxsize=8)
def procedural_variants(name: str, seed: int) -> tuple[ProceduralVariant, ...]:
    """The generated variants of voice set ``name`` for corpus seed ``seed`` (none for a
    set of named variants only).  Drawn once per process: speakers, splits and the espeak-ng
    overlay all ask for them."""
    counts = PROCEDURAL_COUNTS.get(name, {})
    if not counts:
        named_variants(name)  # unknown names still fail
        return ()
    splits = _named_splits(name, seed)
    return tuple(
        draw_variants(
            {g: list(v) for g, v in VOICE_SETS[name].items()},
            counts,
            seed,
            system_data_dir(),
            group=splits.__getitem__,
        )
    )


def variant_splits(name: str, seed: int) -> dict[str, str]:
    """Split of every variant of voice set ``name``: named ones stratified by gender, each
    procedural one in its parents' split.  It does not depend on the language, so a variant
    is in the same split in every language (a variant's timbre is the same whichever
    language it speaks)."""
    splits = _named_splits(name, seed)
    for v in procedural_variants(name, seed):
        splits[v.name] = splits[v.parents[0]]
    return splits


def voice_set_variants(name: str, seed: int = 0) -> VoiceSet:
    """Every variant of voice set ``name`` (named, then procedural), per gender;
    ConfigError naming the known sets otherwise."""
    out = {gender: tuple(names) for gender, names in named_variants(name).items()}
    for v in procedural_variants(name, seed):
        out[v.gender] = (*out.get(v.gender, ()), v.name)
    return out


def corpus_speakers(
    language: str, voice_set: str = DEFAULT_VOICE_SET, seed: int = 0
) -> list[Speaker]:
    return _speakers(language, voice_set_variants(voice_set, seed), CORPUS_PROSODY)


def holdout_speakers(language: str) -> list[Speaker]:
    return _speakers(language, HOLDOUT_VARIANTS, HOLDOUT_PROSODY)
