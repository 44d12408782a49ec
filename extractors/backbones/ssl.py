"""Self-supervised wav2vec2-family backbones: XLS-R 300M and MMS-LID-126 (head dropped).

Loading goes through ``transformers.Wav2Vec2Model.from_pretrained`` (hub id or local
directory; ``HF_HUB_OFFLINE`` honoured).  Inputs are normalised per utterance over their
real samples as ``Wav2Vec2FeatureExtractor`` does: on the model's device for an utterance
that is one chunk (the common case: no host-side pass over the audio), in NumPy before
chunking for one that is cut into chunks or padded up to the receptive field.  Models
with a layer-norm feature encoder (XLS-R, MMS) get an attention mask and padded batches;
models with a group-norm feature encoder (wav2vec2-base style) must not see padding, so
they are batched only with chunks of exactly equal length.  Frame masks come from
``_get_feat_extract_output_lengths``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self, Unpack

import numpy as np

from extractors.backbones import catalog
from extractors.backbones.chunking import Chunk, pad_batch
from extractors.backbones.common import (
    hub_offline,
    hub_revision,
    in_memory_lineage,
    load_pretrained,
)
from extractors.backbones.layerstats import LayerStatsBackbone, LayerStatsOptions
from extractors.backbones.pooling import Moments, frame_mask

if TYPE_CHECKING:
    import torch
    from transformers import Wav2Vec2Model

log = logging.getLogger(__name__)


def normalize_wave(wave: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over the samples (as ``Wav2Vec2FeatureExtractor`` does)."""
    w = wave.astype(np.float32, copy=False)
    return ((w - w.mean()) / np.sqrt(w.var() + 1e-7)).astype(np.float32)


def normalize_rows(x: torch.Tensor, lengths: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """:func:`normalize_wave` of each selected row of a zero-padded ``(batch, samples)``
    float32 batch over its first ``lengths[b]`` samples; padding stays zero, other rows are
    returned unchanged."""
    import torch

    valid = (torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).to(
        x.dtype
    )
    n = lengths.to(x.dtype).unsqueeze(1)
    mean = (x * valid).sum(dim=1, keepdim=True) / n
    var = (((x - mean) * valid) ** 2).sum(dim=1, keepdim=True) / n
    normalized = (x - mean) / torch.sqrt(var + 1e-7) * valid
    return torch.where(rows.unsqueeze(1), normalized, x)


def load_wav2vec2(name: str, checkpoint: str) -> tuple[Wav2Vec2Model, bool, dict[str, str]]:
    """(model in eval mode, do_normalize, lineage) or MissingCheckpointError."""
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    model = load_pretrained(name, checkpoint, Wav2Vec2Model).eval()
    try:
        fe = Wav2Vec2FeatureExtractor.from_pretrained(checkpoint, local_files_only=hub_offline())
        do_normalize = bool(fe.do_normalize)
    except OSError:
        log.warning(
            "%s: no preprocessor_config.json in %s; normalising inputs (zero mean, unit var)",
            name,
            checkpoint,
        )
        do_normalize = True
    return model, do_normalize, hub_revision(checkpoint, model)


class Wav2Vec2Backbone(LayerStatsBackbone):
    """Masked mean+std of chosen hidden layers of a ``Wav2Vec2Model``."""

    model: Wav2Vec2Model
    do_normalize: bool
    uses_attention_mask: bool

    def __init__(
        self, *, checkpoint: str | None = None, **options: Unpack[LayerStatsOptions]
    ) -> None:
        ckpt = catalog.checkpoint_for(self.backbone, checkpoint)
        model, do_normalize, lineage = load_wav2vec2(self.backbone, ckpt)
        self._init_model(model, ckpt, do_normalize, lineage, options)

    @classmethod
    def from_model(
        cls,
        model: Wav2Vec2Model,
        *,
        checkpoint: str,
        do_normalize: bool = True,
        **options: Unpack[LayerStatsOptions],
    ) -> Self:
        """Wrap an already built model (benchmarks with random full-size weights)."""
        self = cls.__new__(cls)
        self._init_model(
            model.eval(), checkpoint, do_normalize, in_memory_lineage(checkpoint), options
        )
        return self

    def _init_model(
        self,
        model: Wav2Vec2Model,
        checkpoint: str,
        do_normalize: bool,
        lineage: dict[str, str],
        options: LayerStatsOptions,
    ) -> None:
        config = model.config
        self.model = model
        self.do_normalize = do_normalize
        self.uses_attention_mask = config.feat_extract_norm == "layer"
        self._setup(
            checkpoint=checkpoint,
            num_layers=int(config.num_hidden_layers),
            dim=int(config.hidden_size),
            min_chunk_samples=_receptive_field(config.conv_kernel, config.conv_stride),
            equal_lengths_only=not self.uses_attention_mask,
            lineage=lineage,
            options=options,
            extra_params={
                "do_normalize": do_normalize,
                "feat_extract_norm": config.feat_extract_norm,
            },
        )
        self._move(self.torch_device)

    def _move(self, device: torch.device) -> None:
        import torch

        torch.nn.Module.to(self.model, device=device, dtype=self.model_dtype)

    def _prepare(self, wave: np.ndarray) -> np.ndarray:
        # A wave that stays one whole chunk is normalised on the device in _forward.
        whole = self.min_chunk_samples <= wave.shape[0] <= self.max_chunk_samples
        return normalize_wave(wave) if self.do_normalize and not whole else wave

    def _forward(self, chunks: list[Chunk]) -> list[dict[int, Moments]]:
        import torch

        batch, lengths = pad_batch([c.wave for c in chunks])
        x = torch.from_numpy(batch).to(self.torch_device)
        n = torch.from_numpy(lengths).to(self.torch_device)
        if self.do_normalize and any(c.whole for c in chunks):
            rows = torch.tensor([c.whole for c in chunks], device=self.torch_device)
            x = normalize_rows(x, n, rows)
        x = x.to(self.model_dtype)
        attention = frame_mask(n, x.shape[1]).long() if self.uses_attention_mask else None
        with torch.inference_mode(), self._autocast():
            out = self.model(x, attention_mask=attention, output_hidden_states=True)
        hidden = out.hidden_states
        frames = self.model._get_feat_extract_output_lengths(n, add_adapter=False)  # type: ignore[arg-type]
        mask = frame_mask(frames.to(torch.long), hidden[0].shape[1])

        def states(layer: int) -> torch.Tensor:
            # The last layer is reported after the encoder's final layer norm (as in
            # transformers 4.x hidden_states[-1]); others are the raw layer outputs.
            if layer == self.num_layers and self.model.adapter is None:
                return out.last_hidden_state
            return hidden[layer]

        return self._pool_layers(states, mask)


def _receptive_field(kernels: Any, strides: Any) -> int:
    """Samples needed for one output frame of the convolutional feature encoder."""
    field = 1
    for k, s in reversed(list(zip(kernels, strides, strict=True))):
        field = (field - 1) * int(s) + int(k)
    return field


class XLSRExtractor(Wav2Vec2Backbone):
    backbone = "xlsr"


class MMSExtractor(Wav2Vec2Backbone):
    backbone = "mms"
