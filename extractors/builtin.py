"""Registry entries of the weight-free built-in extractors: ``acoustic`` and ``quality``."""

from __future__ import annotations

from extractors.acoustic_params import acoustic_spec
from extractors.quality import quality_spec
from extractors.registry import RegistryEntry


def entries() -> list[RegistryEntry]:
    return [
        RegistryEntry(
            name="acoustic",
            spec=acoustic_spec,
            factory="extractors.acoustic:AcousticExtractor",
            description="MFCC/SDC/log-mel/spectral/pitch statistics of VAD-trimmed speech",
        ),
        RegistryEntry(
            name="quality",
            spec=quality_spec,
            factory="extractors.quality:QualityExtractor",
            description="SQUIM STOI/PESQ/SI-SDR (null without weights) and VAD speech ratio",
        ),
    ]
