"""``lidnet``: nordlid's own compact LID embedding backbone, trained on the corpus.

No pretrained LID weights exist offline, so nordlid trains a small TDNN (SpeechBrain's
``ECAPA_TDNN`` lobe at 64 channels by default, or its ``Xvector`` lobe) from scratch on
mean-normalised log-mel filterbanks of the corpus's train split (:mod:`training.lidnet_train`) and
registers it like any other backbone — the same path a user takes to bring their own.
The checkpoint (``lidnet.safetensors`` + ``lidnet.json``) lives in the model registry
under ``models/lidnet/<version>/``; the extractor loads the ``lidnet`` model's
``production`` alias, or a ``checkpoint=`` path (a directory holding those files) or
registry ref (``lidnet@3``).

The backbone is a small deep ensemble: ``members`` encoders (seeds ``seed + k``) share the
filterbank front end and their embeddings are concatenated.
Output: one ``embedding`` vector per utterance, of the checkpoint's declared dimension
(``embedding_dim × members``).
Each utterance runs on its own (no padding ever enters the pooled statistics); an
utterance longer than ``WINDOWED_FROM_S`` is the mean over windows of one length.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from extractors.base import Extractor, Row
from extractors.registry import RegistryEntry
from extractors.spec import ExtractorSpec, FeatureColumn
from nordlid.errors import ConfigError, MissingCheckpointError

log = logging.getLogger(__name__)

NAME = "lidnet"
MINI_NAME = "lidnet-mini"  # the serving cascade's cheap first stage: one narrow encoder
VERSION = "3"  # 2: ensemble of member encoders (``encoders.<k>``); 3: long inputs windowed
DEFAULT_DIM = 128  # per member
DEFAULT_MEMBERS = 2
WEIGHTS_FILE = "lidnet.safetensors"
CONFIG_FILE = "lidnet.json"
PRODUCTION_REF = f"{NAME}@production"
MIN_SAMPLES = 1_600  # 0.1 s: shorter input is zero-padded to this
# Inputs longer than WINDOWED_FROM_S are embedded as the mean of WINDOW_S windows every
# WINDOW_HOP_S (the last one ends at the input's end), so one loud stretch of a long clip
# moves one window's share of the embedding instead of the whole attentive pooling (and
# each window is near the 3 s crops the network was trained on).  benchmarks/
# long_input_windows.py, 300 ~11 s clips (four clean held-out files of one language
# joined), premium head, whole-utterance vs windowed: clean 98.3 -> 100 %; a quarter of the
# clip under -5 dB noise 94.7 -> 96.3 %; a quarter under an equally loud talker of another
# language 95.3 -> 98.7 %.
WINDOW_S = 4.0
WINDOW_HOP_S = 2.0
WINDOWED_FROM_S = 8.0


def production_ref(name: str = NAME) -> str:
    """The registry ref an extractor of model ``name`` loads by default."""
    return f"{name}@production"


class LidnetConfig(BaseModel):
    """Architecture of the backbone (saved with the weights)."""

    model_config = ConfigDict(extra="forbid")

    # ECAPA-TDNN at 64 channels by default: about as fast to train on CPU as the 128-channel
    # x-vector TDNN (2 x 30 epochs on the default corpus: 528-542 s vs 498-505 s), 0.39 M
    # instead of 0.48 M parameters, 0.027 vs 0.036 GFLOPs per audio second, and better on
    # unseen voices (two seed pairs, backbone's own classifier, 800 held-out files: clean
    # 97.1/96.6 -> 96.9/97.4 %, degraded 91.1/89.9 -> 91.8/90.9 %; dev macro-F1 0.91 -> 0.93-0.95)
    arch: Literal["ecapa", "xvector"] = "ecapa"
    sample_rate: int = 16_000
    n_mels: int = 40
    hop_ms: float = 20.0  # 20 ms frames: half the cost of 10 ms, same accuracy on the corpus
    channels: int = 64
    embedding_dim: int = DEFAULT_DIM  # per member
    # encoders trained one after another with different seeds; their embeddings are
    # concatenated (a deep ensemble: +~3 points on unseen voices over one member)
    members: int = Field(default=DEFAULT_MEMBERS, ge=1)
    attention_channels: int = 64
    res2net_scale: int = 4
    se_channels: int = 32
    labels: list[str] = Field(default_factory=list)  # classes of the training head

    @property
    def output_dim(self) -> int:
        """Length of the extracted embedding (every member's, concatenated)."""
        return self.embedding_dim * self.members


def mini_config() -> LidnetConfig:
    """The ``lidnet-mini`` architecture: one ECAPA-TDNN encoder at 32 channels and a 64-d
    embedding (about a seventh of the premium ensemble's multiply-adds per audio second)."""
    return LidnetConfig(
        channels=32,
        embedding_dim=64,
        members=1,
        attention_channels=32,
        se_channels=16,
    )


def build_backbone(config: LidnetConfig) -> Any:
    """Filterbank front end (+ per-utterance mean normalisation) shared by ``members``
    x-vector TDNN (or ECAPA-TDNN) encoders, SpeechBrain lobes; their embeddings are
    concatenated."""
    import torch
    from speechbrain.lobes.features import Fbank
    from torch import nn

    def make_encoder() -> nn.Module:
        c = config.channels
        if config.arch == "ecapa":
            from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

            return ECAPA_TDNN(
                input_size=config.n_mels,
                channels=[c, c, c, c, 3 * c],
                lin_neurons=config.embedding_dim,
                attention_channels=config.attention_channels,
                res2net_scale=config.res2net_scale,
                se_channels=config.se_channels,
            )
        from speechbrain.lobes.models.Xvector import Xvector

        return Xvector(
            in_channels=config.n_mels,
            tdnn_channels=[c, c, c, c, 2 * c],
            lin_neurons=config.embedding_dim,
        )

    class LidnetBackbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fbank = Fbank(
                sample_rate=config.sample_rate, n_mels=config.n_mels, hop_length=config.hop_ms
            )
            self.encoders = nn.ModuleList([make_encoder() for _ in range(config.members)])

        def features(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
            """Log-mel minus its mean over the utterance's own frames (a stationary channel)."""
            feats = self.fbank(wave)  # (B, T, n_mels)
            if lengths is None:
                return feats - feats.mean(dim=1, keepdim=True)
            frames = torch.arange(feats.shape[1], device=feats.device)[None, :]
            valid = (frames < (lengths[:, None] * feats.shape[1]).round()).to(feats.dtype)
            mean = (feats * valid[..., None]).sum(1, keepdim=True) / valid.sum(1).clamp(min=1)[
                :, None, None
            ]
            return (feats - mean) * valid[..., None]

        def encode(
            self, k: int, feats: torch.Tensor, lengths: torch.Tensor | None = None
        ) -> torch.Tensor:
            """Member ``k``'s embeddings ``(B, embedding_dim)`` of :meth:`features` output."""
            out: torch.Tensor = self.encoders[k](feats, lengths)
            return out.squeeze(1)

        def embed_member(
            self, k: int, wave: torch.Tensor, lengths: torch.Tensor | None = None
        ) -> torch.Tensor:
            """Member ``k``'s embeddings ``(B, embedding_dim)`` (what its training sees)."""
            return self.encode(k, self.features(wave, lengths), lengths)

        def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
            """Embeddings ``(B, members × dim)``; ``lengths`` = relative lengths of zero-padded
            waves.  The filterbank is computed once and shared by the members."""
            feats = self.features(wave, lengths)
            outs = [self.encode(k, feats, lengths) for k in range(len(self.encoders))]
            return torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]

    return LidnetBackbone()


# ------------------------------------------------------------------ checkpoint files
def save_checkpoint(directory: Path, backbone: Any, config: LidnetConfig) -> list[str]:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in backbone.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(config.model_dump_json(indent=2))
    return [WEIGHTS_FILE, CONFIG_FILE]


def weights_sha256(directory: Path) -> str:
    path = directory / WEIGHTS_FILE
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _sha256(path: str, mtime_ns: int, size: int) -> str:  # noqa: ARG001 - cache keys
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_checkpoint(directory: Path) -> tuple[Any, LidnetConfig]:
    from safetensors.torch import load_file

    config = LidnetConfig.model_validate_json((directory / CONFIG_FILE).read_text())
    backbone = build_backbone(config)
    state = load_file(str(directory / WEIGHTS_FILE))
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"{directory / WEIGHTS_FILE}: weights do not match {CONFIG_FILE} "
            f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
        )
    backbone.eval()
    return backbone, config


