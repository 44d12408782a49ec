"""Whisper encoders (tiny, base): mean+std over the encoder frames that cover the audio.

Whisper always encodes a 30 s log-mel window (``WhisperFeatureExtractor`` pads with
zeros); only the first ``ceil(samples / 320)`` encoder frames (2 per 20 ms) cover real
audio, and only those are pooled.  Each item's log-mel is computed and clamped on its own,
so an utterance's features do not depend on its batch companions.  Audio longer than 30 s
is processed in chunks whose statistics merge weighted by frame count.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Self, Unpack

from extractors.backbones import catalog
from extractors.backbones.chunking import Chunk
from extractors.backbones.common import (
    hub_offline,
    hub_revision,
    in_memory_lineage,
    load_pretrained,
)
from extractors.backbones.layerstats import LayerStatsBackbone, LayerStatsOptions
from extractors.backbones.pooling import Moments, frame_mask
from nordlid.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from transformers import WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

log = logging.getLogger(__name__)

WINDOW_SECONDS = 30.0


def load_whisper_encoder(
    name: str, checkpoint: str
) -> tuple[WhisperEncoder, WhisperFeatureExtractor, dict[str, str]]:
    """(encoder in eval mode, feature extractor, lineage) or MissingCheckpointError."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    model = load_pretrained(name, checkpoint, WhisperModel)
    encoder = model.get_encoder().eval()
    try:
        fe = WhisperFeatureExtractor.from_pretrained(checkpoint, local_files_only=hub_offline())
    except OSError:
        log.warning(
            "%s: no preprocessor_config.json in %s; using Whisper's standard %d-bin log-mel",
            name,
            checkpoint,
            model.config.num_mel_bins,
        )
        fe = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    return encoder, fe, hub_revision(checkpoint, model)


class WhisperBackbone(LayerStatsBackbone):
    """Masked mean+std of chosen Whisper encoder layers."""

    default_max_chunk_seconds = WINDOW_SECONDS
    default_max_batch_seconds = 240.0
    encoder: WhisperEncoder
    feature_extractor: WhisperFeatureExtractor
    samples_per_frame: int

    def __init__(
        self, *, checkpoint: str | None = None, **options: Unpack[LayerStatsOptions]
    ) -> None:
        ckpt = catalog.checkpoint_for(self.backbone, checkpoint)
        encoder, fe, lineage = load_whisper_encoder(self.backbone, ckpt)
        self._init_model(encoder, fe, ckpt, lineage, options)

    @classmethod
    def from_model(
        cls,
        encoder: WhisperEncoder,
        feature_extractor: WhisperFeatureExtractor,
        *,
        checkpoint: str,
        **options: Unpack[LayerStatsOptions],
    ) -> Self:
        """Wrap an already built encoder (benchmarks with random full-size weights)."""
        self = cls.__new__(cls)
        self._init_model(
            encoder.eval(), feature_extractor, checkpoint, in_memory_lineage(checkpoint), options
        )
        return self

    def _init_model(
        self,
        encoder: WhisperEncoder,
        fe: WhisperFeatureExtractor,
        checkpoint: str,
        lineage: dict[str, str],
        options: LayerStatsOptions,
    ) -> None:
        window = fe.n_samples / fe.sampling_rate
        if fe.sampling_rate != self.sample_rate:
            raise ConfigError(
                f"extractor {self.backbone!r}: checkpoint {checkpoint!r} expects "
                f"{fe.sampling_rate} Hz audio, nordlid feeds {self.sample_rate} Hz"
            )
        max_chunk_seconds = options.get("max_chunk_seconds", self.default_max_chunk_seconds)
        if max_chunk_seconds > window:
            raise ConfigError(
                f"extractor {self.backbone!r}: max_chunk_seconds={max_chunk_seconds} exceeds "
                f"Whisper's {window:g} s window"
            )
        self.encoder = encoder
        self.feature_extractor = fe
        self.samples_per_frame = (
            int(fe.hop_length) * int(encoder.conv1.stride[0]) * int(encoder.conv2.stride[0])
        )
        self._setup(
            checkpoint=checkpoint,
            num_layers=len(encoder.layers),
            dim=int(encoder.config.d_model),
            min_chunk_samples=1,
            equal_lengths_only=False,
            lineage=lineage,
            options=options,
            extra_params={"window_seconds": window, "samples_per_frame": self.samples_per_frame},
        )
        self._move(self.torch_device)

    def _move(self, device: torch.device) -> None:
        import torch

        torch.nn.Module.to(self.encoder, device=device, dtype=self.model_dtype)

    def _batch_cost(self, chunk: Chunk) -> int:
        return int(self.feature_extractor.n_samples)  # every item is a full 30 s window

    def _forward(self, chunks: list[Chunk]) -> list[dict[int, Moments]]:
        import torch

        device = self.torch_device
        feats = self.feature_extractor(
            [c.wave for c in chunks],
            sampling_rate=self.feature_extractor.sampling_rate,
            return_tensors="pt",
            padding="max_length",
            device=str(device),
        )
        x = feats["input_features"].to(device=device, dtype=self.model_dtype)
        with torch.inference_mode(), self._autocast():
            out = self.encoder(x, output_hidden_states=True)
        hidden = out.hidden_states
        num_frames = out.last_hidden_state.shape[1]
        covered = [min(num_frames, math.ceil(c.length / self.samples_per_frame)) for c in chunks]
        mask = frame_mask(torch.tensor(covered, device=device), num_frames)
        return self._pool_layers(
            lambda layer: out.last_hidden_state if layer == self.num_layers else hidden[layer],
            mask,
        )


class WhisperTinyExtractor(WhisperBackbone):
    backbone = "whisper-tiny"


class WhisperBaseExtractor(WhisperBackbone):
    backbone = "whisper-base"
