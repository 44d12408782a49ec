"""NeMo TitaNet-LID / AmberNet (``langid_ambernet``) pooled embeddings.

Loaded with NeMo's own loaders: ``EncDecSpeakerLabelModel.restore_from(path.nemo)`` for a
local ``.nemo`` file (or a directory holding exactly one), or ``from_pretrained(name)``
for a NeMo catalogue name.  With ``HF_HUB_OFFLINE`` set no download is attempted: a name is
resolved only from NeMo's cache (``NEMO_CACHE_DIR``).  The embedding is the second output
of the model's ``forward(input_signal=..., input_signal_length=...)`` — the attention-
pooled utterance embedding.  Batching and chunking: see :mod:`extractors.backbones.embedding`.
"""

from __future__ import annotations

import logging
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from extractors.backbones import catalog
from extractors.backbones.common import (
    check_local_path,
    first_line,
    hub_offline,
    missing,
    resolve_device,
    sha256_file,
)
from extractors.backbones.embedding import SAMPLE_RATE, EmbeddingBackbone, EmbeddingOptions
from nordlid.errors import ConfigError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def cached_nemo_file(name: str) -> Path | None:
    """The ``.nemo`` file NeMo's ``from_pretrained(name)`` would have cached, if present."""
    from nemo.collections.asr.models import EncDecSpeakerLabelModel
    from nemo.utils.data_utils import resolve_cache_dir

    for info in EncDecSpeakerLabelModel.list_available_models() or []:
        aliases = [info.pretrained_model_name, *(info.aliases or [])]
        if name in aliases:
            filename = info.location.split("/")[-1]
            folder = resolve_cache_dir() / filename[: -len(".nemo")]
            found = sorted(folder.rglob(filename)) if folder.is_dir() else []
            return found[0] if found else None
    return None


def _nemo_file(name: str, checkpoint: str) -> Path:
    """Resolve a checkpoint (file, directory or catalogue name) to a local ``.nemo`` file."""
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.nemo"))
        if len(files) != 1:
            raise missing(
                name, checkpoint, f"expected one .nemo file in the directory, found {len(files)}"
            )
        return files[0]
    if path.is_file():
        return path
    cached = cached_nemo_file(checkpoint)
    if cached is not None:
        return cached
    if hub_offline():
        raise missing(
            name,
            checkpoint,
            "not in the NeMo cache and downloads are off "
            "(HF_HUB_OFFLINE, or the hub does not resolve)",
        )
    from nemo.collections.asr.models import EncDecSpeakerLabelModel

    try:
        downloaded = EncDecSpeakerLabelModel.from_pretrained(checkpoint, return_model_file=True)
    except (OSError, ValueError) as exc:
        raise missing(name, checkpoint, first_line(exc)) from exc
    return Path(str(downloaded))


def load_nemo_label_model(name: str, checkpoint: str, device: torch.device) -> tuple[Any, Path]:
    """(NeMo speaker/language label model in eval mode, its .nemo file)."""
    check_local_path(name, checkpoint)
    nemo_file = _nemo_file(name, checkpoint)
    from nemo.collections.asr.models import EncDecSpeakerLabelModel

    try:
        model = EncDecSpeakerLabelModel.restore_from(str(nemo_file), map_location=device)
    except (tarfile.TarError, KeyError, EOFError) as exc:
        raise ConfigError(
            f"extractor {name!r}: {nemo_file} is not a readable .nemo checkpoint ({exc})"
        ) from exc
    return model.eval(), nemo_file


class TitaNetExtractor(EmbeddingBackbone):
    """One ``embedding`` vector per utterance from a NeMo ``EncDecSpeakerLabelModel``."""

    backbone = "titanet"
    model: Any  # nemo.collections.asr.models.EncDecSpeakerLabelModel

    def __init__(
        self, *, checkpoint: str | None = None, **options: Unpack[EmbeddingOptions]
    ) -> None:
        ckpt = catalog.checkpoint_for(self.backbone, checkpoint)
        torch_device = resolve_device(options.get("device", "auto"))
        self.model, nemo_file = load_nemo_label_model(self.backbone, ckpt, torch_device)
        self._check_sample_rate(ckpt)
        self._setup(
            checkpoint=ckpt,
            lineage={
                "checkpoint": ckpt,
                "nemo_file": nemo_file.name,
                "weights_sha256": sha256_file(nemo_file),
            },
            options={**options, "device": str(torch_device)},
        )

    def _attach(self, model: Any, checkpoint: str) -> None:
        self.model = model.eval()
        self._check_sample_rate(checkpoint)

    def _check_sample_rate(self, checkpoint: str) -> None:
        rate = getattr(self.model.preprocessor, "_sample_rate", SAMPLE_RATE)
        if int(rate) != SAMPLE_RATE:
            raise ConfigError(
                f"extractor {self.backbone!r}: checkpoint {checkpoint!r} expects {rate} Hz audio, "
                f"nordlid feeds {SAMPLE_RATE} Hz"
            )

    def _move(self, device: torch.device) -> None:
        self.model.to(device)

    def _embed(self, batch: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.torch_device)
        n = lengths.to(self.torch_device)
        _logits, emb = self.model.forward(input_signal=x, input_signal_length=n)
        out: torch.Tensor = emb
        return out
