"""Base class of the backbones that return one pooled embedding per utterance (ECAPA, TitaNet).

Both libraries' models see padding: SpeechBrain's ECAPA pads its convolutions by
reflection and rounds relative lengths to frames; NeMo's filterbank uses a reflect-padded
centred STFT, so the last frames of a zero-padded utterance differ from those of the same
utterance alone.  ``batching="exact"`` (the default) therefore batches only chunks of
identical length, which makes an utterance's embedding independent of its companions;
``batching="padded"`` pads to the longest chunk and passes the true lengths (the libraries'
usual batched mode: faster on GPU, values differ slightly, and the spec — hence the
engine's fingerprint — records the mode).  Audio longer than ``max_chunk_seconds`` is cut
into chunks whose embeddings are averaged weighted by their length.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, Literal, Self, TypedDict, Unpack

import numpy as np

from extractors.backbones import catalog
from extractors.backbones.chunking import (
    check_batch_options,
    check_waves,
    pad_batch,
    plan_batches,
    split_chunks,
)
from extractors.backbones.common import in_memory_lineage, resolve_device
from extractors.backbones.layerstats import check_options, default_pad_fraction
from extractors.base import Extractor, Row
from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import ConfigError

if TYPE_CHECKING:
    import torch

SAMPLE_RATE = TARGET_SAMPLE_RATE  # the model input rate (nordlid.audio)
Batching = Literal["exact", "padded"]


class EmbeddingOptions(TypedDict, total=False):
    """The keyword settings every embedding backbone takes (defaults: the class's).

    ``device``: auto/cpu/cuda[:N]; ``batching``: ``exact`` or ``padded`` (module docstring);
    ``max_chunk_seconds``: longer audio is cut into chunks averaged by length;
    ``max_batch_seconds``: padded audio per batch; ``max_pad_fraction``: the padding share
    a ``padded`` batch may hold (default by device).
    """

    device: str | None
    batching: Batching
    max_chunk_seconds: float
    max_batch_seconds: float
    max_pad_fraction: float | None


class EmbeddingBackbone(Extractor):
    """Chunking, batching and length-weighted pooling around a batch ``_encode``."""

    backbone: str
    engine_autocast = False  # fp32: these models are small and keep fp32 BatchNorm stats
    default_max_chunk_seconds: float = 60.0
    default_max_batch_seconds: float = 120.0
    min_samples: int = 400  # one 25 ms analysis window

    checkpoint: str
    batching: Batching
    dim: int
    max_chunk_samples: int
    max_batch_samples: int
    max_pad_fraction: float | None
    torch_device: torch.device
    _lineage: dict[str, str]

    @classmethod
    def from_model(
        cls, model: Any, *, checkpoint: str, **options: Unpack[EmbeddingOptions]
    ) -> Self:
        """Wrap an already built model (benchmarks with random full-size weights)."""
        self = cls.__new__(cls)
        self._attach(model, checkpoint)
        self._setup(checkpoint=checkpoint, lineage=in_memory_lineage(checkpoint), options=options)
        return self

    def _setup(
        self, *, checkpoint: str, lineage: dict[str, str], options: EmbeddingOptions
    ) -> None:
        check_options(type(self), dict(options), EmbeddingOptions)
        batching = options.get("batching", "exact")
        max_chunk_seconds = options.get("max_chunk_seconds", self.default_max_chunk_seconds)
        max_batch_seconds = options.get("max_batch_seconds", self.default_max_batch_seconds)
        max_pad_fraction = options.get("max_pad_fraction")
        if batching not in ("exact", "padded"):
            raise ConfigError(
                f"extractor {self.backbone!r}: batching={batching!r} is not 'exact' or 'padded'"
            )
        check_batch_options(self.backbone, max_chunk_seconds, max_batch_seconds, max_pad_fraction)
        self.max_pad_fraction = max_pad_fraction
        self.checkpoint = checkpoint
        self.batching = batching
        self.max_chunk_samples = max(int(max_chunk_seconds * SAMPLE_RATE), self.min_samples)
        self.max_batch_samples = max(int(max_batch_seconds * SAMPLE_RATE), self.max_chunk_samples)
        self.to(options.get("device") or "auto")
        self.dim = self._probe_dim()
        # Only non-default settings enter the spec (and so the engine's fingerprint).
        params: dict[str, object] = {}
        if batching != "exact":
            params["batching"] = batching
        if max_chunk_seconds != self.default_max_chunk_seconds:
            params["max_chunk_seconds"] = max_chunk_seconds
        self.spec = catalog.spec_for(
            self.backbone, dim=self.dim, checkpoint=checkpoint, params=params
        )
        self._lineage = {
            **lineage,
            "batching": batching,
            "max_chunk_seconds": f"{max_chunk_seconds:g}",
        }

    # -- hooks -------------------------------------------------------------------------
    @abstractmethod
    def _attach(self, model: Any, checkpoint: str) -> None:
        """Keep an already built model (and check it fits) for :meth:`from_model`."""

    @abstractmethod
    def _embed(self, batch: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Embeddings of a zero-padded ``(batch, samples)`` float32 CPU batch whose rows hold
        ``lengths`` real samples (called under inference mode)."""

    @abstractmethod
    def _move(self, device: torch.device) -> None:
        """Move the model to ``device``."""

    def _encode(self, waves: list[np.ndarray]) -> np.ndarray:
        """``(len(waves), dim)`` float64 embeddings of one batch, padded here."""
        import torch

        batch, lengths = pad_batch(waves)
        with torch.inference_mode():
            emb = self._embed(torch.from_numpy(batch), torch.from_numpy(lengths))
        out: np.ndarray = emb.reshape(len(waves), -1).to(torch.float64).cpu().numpy()
        return out

    # -- public ------------------------------------------------------------------------
    def _probe_dim(self) -> int:
        """Embedding size as the model produces it (one second of silence)."""
        return int(self._encode([np.zeros(SAMPLE_RATE, dtype=np.float32)]).shape[-1])

    def lineage(self) -> dict[str, str]:
        return {**super().lineage(), **self._lineage}

    def to(self, device: str) -> EmbeddingBackbone:
        self.torch_device = resolve_device(device)
        self.device = str(self.torch_device)
        self._move(self.torch_device)
        return self

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        if not waves:
            return []
        chunks = split_chunks(check_waves(waves), self.max_chunk_samples, self.min_samples)
        sums = np.zeros((len(waves), self.dim), dtype=np.float64)
        weights = np.zeros(len(waves), dtype=np.float64)
        batches = plan_batches(
            [c.length for c in chunks],
            self.max_batch_samples,
            equal_lengths_only=self.batching == "exact",
            max_pad_fraction=(
                self.max_pad_fraction
                if self.max_pad_fraction is not None
                else default_pad_fraction(self.torch_device)
            ),
        )
        for batch in batches:
            members = [chunks[i] for i in batch]
            emb = np.asarray(self._encode([c.wave for c in members]), dtype=np.float64)
            for row, chunk in zip(emb, members, strict=True):
                sums[chunk.utt] += chunk.length * row
                weights[chunk.utt] += chunk.length
        pooled = sums / weights[:, None]
        return [{"embedding": vec.astype(np.float32)} for vec in pooled]
