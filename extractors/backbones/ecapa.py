"""SpeechBrain ECAPA-TDNN language embeddings (``speechbrain/lang-id-voxlingua107-ecapa``).

Loaded with ``EncoderClassifier.from_hparams(source=..., savedir=...)`` from a hub id or a
local directory holding ``hyperparams.yaml``, ``embedding_model.ckpt`` (and the classifier
and label encoder the yaml names); embeddings come from ``encode_batch(wavs, wav_lens)``.

SpeechBrain's ECAPA is not padding-invariant: its convolutions pad by *reflection* and its
relative lengths are rounded to frames, so a zero-padded utterance gets a different
embedding than the same utterance alone.  The default ``batching="exact"`` therefore
batches only chunks of identical length (``wav_lens`` all 1.0) — an utterance's embedding
never depends on its companions.  ``batching="padded"`` pads to the longest chunk and
passes relative lengths, SpeechBrain's usual mode: faster on GPU, slightly different
values (the spec fingerprint records the mode).  Long audio is cut into chunks of at most
``max_chunk_seconds`` whose embeddings are averaged weighted by their length.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from extractors.backbones import catalog
from extractors.backbones.chunking import check_waves, pad_batch, plan_batches, split_chunks
from extractors.backbones.common import (
    check_local_path,
    hub_offline,
    is_local,
    missing,
    resolve_checkpoint,
    resolve_device,
    sha256_file,
)
from extractors.base import Extractor, Row
from nordlid.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from speechbrain.inference.classifiers import EncoderClassifier

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
Batching = Literal["exact", "padded"]
_MIN_SAMPLES = 400  # one 25 ms Fbank window


def default_savedir(checkpoint: str) -> Path:
    """Where SpeechBrain collects (symlinks) the checkpoint files."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nordlid"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", checkpoint.strip("/"))[-120:]
    return root / "speechbrain" / slug


def _yaml_has_pretrained_path(source: Path) -> bool:
    text = (source / "hyperparams.yaml").read_text(encoding="utf-8")
    return re.search(r"^pretrained_path\s*:", text, flags=re.MULTILINE) is not None


def load_encoder_classifier(
    name: str, checkpoint: str, *, savedir: Path, device: str
) -> EncoderClassifier:
    """``EncoderClassifier.from_hparams`` or MissingCheckpointError."""
    from speechbrain.inference.classifiers import EncoderClassifier
    from speechbrain.utils.fetching import FetchConfig

    check_local_path(name, checkpoint)
    overrides: dict[str, Any] = {}
    if is_local(checkpoint):
        source = Path(checkpoint).expanduser().resolve()
        if not (source / "hyperparams.yaml").is_file():
            raise missing(name, checkpoint, "directory has no hyperparams.yaml")
        # Hub yamls point their weight paths at <pretrained_path> = the hub id; a local
        # copy must point them at itself.
        if _yaml_has_pretrained_path(source):
            overrides["pretrained_path"] = str(source)
        src = str(source)
    else:
        src = checkpoint
    try:
        return EncoderClassifier.from_hparams(
            source=src,
            savedir=str(savedir),
            overrides=overrides,
            run_opts={"device": device},
            fetch_config=FetchConfig(allow_network=not hub_offline()),
        )
    except (OSError, ValueError) as exc:
        text = str(exc).strip()
        raise missing(name, checkpoint, text.splitlines()[0] if text else None) from exc


