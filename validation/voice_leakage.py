"""Voice leakage: the same voice in two splits, found from the audio (not the metadata).

Speaker ids can be wrong, missing or per-source (the synthetic corpus even gives one voice
a different id in each language).  This check embeds every readable utterance with a
pretrained speaker encoder (:class:`validation.voice_encoder.VoiceEncoder`) and compares
each dev/test utterance with every utterance of the earlier splits (dev with train, test
with train and dev).  A cosine similarity at or above the threshold is a
``leakage_voice`` finding on the later split's row, naming the matching utterance, both
speaker ids and the similarity.  The summary reports, per split pair, how many
utterances were compared, how many matched and the nearest-neighbour similarities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from validation import reasons
from validation.reasons import Findings

EARLIER: dict[str, tuple[str, ...]] = {"dev": ("train",), "test": ("train", "dev")}


@dataclass
class PairSummary:
    later: str
    earlier: str
    compared: int  # utterances of the later split
    matched: int  # of those, with a voice match in the earlier split
    max_similarity: float | None
    p99_nearest: float | None  # 99th percentile of each utterance's nearest similarity

    def as_dict(self) -> dict[str, object]:
        return {
            "pair": f"{self.later} vs {self.earlier}",
            "compared": self.compared,
            "matched": self.matched,
            "max_similarity": self.max_similarity,
            "p99_nearest_similarity": self.p99_nearest,
        }


@dataclass
class VoiceLeakageSummary:
    threshold: float
    embedded: int = 0
    pairs: list[PairSummary] = field(default_factory=list)
    lineage: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "embedded": self.embedded,
            "pairs": [p.as_dict() for p in self.pairs],
            "encoder": self.lineage,
        }

    def notes(self) -> list[str]:
        return [
            f"voice leakage ({p.later} vs {p.earlier}): {p.matched} of {p.compared} utterances "
            f"match a voice of {p.earlier} (cosine ≥ {self.threshold:g}; nearest max "
            f"{p.max_similarity if p.max_similarity is None else round(p.max_similarity, 3)})"
            for p in self.pairs
        ]


def find_voice_leakage(
    manifest: pd.DataFrame,
    embeddings: np.ndarray,
    usable: np.ndarray,
    threshold: float,
) -> tuple[Findings, VoiceLeakageSummary]:
    """Findings on rows of later splits whose voice matches a row of an earlier split.

    ``embeddings`` are L2-normalised ``(len(manifest), dim)`` speaker embeddings;
    ``usable`` marks the rows that have one (readable audio).
    """
    findings = Findings()
    summary = VoiceLeakageSummary(threshold=threshold, embedded=int(usable.sum()))
    splits = manifest["split"].astype(str).to_numpy()
    ids = manifest["utterance_id"].astype(str).to_numpy()
    speakers = manifest["speaker_id"].to_numpy(dtype=object)
    for later, earlier_splits in EARLIER.items():
        rows = np.flatnonzero((splits == later) & usable)
        for earlier in earlier_splits:
            others = np.flatnonzero((splits == earlier) & usable)
            if not len(rows) or not len(others):
                continue
            sims = embeddings[rows] @ embeddings[others].T
            best = sims.argmax(axis=1)
            nearest = sims[np.arange(len(rows)), best]
            hits = nearest >= threshold
            summary.pairs.append(
                PairSummary(
                    later,
                    earlier,
                    compared=len(rows),
                    matched=int(hits.sum()),
                    max_similarity=float(nearest.max()),
                    p99_nearest=float(np.quantile(nearest, 0.99)),
                )
            )
            for k in np.flatnonzero(hits):
                row, match = int(rows[k]), int(others[best[k]])
                findings.add(
                    row,
                    reasons.LEAKAGE_VOICE,
                    f"voice matches {ids[match]} in {earlier} (cosine {nearest[k]:.3f} ≥ "
                    f"{threshold:g}; speaker ids {speakers[row]!r} vs {speakers[match]!r})",
                    related_id=str(ids[match]),
                )
    return findings, summary


def group_centroids(emb: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L2-normalised mean embedding of each key, index of each key's first row)."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    sums = np.zeros((len(first), emb.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, emb)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32), first


def embed_manifest(
    paths: list[str],
    embed: Callable[[list[np.ndarray]], np.ndarray],
    load: Callable[[str], np.ndarray],
    *,
    files_per_batch: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, usable) of every path, ``files_per_batch`` decoded at a time; unreadable
    files get a zero row and are not usable."""
    from nordlid.errors import AudioDecodeError

    usable = np.zeros(len(paths), dtype=bool)
    out: np.ndarray | None = None
    for start in range(0, len(paths), files_per_batch):
        waves: list[np.ndarray] = []
        rows: list[int] = []
        for i in range(start, min(start + files_per_batch, len(paths))):
            try:
                waves.append(load(paths[i]))
            except AudioDecodeError:
                continue
            rows.append(i)
        if not waves:
            continue
        vectors = embed(waves)
        if out is None:
            out = np.zeros((len(paths), vectors.shape[1]), dtype=np.float32)
        out[rows] = vectors
        usable[rows] = True
    return (out if out is not None else np.zeros((len(paths), 1), np.float32)), usable


def check_voice_leakage(
    manifest: pd.DataFrame, base_dir: Path, threshold: float, partials_per_second: float
) -> tuple[Findings, VoiceLeakageSummary]:
    """Embed the manifest's audio with the pretrained voice encoder and find voice leaks."""
    from nordlid.audio import load_for_model
    from nordlid.errors import AudioDecodeError
    from validation.audio_scan import resolve_path
    from validation.voice_encoder import VoiceEncoder

    def load(path: str) -> np.ndarray:
        if not path:
            raise AudioDecodeError("<no path>", "the manifest row has no path")
        return load_for_model(path)

    encoder = VoiceEncoder(partials_per_second=partials_per_second)
    resolved = [resolve_path(p, base_dir) for p in manifest["path"]]
    paths = [str(p) if p is not None else "" for p in resolved]
    embeddings, usable = embed_manifest(paths, encoder.embed, load)
    findings, summary = find_voice_leakage(manifest, embeddings, usable, threshold)
    summary.lineage = encoder.lineage()
    return findings, summary
