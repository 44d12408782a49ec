"""Output schemas of the backbones (built from the catalogue and from loaded models).

Layer-statistics backbones (wav2vec2 family, Whisper encoders) have one ``layerNN_mean``
and one ``layerNN_std`` vector column per pooled layer; embedding backbones (ECAPA,
TitaNet) have one ``embedding`` column.
"""

from __future__ import annotations

from collections.abc import Sequence

from extractors.spec import ExtractorSpec, FeatureColumn
from nordlid.errors import ConfigError


def default_layers(num_layers: int, count: int = 4) -> tuple[int, ...]:
    """Layers spread evenly through the depth, always ending with the last:
    24 → (6, 12, 18, 24); 48 → (12, 24, 36, 48); 2 → (1, 2)."""
    count = max(1, min(count, num_layers))
    return tuple(sorted({round(num_layers * (k + 1) / count) for k in range(count)}))


def check_layers(name: str, layers: Sequence[int], num_layers: int) -> tuple[int, ...]:
    chosen = tuple(int(x) for x in layers)
    if not chosen:
        raise ConfigError(f"extractor {name!r}: layers must name at least one layer")
    bad = [x for x in chosen if not 0 <= x <= num_layers]
    if bad:
        raise ConfigError(
            f"extractor {name!r}: layers {bad} out of range; the model has layers 0..{num_layers}"
        )
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"extractor {name!r}: layers {list(chosen)} contain duplicates")
    return chosen


def layer_column(layer: int, stat: str) -> str:
    return f"layer{layer:02d}_{stat}"


def layer_stats_spec(
    name: str,
    *,
    version: str,
    checkpoint: str,
    dim: int,
    layers: Sequence[int],
    description: str,
    params: dict[str, object] | None = None,
) -> ExtractorSpec:
    cols: list[FeatureColumn] = []
    for layer in layers:
        for stat in ("mean", "std"):
            cols.append(
                FeatureColumn(
                    layer_column(layer, stat),
                    length=dim,
                    description=f"masked {stat} over real frames of layer {layer}",
                )
            )
    return ExtractorSpec(
        name=name,
        version=version,
        columns=tuple(cols),
        description=description,
        checkpoint=checkpoint,
        needs_weights=True,
        params={"layers": list(layers), "dim": dim, **(params or {})},
    )


def embedding_spec(
    name: str,
    *,
    version: str,
    checkpoint: str,
    dim: int,
    description: str,
    params: dict[str, object] | None = None,
) -> ExtractorSpec:
    return ExtractorSpec(
        name=name,
        version=version,
        columns=(FeatureColumn("embedding", length=dim, description="pooled utterance embedding"),),
        description=description,
        checkpoint=checkpoint,
        needs_weights=True,
        params={"dim": dim, **(params or {})},
    )