def resolve_checkpoint(
    checkpoint: str | Path | None, models_root: Path | None = None, name: str = NAME
) -> tuple[Path, str]:
    """(directory, identity) of the checkpoint to load (default: model ``name``'s
    ``production`` alias); MissingCheckpointError if absent."""
    from nordlid.model_store import ModelNotFoundError, ModelStore
    from nordlid.workdir import Workdir

    root = models_root or Workdir.from_env().models
    if checkpoint is not None and (Path(checkpoint) / WEIGHTS_FILE).exists():
        directory = Path(checkpoint).resolve()
        return directory, f"{directory}:{weights_sha256(directory)[:12]}"
    if checkpoint is not None and "@" not in str(checkpoint):
        raise MissingCheckpointError(name, str(checkpoint), f"no {WEIGHTS_FILE} in that directory")
    ref = str(checkpoint) if checkpoint is not None else production_ref(name)
    try:
        resolved = ModelStore(root).resolve(ref)
    except ModelNotFoundError as exc:
        raise MissingCheckpointError(
            name,
            f"{root}/{ref}",
            f"not trained yet ({exc}); train it with `nordlid train --backbone lidnet`",
        ) from None
    model, version = resolved
    directory = root / model / str(version)
    if not (directory / WEIGHTS_FILE).exists():
        raise MissingCheckpointError(name, str(directory), f"{WEIGHTS_FILE} is missing")
    return directory, f"{model}@{version}:{weights_sha256(directory)[:12]}"


