"""Load the project's sentence lists (corpus and held-out) for each synthetic language, and
the short babble sentences of the non-target languages (``babble_<lang>.txt``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from nordlid.errors import ConfigError

SENTENCE_DIR = Path(__file__).parent / "sentences"
SYNTH_LANGUAGES: tuple[str, ...] = ("da", "is", "no", "sv")
# Babble talkers: languages that are never a target (no da/fo/is/no/nb/nn/sv), with the
# espeak-ng voice that speaks each.
BABBLE_VOICES: dict[str, str] = {
    "en": "en-us",
    "de": "de",
    "fr": "fr-fr",
    "es": "es",
    "it": "it",
    "nl": "nl",
    "pl": "pl",
    "fi": "fi",
    "cs": "cs",
    "pt": "pt",
}


@lru_cache(maxsize=16)
def _read(lang: str, holdout: bool) -> tuple[str, ...]:
    if lang not in SYNTH_LANGUAGES:
        raise ConfigError(
            f"language {lang!r}: no synthetic voice/sentences "
            f"(choose from {', '.join(SYNTH_LANGUAGES)})"
        )
    path = SENTENCE_DIR / (f"{lang}_holdout.txt" if holdout else f"{lang}.txt")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    sentences = [ln for ln in lines if ln and not ln.startswith("#")]
    # Distinct, in file order.
    return tuple(dict.fromkeys(sentences))


def sentences(lang: str) -> tuple[str, ...]:
    """Corpus sentences of ``lang`` (never overlapping the held-out list)."""
    held = set(_read(lang, True))
    return tuple(s for s in _read(lang, False) if s not in held)


def holdout_sentences(lang: str) -> tuple[str, ...]:
    """Held-out sentences of ``lang``: never spoken in the corpus."""
    return _read(lang, True)


BABBLE_HOLDOUT_SHARE = 0.4  # the last 40 % of each babble list is spoken only in held-out audio


@lru_cache(maxsize=32)
def babble_sentences(lang: str, holdout: bool = False) -> tuple[str, ...]:
    """The short sentences babble talkers of ``lang`` (a :data:`BABBLE_VOICES` key) speak:
    the corpus and training augmentation use the first 60 % of the list, the held-out audio
    (``holdout``) the rest, so held-out babble is new speech too."""
    if lang not in BABBLE_VOICES:
        raise ConfigError(f"babble language {lang!r}: choose from {', '.join(BABBLE_VOICES)}")
    path = SENTENCE_DIR / f"babble_{lang}.txt"
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    every = tuple(dict.fromkeys(ln for ln in lines if ln and not ln.startswith("#")))
    cut = max(1, min(len(every) - 1, round(len(every) * (1.0 - BABBLE_HOLDOUT_SHARE))))
    return every[cut:] if holdout else every[:cut]
