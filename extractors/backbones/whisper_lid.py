"""Whisper's own language identification (zero-shot), restricted to nordlid's languages.

CTranslate2's ``detect_language`` runs the encoder and one decoder step and returns
Whisper's probability of each of its 99 language tokens.  Only the North Germanic ones
count here: ``da``, ``fo``, ``is``, ``sv``, and Norwegian as ``no`` (Bokmål) plus ``nn``
(Nynorsk) — one spoken class.  Their probabilities are renormalised over the labels asked
for (so a 4-class corpus without Faroese is scored over 4 classes).  Audio longer than
30 s is judged on its first 30 s, as Whisper does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from extractors.backbones.chunking import Chunk
from extractors.backbones.whisper_ct2 import WINDOW_SAMPLES, Ct2WhisperBaseExtractor
from nordlid.errors import ConfigError

#: Whisper language token → nordlid label.
WHISPER_TO_NORDLID: dict[str, str] = {
    "da": "da",
    "fo": "fo",
    "is": "is",
    "no": "no",
    "nn": "no",
    "sv": "sv",
}


def restrict(scores: Sequence[tuple[str, float]], labels: Sequence[str]) -> np.ndarray:
    """``detect_language`` scores (``("<|nn|>", p)``, ...) → probabilities over ``labels``."""
    out = np.zeros(len(labels), dtype=np.float64)
    index = {label: i for i, label in enumerate(labels)}
    for token, prob in scores:
        label = WHISPER_TO_NORDLID.get(token.strip("<|>"))
        if label is not None and label in index:
            out[index[label]] += prob
    total = out.sum()
    return out / total if total > 0 else np.full(len(labels), 1.0 / len(labels))


class WhisperLanguageDetector:
    """Zero-shot LID with the whisper-base weights (packaged or a CTranslate2 directory)."""

    def __init__(
        self,
        labels: Sequence[str],
        *,
        checkpoint: str | None = None,
        compute_type: str | None = None,
        threads: int | None = None,
        batch_size: int = 16,
    ) -> None:
        self.batch_size = max(1, batch_size)
        unknown = sorted(set(labels) - set(WHISPER_TO_NORDLID.values()))
        if unknown:
            raise ConfigError(f"Whisper LID: labels {unknown} are not North Germanic codes")
        self.labels = list(labels)
        self.encoder = Ct2WhisperBaseExtractor(
            checkpoint=checkpoint, compute_type=compute_type, threads=threads, device="cpu"
        )

    def lineage(self) -> dict[str, str]:
        return self.encoder.lineage()

    def predict_proba(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """``(len(waves), len(labels))`` probabilities; equal padded lengths share a call."""
        import ctranslate2

        enc = self.encoder
        chunks = [
            Chunk(i, np.asarray(w, dtype=np.float32)[:WINDOW_SAMPLES]) for i, w in enumerate(waves)
        ]
        groups: dict[int, list[Chunk]] = {}
        for chunk in chunks:
            groups.setdefault(enc.padded_frames(chunk.length), []).append(chunk)
        out = np.zeros((len(waves), len(self.labels)), dtype=np.float64)
        batches = [
            g[i : i + self.batch_size]
            for g in groups.values()
            for i in range(0, len(g), self.batch_size)
        ]
        for members in batches:
            mels = np.ascontiguousarray(enc.chunk_mels(members), dtype=np.float32)
            results = enc.model.detect_language(ctranslate2.StorageView.from_array(mels))
            for chunk, scores in zip(members, results, strict=True):
                out[chunk.utt] = restrict(scores, self.labels)
        return out
