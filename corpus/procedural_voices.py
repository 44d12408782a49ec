"""Procedural espeak-ng voice variants: children of the named variants, many more voices.

espeak-ng ships ~60 ordinary voice variants; a model trained on a few dozen of them learns
their timbres along with the languages and loses points on every voice it has not heard.
A variant is a small text file (pitch range, formant frequency/height/width multipliers,
voice source, breathiness, roughness, tone, intonation), so nordlid breeds new ones: a child
takes each setting from one of two parent variants, then its vocal tract (all formant
frequencies together, ±7 %), formant heights and widths and its pitch are jittered, and now
and then it gets roughness, flutter or breath neither parent had.  Parents are drawn within
one split, so a test voice's traits never reach a training voice.  (Children drawn from
uniform random settings instead did not help on unseen voices: the named variants' odd
features — missing formants, Klatt sources, stress and intonation — are what the held-out
voices have.)

espeak-ng only looks variants up in its data directory, so :func:`overlay_data_dir` builds
an overlay (symlinks to the system's ``espeak-ng-data`` plus the generated files under
``voices/!v``) that ``espeak-ng --path`` points to.  Everything depends only on the seed.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nordlid.errors import ConfigError

log = logging.getLogger(__name__)

PREFIX = "nlv"  # generated variant names: nlvm007, nlvf012 (no "-": speaker ids split on it)
DATA_DIR_NAME = "espeak-ng-data"
VARIANT_DIR = "!v"
LANGUAGE_GROUPS: tuple[str, ...] = ("gmq",)  # espeak-ng's North Germanic voices: da is nb sv
MAX_VOICES = 349  # espeak-ng 1.51's N_VOICES_LIST - 1


@dataclass(frozen=True)
class ProceduralVariant:
    name: str
    gender: str
    parents: tuple[str, str]
    text: str  # the espeak-ng variant file


Settings = dict[str, list[str]]  # keyword ("formant 3" per formant) → its values


def parse_variant(text: str) -> Settings:
    """The settings of an espeak-ng variant file (comments and blank lines dropped)."""
    out: Settings = {}
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        if key == "formant" and values:
            key, values = f"formant {values[0]}", values[1:]
        out[key] = values
    return out


def _scaled(values: list[str], factors: list[float]) -> list[str]:
    """Integer values multiplied by ``factors`` (the last factor for the rest)."""
    out = []
    for i, v in enumerate(values):
        try:
            number = int(v)
        except ValueError:
            out.append(v)
            continue
        out.append(str(max(0, int(round(number * factors[min(i, len(factors) - 1)])))))
    return out


def crossover(name: str, a: Settings, b: Settings, rng: np.random.Generator) -> str:
    """A new variant: each setting from parent ``a`` or ``b``, then the vocal tract (formant
    frequencies together, heights and widths each), the pitch and the voice source jittered."""
    keys = [k for k in dict.fromkeys([*a, *b]) if k not in _IDENTITY]
    tract = rng.uniform(0.93, 1.07)
    pitch = rng.uniform(0.85, 1.15)
    lines = ["language variant", f"name {name}"]
    if "gender" in a:
        lines.append("gender " + " ".join(a["gender"]))
    for key in keys:
        pick = a if rng.random() < 0.5 else b
        if key not in pick:
            pick = a if key in a else b
            if rng.random() < 0.5:
                continue  # a setting only one parent has comes along half the time
        values = pick[key]
        if key.startswith("formant "):
            values = _scaled(
                values,
                [tract * rng.uniform(0.97, 1.03), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)],
            )
        elif key == "pitch":
            values = _scaled(values, [pitch])
        lines.append(" ".join([key, *values]))
    for key, low, high in (("roughness", 0, 5), ("flutter", 0, 30), ("breath", 0, 4)):
        if key not in a and key not in b and rng.random() < 0.15:
            count = 8 if key == "breath" else 1
            lines.append(
                " ".join([key, *(str(int(rng.integers(low, high + 1))) for _ in range(count))])
            )
    return "\n".join(lines) + "\n"


# identity lines are written per child; stressLength from one parent with the other's
# settings made espeak-ng 1.51 crash (SIGSEGV) on some sentences, so children never inherit it
_IDENTITY = ("language", "name", "gender", "stressLength")


def draw_variants(
    parents: dict[str, list[str]],
    n_per_gender: dict[str, int],
    seed: int,
    data_dir: Path,
    group: Callable[[str], str] = lambda name: "",
) -> list[ProceduralVariant]:
    """``n_per_gender[g]`` children of the system variants ``parents[g]``: each parent is
    the first parent of the same number of children, give or take one, and the second parent
    is drawn from the parents of its ``group`` (the split: a test voice's traits never reach
    a training voice).  Same seed, same files."""
    out = []
    for gender, n in n_per_gender.items():
        names = parents.get(gender, [])
        if n and not names:
            raise ConfigError(f"procedural voices: no {gender} parent variants to draw from")
        settings = {v: parse_variant(_read_variant(data_dir, v)) for v in names}
        for i in range(n):
            digest = hashlib.sha256(f"{seed}:{gender}:{i}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            first = names[i % len(names)]
            mates = [v for v in names if group(v) == group(first)]
            second = mates[int(rng.integers(len(mates)))]
            name = f"{PREFIX}{gender[0]}{i:03d}"
            text = crossover(name, settings[first], settings[second], rng)
            out.append(ProceduralVariant(name, gender, (first, second), text))
    return out


def _read_variant(data_dir: Path, name: str) -> str:
    path = data_dir / "voices" / VARIANT_DIR / name
    if not path.is_file():
        raise ConfigError(f"espeak-ng variant {name!r} not found in {path.parent}")
    return path.read_text(encoding="utf-8", errors="replace")


@functools.lru_cache(maxsize=1)
def system_data_dir() -> Path:
    """The system espeak-ng data directory (``espeak-ng --version`` says where)."""
    from corpus.render import SynthError, espeak_binary

    proc = subprocess.run(
        [espeak_binary(), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r"Data at:\s*(\S+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        raise SynthError(f"espeak-ng --version did not name its data directory: {proc.stdout!r}")
    path = Path(match.group(1))
    if not (path / "voices" / VARIANT_DIR).is_dir():
        raise SynthError(f"espeak-ng data directory {path} has no voices/{VARIANT_DIR}")
    return path


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_symlink() and link.resolve() == target.resolve():
            return
        link.unlink()
    link.symlink_to(target)


def overlay_data_dir(
    root: Path, variants: Sequence[ProceduralVariant], named: Iterable[str] = ()
) -> Path:
    """Build (or refresh) ``root/espeak-ng-data``: the system data with ``variants`` and
    the system variants ``named``, and of the language voices only the North Germanic ones
    (:data:`LANGUAGE_GROUPS`): espeak-ng lists at most :data:`MAX_VOICES` language voices
    and variants together and cannot find a voice beyond that.

    Returns ``root``, the value for ``espeak-ng --path``.
    """
    system = system_data_dir()
    data = root / DATA_DIR_NAME
    variant_dir = data / "voices" / VARIANT_DIR
    variant_dir.mkdir(parents=True, exist_ok=True)
    (data / "lang").mkdir(exist_ok=True)
    for entry in system.iterdir():
        if entry.name not in ("voices", "lang"):
            _link(entry, data / entry.name)
    languages = 0
    for group in LANGUAGE_GROUPS:
        _link(system / "lang" / group, data / "lang" / group)
        languages += sum(1 for p in (system / "lang" / group).rglob("*") if p.is_file())
    wanted = set(named)
    total = languages + len(wanted) + len({v.name for v in variants})
    if total > MAX_VOICES:
        raise ConfigError(
            f"espeak-ng overlay: {len(variants)} procedural + {len(wanted)} named variants + "
            f"{languages} language voices = {total}, more than the {MAX_VOICES} espeak-ng can "
            "list; use fewer procedural variants"
        )
    # voices/ holds only the variants (mbrola voices under voices/mb would overflow the list)
    for entry in variant_dir.iterdir():
        if entry.is_symlink() and entry.name not in wanted:
            entry.unlink()
    for name in sorted(wanted):
        target = system / "voices" / VARIANT_DIR / name
        if not target.exists():
            raise ConfigError(f"espeak-ng variant {name!r} not found in {target.parent}")
        _link(target, variant_dir / name)
    for v in variants:
        path = variant_dir / v.name
        if not path.exists() or path.is_symlink() or path.read_text() != v.text:
            path.unlink(missing_ok=True)
            path.write_text(v.text)
    log.info("espeak-ng overlay with %d procedural variants at %s", len(variants), data)
    return root
