"""Speaker-independent train/dev/test assignment.

Units (speakers, or sentences for the synthetic corpus) are assigned to one split each, so
no unit ever appears in two splits.  Assignment is stratified (per language, optionally per
language × gender) and balanced by weight (utterances per unit): inside each stratum the
units are ordered by a seeded hash and each goes to the split furthest below its target
share.  The same units, weights and seed always give the same assignment, and adding an
unrelated stratum never changes another stratum's assignment.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping

import pandas as pd

SPLIT_NAMES: tuple[str, str, str] = ("train", "dev", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(
            f"split fractions must be three non-negative numbers summing to 1, got {fractions}"
        )


def stable_hash(seed: int, key: object) -> int:
    digest = hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def assign_units(
    units: Mapping[str, tuple[Hashable, float]],
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> dict[str, str]:
    """Assign each unit to a split.

    ``units`` maps unit id → (stratum, weight).  Within every stratum the heaviest units go
    first (ties broken by the seeded hash) to the split with the largest deficit against
    its target share; a stratum with at least three units gets every split non-empty
    (when the fraction of that split is > 0).
    """
    _check_fractions(fractions)
    strata: dict[Hashable, list[tuple[str, float]]] = defaultdict(list)
    for unit, (stratum, weight) in units.items():
        if weight <= 0:
            raise ValueError(f"unit {unit!r}: weight must be > 0, got {weight}")
        strata[stratum].append((unit, float(weight)))

    out: dict[str, str] = {}
    for members in strata.values():
        members.sort(key=lambda m: (-m[1], stable_hash(seed, m[0])))
        total = sum(w for _, w in members)
        load = [0.0, 0.0, 0.0]
        chosen: dict[str, int] = {}
        for unit, weight in members:
            deficits = [fractions[i] * total - load[i] for i in range(3)]
            best = max(range(3), key=lambda i: (deficits[i], -i))
            chosen[unit] = best
            load[best] += weight
        _fill_empty(members, chosen, fractions)
        out.update({u: SPLIT_NAMES[i] for u, i in chosen.items()})
    return out


def _fill_empty(
    members: list[tuple[str, float]], chosen: dict[str, int], fractions: tuple[float, float, float]
) -> None:
    """Move the lightest unit of the most populated split into each empty wanted split."""
    if len(members) < 3:
        return
    weights = dict(members)
    for target in range(3):
        if fractions[target] == 0 or any(i == target for i in chosen.values()):
            continue
        counts = [sum(1 for i in chosen.values() if i == s) for s in range(3)]
        donor = max(range(3), key=lambda s: counts[s])
        if counts[donor] < 2:
            continue
        candidates = [u for u, i in chosen.items() if i == donor]
        lightest = min(candidates, key=lambda u: (weights[u], u))
        chosen[lightest] = target


def assign_speaker_splits(
    frame: pd.DataFrame,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    by_gender: bool = True,
) -> pd.Series:
    """Split labels for manifest-like rows (columns ``language``, ``speaker_id``, ``gender``).

    A speaker's rows all share one split (even across languages: a speaker's stratum is the
    language most of their rows have).  Rows with no ``speaker_id`` are each their own unit.
    Returns a Series aligned with ``frame.index``.
    """
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    speaker = frame["speaker_id"] if "speaker_id" in frame else pd.Series(None, index=frame.index)
    gender = (
        frame["gender"] if by_gender and "gender" in frame else pd.Series(None, index=frame.index)
    )
    unit = [
        f"spk:{s}" if isinstance(s, str) and s else f"row:{i}"
        for i, s in zip(frame.index, speaker, strict=True)
    ]
    tmp = pd.DataFrame(
        {"unit": unit, "language": frame["language"].astype(str), "gender": gender.astype(object)},
        index=frame.index,
    )
    units: dict[str, tuple[Hashable, float]] = {}
    for u, rows in tmp.groupby("unit", sort=True):
        lang = rows["language"].value_counts().sort_index().idxmax()
        g = rows["gender"].dropna()
        g_key = str(g.iloc[0]) if len(g) else ""
        units[str(u)] = ((lang, g_key), float(len(rows)))
    mapping = assign_units(units, seed=seed, fractions=fractions)
    return tmp["unit"].map(mapping)


def split_counts(n: int, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> list[int]:
    """Integer split sizes for ``n`` items (largest remainder; each split ≥1 when n ≥ 3)."""
    _check_fractions(fractions)
    raw = [n * f for f in fractions]
    counts = [int(r) for r in raw]
    order = sorted(range(3), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    if n >= 3:
        for i in range(3):
            if counts[i] == 0 and fractions[i] > 0:
                donor = max(range(3), key=lambda j: counts[j])
                counts[donor] -= 1
                counts[i] += 1
    return counts


def check_independent(frame: pd.DataFrame, columns: Iterable[str] = ("speaker_id",)) -> list[str]:
    """Problems where a value of any of ``columns`` occurs in more than one split."""
    problems: list[str] = []
    for col in columns:
        if col not in frame:
            continue
        sub = frame.dropna(subset=[col])
        n_splits = sub.groupby(col)["split"].nunique()
        leaked = n_splits[n_splits > 1]
        if len(leaked):
            problems.append(
                f"{col}: {len(leaked)} values in several splits, e.g. {list(leaked.index[:3])}"
            )
    return problems
