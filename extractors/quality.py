"""The ``quality`` extractor: SQUIM STOI / PESQ / SI-SDR and the VAD speech ratio.

All measurement code lives in :mod:`validation.speech_quality` (shared with the validation
gates); this module only adapts it to the extractor interface.  Without SQUIM weights the
three scores are null (``load_squim`` says so once) while the speech ratio is still computed.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from extractors.base import Extractor, Row
from extractors.spec import ExtractorSpec, FeatureColumn

log = logging.getLogger(__name__)

QUALITY_VERSION = "1"


def quality_spec() -> ExtractorSpec:
    return ExtractorSpec(
        name="quality",
        version=QUALITY_VERSION,
        columns=(
            FeatureColumn("stoi", description="SQUIM STOI estimate (0-1); null without weights"),
            FeatureColumn("pesq", description="SQUIM PESQ estimate (1-4.5); null without weights"),
            FeatureColumn("si_sdr", description="SQUIM SI-SDR estimate, dB; null without weights"),
            FeatureColumn(
                "speech_ratio", description="fraction of samples inside silero-vad speech"
            ),
        ),
        description="Reference-free speech quality (torchaudio SQUIM) and voice activity",
        checkpoint="torchaudio:SQUIM_OBJECTIVE",
        needs_weights=False,
        params={},
    )


class QualityExtractor(Extractor):
    """Scores each wave on its own (padding would change SQUIM's scores)."""

    engine_autocast = False

    def __init__(
        self, squim_weights: str | Path | None = None, vad: Any = None, device: str = "cpu"
    ) -> None:
        from validation.speech_quality import load_squim

        self.spec = quality_spec()
        self.device = "cpu"  # SQUIM runs on CPU tensors in validation.speech_quality
        self._vad = vad
        self._squim = load_squim(squim_weights)
        self._weights = str(squim_weights) if squim_weights else ""

    def to(self, device: str) -> QualityExtractor:  # noqa: ARG002 - CPU only
        return self

    def lineage(self) -> dict[str, str]:
        out = super().lineage()
        out["squim"] = (
            "absent (scores null)" if self._squim is None else (self._weights or "torchaudio")
        )
        if self._weights and Path(self._weights).is_file():
            out["weights_sha256"] = hashlib.sha256(Path(self._weights).read_bytes()).hexdigest()
        return out

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        from validation.speech_quality import load_vad, speech_ratio, squim_scores

        if self._vad is None:
            self._vad = load_vad()
        scores = squim_scores(list(waves), self._squim)
        rows: list[Row] = []
        for wave, score in zip(waves, scores, strict=True):
            row: Row = {k: (None if v is None else float(v)) for k, v in score.items()}
            row["speech_ratio"] = float(speech_ratio(wave, self._vad))
            rows.append(row)
        return rows
