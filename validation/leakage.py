"""Speaker leakage: no speaker may appear in two splits.

Speakers are identified by ``(source, speaker_id)`` (ids of different sources never
collide).  A speaker found in several splits keeps the split holding most of their
utterances (ties: the earlier split); their rows in the other splits get
``leakage_speaker``.  Sources without speaker ids cannot be checked: the summary says so
per source instead of passing silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from validation import reasons
from validation.reasons import Findings

SPLIT_ORDER = {"train": 0, "dev": 1, "test": 2}


@dataclass
class SourceCoverage:
    source: str
    rows: int
    rows_with_speaker: int
    speakers: int

    @property
    def checkable(self) -> bool:
        return self.rows_with_speaker > 0


@dataclass
class LeakageSummary:
    coverage: list[SourceCoverage] = field(default_factory=list)
    leaking_speakers: list[dict[str, object]] = field(default_factory=list)

    def unchecked_notes(self) -> list[str]:
        notes = []
        for c in self.coverage:
            if c.rows_with_speaker == 0:
                notes.append(
                    f"source {c.source!r} has no speaker ids: speaker leakage NOT checked "
                    f"for its {c.rows} utterances"
                )
            elif c.rows_with_speaker < c.rows:
                notes.append(
                    f"source {c.source!r}: {c.rows - c.rows_with_speaker} of {c.rows} utterances "
                    "have no speaker id and are not covered by the speaker-leakage check"
                )
        return notes


def _has_id(value: object) -> bool:
    return value is not None and not pd.isna(value) and str(value).strip() != ""


def find_speaker_leakage(manifest: pd.DataFrame) -> tuple[Findings, LeakageSummary]:
    findings = Findings()
    summary = LeakageSummary()
    frame = pd.DataFrame(
        {
            "source": manifest["source"].astype(str).to_numpy(),
            "speaker": manifest["speaker_id"].to_numpy(dtype=object),
            "split": manifest["split"].astype(str).to_numpy(),
        }
    )
    frame["has_id"] = np.array([_has_id(v) for v in frame["speaker"]], dtype=bool)
    for source, part in frame.groupby("source", sort=True):
        with_id = part[part["has_id"]]
        summary.coverage.append(
            SourceCoverage(
                source=str(source),
                rows=len(part),
                rows_with_speaker=len(with_id),
                speakers=int(with_id["speaker"].astype(str).nunique()),
            )
        )
    known = frame[frame["has_id"]].copy()
    known["speaker"] = known["speaker"].astype(str)
    for (source, speaker), part in known.groupby(["source", "speaker"], sort=True):
        counts = part["split"].value_counts()
        if len(counts) < 2:
            continue
        home = min(counts.index, key=lambda s: (-int(counts[s]), SPLIT_ORDER.get(str(s), 9)))
        spread = ", ".join(
            f"{int(counts[s])} in {s}"
            for s in sorted(counts.index, key=lambda s: SPLIT_ORDER.get(str(s), 9))
        )
        summary.leaking_speakers.append(
            {"source": source, "speaker_id": speaker, "kept_split": home, "spread": spread}
        )
        for row in part.index[part["split"] != home]:
            findings.add(
                int(row),
                reasons.LEAKAGE_SPEAKER,
                f"speaker {speaker!r} ({source}) is mostly in {home}: {spread}",
            )
    return findings, summary
