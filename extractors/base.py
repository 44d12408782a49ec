"""The interface every extractor implements (modelled on SpeechBrain's ``encode_batch``).

An extractor receives 16 kHz mono float32 waves of any lengths and returns one row per
wave holding exactly the columns of its :class:`~extractors.spec.ExtractorSpec`.  Padding,
masking and chunking of long audio happen inside; callers never see padded frames.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from extractors.spec import ExtractorSpec

Row = dict[str, Any]


class Extractor(ABC):
    """Base class: subclasses set ``spec`` and implement :meth:`extract`."""

    spec: ExtractorSpec
    sample_rate: int = 16_000
    #: where the extractor computes (set by :meth:`to`); the engine reads it for autocast
    device: str = "cpu"
    #: False → the engine never wraps :meth:`extract` in CUDA fp16/bf16 autocast
    engine_autocast: bool = True

    @abstractmethod
    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        """Features for a batch of 16 kHz mono waves: one dict per wave, keys = spec columns."""

    def lineage(self) -> dict[str, str]:
        """Checkpoint id and revision / weights hash and parameters, stored in Parquet metadata."""
        return {
            "extractor": self.spec.name,
            "extractor_version": self.spec.version,
            "checkpoint": self.spec.checkpoint or "",
        }

    def to(self, device: str) -> Extractor:  # noqa: ARG002 - CPU-only extractors ignore it
        """Move to ``device`` (``cpu``/``cuda[:N]``); CPU-only extractors keep ``cpu``."""
        return self
