"""Base class of the backbones that pool per-layer mean and std over real frames.

Subclasses load a model and implement :meth:`LayerStatsBackbone._forward` for one padded
batch of chunks, returning the per-layer :class:`Moments` of each chunk's real frames.
This class does the rest: input checks, chunking of long audio, length-sorted batching
within a padded-sample budget, and merging of chunk statistics weighted by frame count.
"""

from __future__ import annotations

import contextlib
import logging
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from extractors.backbones import catalog
from extractors.backbones.chunking import (
    Chunk,
    check_batch_options,
    check_waves,
    plan_batches,
    split_chunks,
)
from extractors.backbones.common import Precision, autocast_dtype, resolve_device, weights_dtype
from extractors.backbones.pooling import Moments, masked_moments, merge_all
from extractors.backbones.specs import check_layers, default_layers, layer_column
from extractors.base import Extractor, Row
from nordlid.audio import TARGET_SAMPLE_RATE

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SAMPLE_RATE = TARGET_SAMPLE_RATE  # the model input rate (nordlid.audio)


class LayerStatsOptions(TypedDict, total=False):
    """The keyword settings every layer-statistics backbone takes (defaults: the class's).

    ``device``: auto/cpu/cuda[:N]; ``layers``: the hidden layers to pool (0 = the input
    embeddings); ``max_chunk_seconds``: longer audio is cut into chunks whose statistics
    merge; ``max_batch_seconds``: padded audio per forward pass; ``max_pad_fraction``: the
    padding share a batch may hold (default by device); ``precision``: see
    :data:`~extractors.backbones.common.Precision`.
    """

    device: str | None
    layers: Sequence[int] | None
    max_chunk_seconds: float
    max_batch_seconds: float
    max_pad_fraction: float | None
    precision: Precision


def check_options(owner: type, options: dict[str, Any], known: type) -> None:
    """Unknown keyword settings are a TypeError naming the class, as a signature would give."""
    unknown = sorted(set(options) - set(known.__annotations__))
    if unknown:
        raise TypeError(f"{owner.__name__}() got unexpected keyword argument(s) {unknown}")


def default_pad_fraction(device: torch.device) -> float:
    """Padding share a batch may hold: little on CPU (batching gains nothing there),
    more on GPU (bigger batches keep it busy)."""
    return 0.35 if device.type == "cuda" else 0.1