class EcapaExtractor(Extractor):
    """One ``embedding`` vector per utterance from ``EncoderClassifier.encode_batch``."""

    backbone = "ecapa"
    engine_autocast = False  # SpeechBrain's ECAPA runs in fp32 (its BatchNorm stats are fp32)

    def __init__(
        self,
        *,
        checkpoint: str | None = None,
        device: str | None = "auto",
        savedir: str | os.PathLike[str] | None = None,
        batching: Batching = "exact",
        max_chunk_seconds: float = 60.0,
        max_batch_seconds: float = 120.0,
    ) -> None:
        info = catalog.info(self.backbone)
        ckpt = resolve_checkpoint(self.backbone, info.checkpoint, checkpoint)
        torch_device = resolve_device(device)
        where = Path(savedir) if savedir is not None else default_savedir(ckpt)
        model = load_encoder_classifier(
            self.backbone, ckpt, savedir=where, device=str(torch_device)
        )
        self._init_model(
            model,
            checkpoint=ckpt,
            device=str(torch_device),
            batching=batching,
            max_chunk_seconds=max_chunk_seconds,
            max_batch_seconds=max_batch_seconds,
            lineage=self._weights_lineage(model, ckpt),
        )

    @classmethod
    def from_model(
        cls,
        model: EncoderClassifier,
        *,
        checkpoint: str,
        device: str | None = "auto",
        batching: Batching = "exact",
        max_chunk_seconds: float = 60.0,
        max_batch_seconds: float = 120.0,
    ) -> EcapaExtractor:
        """Wrap an already built EncoderClassifier (benchmarks with random weights)."""
        self = cls.__new__(cls)
        self._init_model(
            model,
            checkpoint=checkpoint,
            device=str(resolve_device(device)),
            batching=batching,
            max_chunk_seconds=max_chunk_seconds,
            max_batch_seconds=max_batch_seconds,
            lineage={"checkpoint": checkpoint, "weights": "in-memory model"},
        )
        return self

    @staticmethod
    def _weights_lineage(model: EncoderClassifier, checkpoint: str) -> dict[str, str]:
        lineage = {"checkpoint": checkpoint}
        pretrainer = getattr(model.hparams, "pretrainer", None)
        path = getattr(pretrainer, "paths", {}).get("embedding_model") if pretrainer else None
        if path and Path(path).exists():
            lineage["weights_sha256"] = sha256_file(Path(path).resolve())
        return lineage

    def _init_model(
        self,
        model: EncoderClassifier,
        *,
        checkpoint: str,
        device: str,
        batching: Batching,
        max_chunk_seconds: float,
        max_batch_seconds: float,
        lineage: dict[str, str],
    ) -> None:
        if batching not in ("exact", "padded"):
            raise ConfigError(f"extractor 'ecapa': batching={batching!r} is not exact or padded")
        if max_chunk_seconds <= 0 or max_batch_seconds <= 0:
            raise ConfigError(
                f"extractor 'ecapa': max_chunk_seconds={max_chunk_seconds} and "
                f"max_batch_seconds={max_batch_seconds} must be positive"
            )
        self.model = model
        self.checkpoint = checkpoint
        self.batching = batching
        self.max_chunk_samples = max(int(max_chunk_seconds * SAMPLE_RATE), _MIN_SAMPLES)
        self.max_batch_samples = max(int(max_batch_seconds * SAMPLE_RATE), self.max_chunk_samples)
        self.to(device)
        self.dim = self._probe_dim()
        params: dict[str, object] = {}
        if batching != "exact":
            params["batching"] = batching
        if max_chunk_seconds != 60.0:
            params["max_chunk_seconds"] = max_chunk_seconds
        self.spec = catalog.spec_for(
            self.backbone, dim=self.dim, checkpoint=checkpoint, params=params
        )
        self._lineage = {
            **lineage,
            "batching": batching,
            "max_chunk_seconds": f"{max_chunk_seconds:g}",
        }

    def _probe_dim(self) -> int:
        """Embedding size as the model produces it (one second of silence)."""
        import torch

        with torch.inference_mode():
            out = self.model.encode_batch(torch.zeros(1, SAMPLE_RATE))
        return int(out.shape[-1])

    def lineage(self) -> dict[str, str]:
        return {**super().lineage(), **self._lineage}

    def to(self, device: str) -> EcapaExtractor:
        torch_device = resolve_device(device)
        self.device = str(torch_device)
        self.model.device = self.device
        self.model.mods.to(torch_device)
        return self

    def _encode(self, waves: list[np.ndarray]) -> torch.Tensor:
        import torch

        batch, lengths = pad_batch(waves)
        rel = torch.from_numpy(lengths.astype(np.float32) / float(lengths.max()))
        with torch.inference_mode():
            emb = self.model.encode_batch(torch.from_numpy(batch), rel)
        return emb.reshape(len(waves), -1).to(torch.float64).cpu()

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        if not waves:
            return []
        chunks = split_chunks(check_waves(waves), self.max_chunk_samples, _MIN_SAMPLES)
        sums = np.zeros((len(waves), self.dim), dtype=np.float64)
        weights = np.zeros(len(waves), dtype=np.float64)
        batches = plan_batches(
            [c.length for c in chunks],
            self.max_batch_samples,
            equal_lengths_only=self.batching == "exact",
        )
        for batch in batches:
            members = [chunks[i] for i in batch]
            emb = self._encode([c.wave for c in members]).numpy()
            for row, chunk in zip(emb, members, strict=True):
                sums[chunk.utt] += chunk.length * row
                weights[chunk.utt] += chunk.length
        pooled = sums / weights[:, None]
        return [{"embedding": vec.astype(np.float32)} for vec in pooled]
