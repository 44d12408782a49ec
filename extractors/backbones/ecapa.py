"""SpeechBrain ECAPA-TDNN language embeddings (``speechbrain/lang-id-voxlingua107-ecapa``).

Loaded with ``EncoderClassifier.from_hparams(source=..., savedir=...)`` from a hub id or a
local directory holding ``hyperparams.yaml``, ``embedding_model.ckpt`` (and the classifier
and label encoder the yaml names); embeddings come from ``encode_batch(wavs, wav_lens)``.

SpeechBrain's ECAPA is not padding-invariant (reflect-padded convolutions, relative
lengths rounded to frames); see :mod:`extractors.backbones.embedding` for the ``exact``
(default) and ``padded`` batching modes and the chunking of long audio.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from extractors.backbones import catalog
from extractors.backbones.common import (
    check_local_path,
    first_line,
    hub_offline,
    is_local,
    missing,
    resolve_device,
    sha256_file,
)
from extractors.backbones.embedding import EmbeddingBackbone, EmbeddingOptions

if TYPE_CHECKING:
    import torch
    from speechbrain.inference.classifiers import EncoderClassifier

log = logging.getLogger(__name__)


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
        raise missing(name, checkpoint, first_line(exc)) from exc


class EcapaExtractor(EmbeddingBackbone):
    """One ``embedding`` vector per utterance from ``EncoderClassifier.encode_batch``."""

    backbone = "ecapa"
    model: EncoderClassifier

    def __init__(
        self,
        *,
        checkpoint: str | None = None,
        savedir: str | os.PathLike[str] | None = None,
        **options: Unpack[EmbeddingOptions],
    ) -> None:
        ckpt = catalog.checkpoint_for(self.backbone, checkpoint)
        torch_device = resolve_device(options.get("device", "auto"))
        where = Path(savedir) if savedir is not None else default_savedir(ckpt)
        self.model = load_encoder_classifier(
            self.backbone, ckpt, savedir=where, device=str(torch_device)
        )
        self._setup(
            checkpoint=ckpt,
            lineage=self._weights_lineage(self.model, ckpt),
            options={**options, "device": str(torch_device)},
        )

    def _attach(self, model: Any, checkpoint: str) -> None:  # noqa: ARG002 - no checks
        self.model = model

    @staticmethod
    def _weights_lineage(model: EncoderClassifier, checkpoint: str) -> dict[str, str]:
        lineage = {"checkpoint": checkpoint}
        pretrainer = getattr(model.hparams, "pretrainer", None)
        path = getattr(pretrainer, "paths", {}).get("embedding_model") if pretrainer else None
        if path and Path(path).exists():
            lineage["weights_sha256"] = sha256_file(Path(path).resolve())
        return lineage

    def _move(self, device: torch.device) -> None:
        self.model.device = str(device)
        self.model.mods.to(device)

    def _embed(self, batch: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        import torch

        rel = lengths.to(torch.float32) / float(lengths.max())
        emb: torch.Tensor = self.model.encode_batch(batch, rel)
        return emb
