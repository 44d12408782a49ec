"""Shared plumbing for the pretrained backbones: checkpoint choice, devices, lineage.

Every backbone picks its checkpoint the same way — the ``checkpoint=`` keyword, else the
``NORDLID_<NAME>_CHECKPOINT`` environment variable, else the catalogue default (a hub id) —
and reports absent weights with one :class:`~nordlid.errors.MissingCheckpointError`
that says how to provide them.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nordlid.errors import ConfigError, MissingCheckpointError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: ``auto`` = bf16 autocast on CUDA, fp32 elsewhere; ``bf16``/``fp16`` = autocast to that
#: dtype (weights, layer norms and the residual stream stay fp32); ``bf16-model`` = weights
#: and activations in bf16, no autocast (no casts per op: faster, a little less exact).
Precision = Literal["auto", "fp32", "bf16", "fp16", "bf16-model"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "bf16-model")

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".nemo")
_TRUE = {"1", "true", "yes", "on"}


def env_var(name: str) -> str:
    """``whisper-tiny`` → ``NORDLID_WHISPER_TINY_CHECKPOINT``."""
    return f"NORDLID_{name.upper().replace('-', '_')}_CHECKPOINT"


def how_to_provide(name: str) -> str:
    return (
        f"set {env_var(name)} to a local directory/.nemo file, "
        "or run on a machine with internet access to the hub"
    )


def resolve_checkpoint(name: str, default: str, checkpoint: str | os.PathLike[str] | None) -> str:
    """The checkpoint to load: keyword, else environment variable, else default."""
    if checkpoint is not None and str(checkpoint).strip():
        return str(checkpoint)
    from_env = os.environ.get(env_var(name), "").strip()
    return from_env or default


def in_memory_lineage(checkpoint: str) -> dict[str, str]:
    """Lineage of a model handed over in memory (``from_model``: benchmarks, random weights)."""
    return {"checkpoint": checkpoint, "weights": "in-memory model"}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` forbid network access, or when
    the hub's host name does not resolve (no network): then checkpoints are looked up in the
    local caches only, instead of every backbone retrying the hub for ~25 s before it is
    reported missing."""
    if any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    ):
        return True
    return hub_unreachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


@functools.lru_cache(maxsize=4)
def hub_unreachable(endpoint: str) -> bool:
    """Whether ``endpoint``'s host name fails to resolve (checked once per process)."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(endpoint).hostname or endpoint
    try:
        socket.getaddrinfo(host, 443)
    except OSError as exc:
        log.warning(
            "%s does not resolve (%s): pretrained checkpoints are looked up in the local "
            "caches only",
            host,
            first_line(exc),
        )
        return True
    return False


def is_local(checkpoint: str) -> bool:
    return Path(checkpoint).expanduser().exists()


def looks_like_path(checkpoint: str) -> bool:
    """A path the user meant to be local (absolute, relative with ./, or with a suffix)."""
    return (
        checkpoint.startswith(("/", "./", "../", "~"))
        or checkpoint.endswith(_WEIGHT_SUFFIXES)
        or checkpoint.count("/") > 1
    )


def missing(name: str, checkpoint: str, reason: str | None = None) -> MissingCheckpointError:
    how = how_to_provide(name)
    if reason:
        how = f"{reason}; {how}"
    return MissingCheckpointError(name, checkpoint, how)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_pretrained(name: str, checkpoint: str, model_class: Any) -> Any:
    """``model_class.from_pretrained`` (transformers; fp32, ``HF_HUB_OFFLINE`` honoured) of a
    hub id or local directory, or MissingCheckpointError."""
    import torch

    check_local_path(name, checkpoint)
    try:
        return model_class.from_pretrained(
            checkpoint, dtype=torch.float32, local_files_only=hub_offline()
        )
    except OSError as exc:
        raise missing(name, checkpoint, first_line(exc)) from exc


def hub_revision(checkpoint: str, model: Any) -> dict[str, str]:
    """Lineage of a transformers model: hub commit when known, else the local weights hash."""
    value = getattr(model.config, "_commit_hash", None)
    return {"checkpoint": checkpoint, **revision_of(checkpoint, str(value) if value else None)}


def check_local_path(name: str, checkpoint: str) -> None:
    """A checkpoint that is clearly a path but does not exist is a missing checkpoint."""
    if looks_like_path(checkpoint) and not is_local(checkpoint):
        raise missing(name, checkpoint, "no such file or directory")


def resolve_device(device: str | None) -> torch.device:
    """``auto`` → CUDA when available, else CPU; an unavailable CUDA is a clear error."""
    import torch

    choice = (device or "auto").strip().lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    if not (choice == "cpu" or choice.startswith("cuda")):
        raise ConfigError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N")
    return torch.device(choice)


def autocast_dtype(device: torch.device, precision: Precision) -> torch.dtype | None:
    """The autocast dtype for a forward pass (None = no autocast)."""
    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision in ("fp32", "bf16-model") or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "fp16":
        return torch.float16
    return torch.bfloat16


def weights_dtype(precision: Precision) -> torch.dtype:
    """The dtype of the model's weights (and so of its activations) for ``precision``."""
    import torch

    return torch.bfloat16 if precision == "bf16-model" else torch.float32


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_sha256(location: str | Path) -> str:
    """SHA-256 over the weight files of a local checkpoint (a file or a directory)."""
    path = Path(location).expanduser()
    if path.is_file():
        return sha256_file(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))
    if not files:
        return ""
    if len(files) == 1:
        return sha256_file(files[0])
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(path).as_posix().encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def revision_of(checkpoint: str, commit_hash: str | None) -> dict[str, str]:
    """Lineage fields: hub commit when known, else the sha256 of the local weights."""
    if commit_hash:
        return {"checkpoint_revision": commit_hash}
    if is_local(checkpoint):
        return {"weights_sha256": weights_sha256(checkpoint)}
    return {}