# ------------------------------------------------------------------ spec and extractor
def _default_config(name: str) -> LidnetConfig:
    return mini_config() if name == MINI_NAME else LidnetConfig()


def _production_info(name: str = NAME) -> tuple[str, int]:
    """Identity and dimension of model ``name``'s production checkpoint in the work dir."""
    try:
        directory, ident = resolve_checkpoint(None, name=name)
    except MissingCheckpointError:
        return f"{production_ref(name)} (not trained)", _default_config(name).output_dim
    config = LidnetConfig.model_validate_json((directory / CONFIG_FILE).read_text())
    return ident, config.output_dim


def lidnet_spec(
    dim: int | None = None, checkpoint: str | None = None, name: str = NAME
) -> ExtractorSpec:
    """Spec of ``lidnet`` (or ``lidnet-mini``); by default the dim and identity of the
    production checkpoint, so a retrained backbone changes the fingerprint and features are
    re-extracted."""
    if dim is None or checkpoint is None:
        ident, prod_dim = _production_info(name)
        dim = prod_dim if dim is None else dim
        checkpoint = ident if checkpoint is None else checkpoint
    what = "narrow single-encoder" if name == MINI_NAME else "ensemble"
    return ExtractorSpec(
        name=name,
        version=VERSION,
        columns=(
            FeatureColumn(
                "embedding", length=dim, description=f"{name} TDNN utterance embedding ({what})"
            ),
        ),
        description=f"nordlid's compact TDNN LID backbone ({what}) trained on the corpus",
        checkpoint=checkpoint,
        needs_weights=True,
        params={"dim": dim},
    )


class LidnetExtractor(Extractor):
    """Embeds 16 kHz mono waves with a trained lidnet checkpoint."""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str = "cpu",
        models_root: Path | None = None,
        name: str = NAME,
    ) -> None:
        directory, ident = resolve_checkpoint(checkpoint, models_root, name=name)
        self.directory = directory
        self.model, self.config = load_checkpoint(directory)
        self.spec = lidnet_spec(dim=self.config.output_dim, checkpoint=ident, name=name)
        self.device = "cpu"
        self.to(device)

    def to(self, device: str) -> LidnetExtractor:
        if device not in ("auto", ""):
            self.model.to(device)
            self.device = device
        return self

    def lineage(self) -> dict[str, str]:
        out = super().lineage()
        out["weights_sha256"] = weights_sha256(self.directory)
        out["config"] = self.config.model_dump_json()
        return out

    def embed(self, wave: np.ndarray) -> np.ndarray:
        import torch

        x = np.asarray(wave, dtype=np.float32).ravel()
        if x.size < MIN_SAMPLES:
            x = np.pad(x, (0, MIN_SAMPLES - x.size))
        segments = long_input_windows(x, self.config.sample_rate)
        with torch.no_grad():
            tensor = torch.from_numpy(segments).to(self.device)
            emb = self.model(tensor).float().mean(dim=0).cpu().numpy()
        return np.asarray(emb, dtype=np.float32)

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        return [{"embedding": self.embed(w).tolist()} for w in waves]


def long_input_windows(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(n, samples)``: ``x`` itself (n = 1) up to ``WINDOWED_FROM_S``, else its windows
    of ``WINDOW_S`` every ``WINDOW_HOP_S``, the last one ending at the end of ``x``."""
    if x.size <= int(WINDOWED_FROM_S * sample_rate):
        return x[None]
    width, hop = int(WINDOW_S * sample_rate), int(WINDOW_HOP_S * sample_rate)
    starts = list(range(0, x.size - width + 1, hop))
    if starts[-1] + width < x.size:
        starts.append(x.size - width)
    return np.stack([x[s : s + width] for s in starts])


def entries() -> list[RegistryEntry]:
    return [
        RegistryEntry(
            name=NAME,
            spec=lidnet_spec,
            factory="extractors.lidnet:LidnetExtractor",
            description="nordlid's own TDNN LID embedding, trained on the corpus",
        ),
        RegistryEntry(
            name=MINI_NAME,
            spec=functools.partial(lidnet_spec, name=MINI_NAME),
            factory=functools.partial(LidnetExtractor, name=MINI_NAME),
            description="nordlid's own narrow TDNN LID embedding: the cascade's mini stage",
        ),
    ]
