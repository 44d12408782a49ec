"""Content duplicates: exact (same ``audio_sha256``) and near (matching fingerprints).

Rows that are copies of each other form a group (union–find over exact and near pairs).
Each group keeps one row — the one in the earliest split (train, dev, test), preferring a
row with no other problem, then the first in manifest order — and every other row of the
group gets a reason code naming the kept row:

- same split: ``duplicate_exact`` / ``duplicate_near``;
- another split: ``leakage_duplicate_exact`` / ``leakage_duplicate_near`` (split leakage).

A near copy in the same split whose ``condition`` differs is an intended augmentation when
``augmented_copies_allowed`` is set: it is counted for the report, not flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from validation import reasons
from validation.config import DuplicatesConfig
from validation.fingerprint import near_duplicate_pairs
from validation.reasons import Findings

SPLIT_ORDER = {"train": 0, "dev": 1, "test": 2}


@dataclass
class DuplicateSummary:
    exact_pairs: int = 0
    near_pairs: int = 0
    groups: int = 0
    augmented_copies: int = 0
    examples: list[dict[str, object]] = field(default_factory=list)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _exact_pairs(sha: pd.Series) -> list[tuple[int, int]]:
    valid = sha[sha.notna() & (sha.astype(str).str.len() > 0)]
    pairs: list[tuple[int, int]] = []
    for _, idx in valid.groupby(valid.astype(str)).groups.items():
        rows = sorted(int(i) for i in idx)
        pairs.extend((rows[0], r) for r in rows[1:])
    return pairs


def find_duplicates(
    manifest: pd.DataFrame,
    vectors: np.ndarray,
    speech_s: np.ndarray,
    usable: np.ndarray,
    cfg: DuplicatesConfig,
    *,
    prefer_not: set[int] | None = None,
) -> tuple[Findings, DuplicateSummary]:
    """Duplicate findings for ``manifest`` (rows by position).

    ``vectors``/``speech_s``: fingerprints per row; ``usable``: rows whose fingerprint
    counts (readable, not silent); ``prefer_not``: rows already failing another rule, kept
    only when a group has no better row.
    """
    n = len(manifest)
    findings = Findings()
    summary = DuplicateSummary()
    if n == 0:
        return findings, summary
    exact = _exact_pairs(manifest["audio_sha256"].reset_index(drop=True))
    rows = np.flatnonzero(usable)
    near_local = near_duplicate_pairs(
        vectors[rows],
        speech_s[rows],
        threshold=cfg.near_threshold,
        duration_tolerance=cfg.duration_tolerance,
    )
    near = [(int(rows[i]), int(rows[j]), c) for i, j, c in near_local]
    summary.exact_pairs, summary.near_pairs = len(exact), len(near)
    copies = _Copies(manifest, {(i, j): c for i, j, c in near})
    avoid = prefer_not or set()
    for members in _groups(n, [(i, j) for i, j in exact] + [(i, j) for i, j, _ in near]):
        summary.groups += 1
        keeper = min(members, key=lambda r: (r in avoid, SPLIT_ORDER.get(copies.splits[r], 9), r))
        for r in members:
            if r != keeper:
                copies.judge(r, keeper, cfg, findings, summary)
    return findings, summary


def _groups(n: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Connected groups (two or more rows) of the duplicate pairs."""
    uf = _UnionFind(n)
    for i, j in pairs:
        uf.union(i, j)
    groups: dict[int, list[int]] = {}
    for r in range(n):
        groups.setdefault(uf.find(r), []).append(r)
    return [members for members in groups.values() if len(members) > 1]


class _Copies:
    """The manifest columns a duplicate verdict reads, and the verdict for one copy."""

    def __init__(self, manifest: pd.DataFrame, similarity: dict[tuple[int, int], float]) -> None:
        n = len(manifest)
        self.splits = manifest["split"].astype(str).tolist()
        self.ids = manifest["utterance_id"].astype(str).tolist()
        self.sha = manifest["audio_sha256"].astype(str).tolist()
        self.cond = (
            manifest["condition"].astype(str).tolist() if "condition" in manifest else [""] * n
        )
        self.similarity = similarity

    def judge(
        self,
        r: int,
        keeper: int,
        cfg: DuplicatesConfig,
        findings: Findings,
        summary: DuplicateSummary,
    ) -> None:
        """Row ``r`` duplicates ``keeper``: a finding, or an allowed augmented copy."""
        splits, ids = self.splits, self.ids
        is_exact = self.sha[r] == self.sha[keeper] and self.sha[r] not in {"", "None", "nan"}
        cross = splits[r] != splits[keeper]
        if (
            not is_exact
            and not cross
            and cfg.augmented_copies_allowed
            and self.cond[r] != self.cond[keeper]
        ):
            summary.augmented_copies += 1
            return
        if is_exact:
            code = reasons.LEAKAGE_DUPLICATE_EXACT if cross else reasons.DUPLICATE_EXACT
            detail = f"same audio_sha256 as {ids[keeper]} ({splits[keeper]})"
        else:
            code = reasons.LEAKAGE_DUPLICATE_NEAR if cross else reasons.DUPLICATE_NEAR
            sim = self.similarity.get((min(r, keeper), max(r, keeper)))
            how = f"cosine {sim:.3f}" if sim is not None else "via another copy"
            detail = f"same speech as {ids[keeper]} ({splits[keeper]}; {how})"
        findings.add(r, code, detail, ids[keeper])
        if len(summary.examples) < 20:
            summary.examples.append(
                {
                    "utterance_id": ids[r],
                    "split": splits[r],
                    "code": code,
                    "duplicate_of": ids[keeper],
                }
            )