class LayerStatsBackbone(Extractor):
    """Shared extraction loop; see the module docstring."""

    backbone: str  # catalogue name, set by subclasses
    engine_autocast = False  # precision is handled here (``precision=``)
    default_max_chunk_seconds: float = 20.0
    default_max_batch_seconds: float = 160.0

    # set by _setup
    checkpoint: str
    torch_device: torch.device
    layers: tuple[int, ...]
    num_layers: int
    dim: int
    max_chunk_samples: int
    min_chunk_samples: int
    max_batch_samples: int
    equal_lengths_only: bool
    max_pad_fraction: float | None
    precision: Precision
    _lineage: dict[str, str]

    def _setup(
        self,
        *,
        checkpoint: str,
        num_layers: int,
        dim: int,
        min_chunk_samples: int,
        equal_lengths_only: bool,
        lineage: dict[str, str],
        options: LayerStatsOptions,
        extra_params: dict[str, Any] | None = None,
    ) -> None:
        check_options(type(self), dict(options), LayerStatsOptions)
        info = catalog.info(self.backbone)
        max_chunk_seconds = options.get("max_chunk_seconds", self.default_max_chunk_seconds)
        max_batch_seconds = options.get("max_batch_seconds", self.default_max_batch_seconds)
        max_pad_fraction = options.get("max_pad_fraction")
        precision = options.get("precision", "auto")
        layers = options.get("layers")
        check_batch_options(self.backbone, max_chunk_seconds, max_batch_seconds, max_pad_fraction)
        self.max_pad_fraction = max_pad_fraction
        self.checkpoint = checkpoint
        self.torch_device = resolve_device(options.get("device", "auto"))
        self.device = str(self.torch_device)
        self.num_layers = num_layers
        self.dim = dim
        if layers is None:
            chosen = (
                info.default_layers
                if num_layers == info.num_layers
                else default_layers(num_layers, info.default_layer_count)
            )
        else:
            chosen = tuple(layers)
        self.layers = check_layers(self.backbone, chosen, num_layers)
        self.max_chunk_samples = max(int(max_chunk_seconds * SAMPLE_RATE), min_chunk_samples)
        self.min_chunk_samples = min_chunk_samples
        self.max_batch_samples = max(int(max_batch_seconds * SAMPLE_RATE), self.max_chunk_samples)
        self.equal_lengths_only = equal_lengths_only
        autocast_dtype(self.torch_device, precision)  # validates the value early
        self.precision = precision
        # Only non-default settings enter the spec (and so the engine's fingerprint): a
        # default extractor has exactly the catalogue's spec.
        params: dict[str, object] = {}
        if max_chunk_seconds != self.default_max_chunk_seconds:
            params["max_chunk_seconds"] = max_chunk_seconds
        self.spec = catalog.spec_for(
            self.backbone, layers=self.layers, dim=dim, checkpoint=checkpoint, params=params
        )
        self._lineage = {
            **lineage,
            "num_layers": str(num_layers),
            **{k: str(v) for k, v in (extra_params or {}).items()},
        }

    def _pool_layers(
        self, hidden: Callable[[int], torch.Tensor], mask: torch.Tensor
    ) -> list[dict[int, Moments]]:
        """Per-item moments over ``mask`` of each chosen layer, ``hidden(layer)`` being that
        layer's ``(batch, frames, dim)`` states."""
        result: list[dict[int, Moments]] = [{} for _ in range(mask.shape[0])]
        for layer in self.layers:
            for item, moments in enumerate(masked_moments(hidden(layer), mask)):
                result[item][layer] = moments
        return result

    # -- hooks -------------------------------------------------------------------------
    def _prepare(self, wave: np.ndarray) -> np.ndarray:
        """Per-utterance preprocessing before chunking (default: none)."""
        return wave

    def _pad_fraction(self) -> float:
        if self.max_pad_fraction is not None:
            return self.max_pad_fraction
        return default_pad_fraction(self.torch_device)

    def _batch_cost(self, chunk: Chunk) -> int:
        """Padded samples one chunk occupies in a batch (default: its length)."""
        return chunk.length

    @abstractmethod
    def _forward(self, chunks: list[Chunk]) -> list[dict[int, Moments]]:
        """Per-layer moments over the real frames of each chunk of one batch."""

    # -- public ------------------------------------------------------------------------
    def lineage(self) -> dict[str, str]:
        return {
            **super().lineage(),
            **self._lineage,
            "layers": ",".join(str(x) for x in self.layers),
            "max_chunk_seconds": f"{self.max_chunk_samples / SAMPLE_RATE:g}",
            "precision": self.precision,
        }

    def to(self, device: str) -> LayerStatsBackbone:
        self.torch_device = resolve_device(device)
        self.device = str(self.torch_device)
        self._move(self.torch_device)
        return self

    def _move(self, device: torch.device) -> None:  # noqa: B027 - optional hook
        """Move model weights to ``device`` in :attr:`model_dtype` (subclasses with a model
        override this)."""

    @property
    def model_dtype(self) -> torch.dtype:
        """The dtype of the weights and of the model's inputs (bf16 only for ``bf16-model``)."""
        return weights_dtype(self.precision)

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        import torch

        dtype = autocast_dtype(self.torch_device, self.precision)
        if dtype is None:
            yield
            return
        with torch.autocast(device_type=self.torch_device.type, dtype=dtype):
            yield

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        if not waves:
            return []
        prepared = [self._prepare(w) for w in check_waves(waves)]
        chunks = split_chunks(prepared, self.max_chunk_samples, self.min_chunk_samples)
        parts: list[dict[int, list[Moments]]] = [
            {layer: [] for layer in self.layers} for _ in waves
        ]
        batches = plan_batches(
            [self._batch_cost(c) for c in chunks],
            self.max_batch_samples,
            equal_lengths_only=self.equal_lengths_only,
            max_pad_fraction=self._pad_fraction(),
        )
        for batch in batches:
            members = [chunks[i] for i in batch]
            for chunk, stats in zip(members, self._forward(members), strict=True):
                for layer in self.layers:
                    parts[chunk.utt][layer].append(stats[layer])
        rows: list[Row] = []
        for per_layer in parts:
            row: Row = {}
            for layer in self.layers:
                total = merge_all(per_layer[layer])
                row[layer_column(layer, "mean")] = total.mean.astype(np.float32)
                row[layer_column(layer, "std")] = total.std.astype(np.float32)
            rows.append(row)
        return rows
