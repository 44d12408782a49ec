"""Read the variables of a CTranslate2 ``model.bin`` (no ctranslate2 needed).

The format is what ``ctranslate2.specs.ModelSpec.save`` writes: a binary version, the spec
name, a revision, the variables (name, shape, dtype, raw bytes) and aliases.  Reading it
lets nordlid check that a CTranslate2 checkpoint and a transformers one hold the same
weights (``whisper_convert``), and only ever yields plain arrays — nothing is unpickled.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nordlid.errors import ConfigError

#: Order of CTranslate2's ``DataType`` enum (include/ctranslate2/types.h).
_DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
_SUPPORTED_VERSIONS = frozenset({5, 6})


@dataclass(frozen=True)
class Ct2Model:
    """The spec name, revision and variables (aliases resolved) of one ``model.bin``."""

    spec_name: str
    revision: int
    variables: dict[str, np.ndarray]


def _read(f: BinaryIO, fmt: str, path: Path) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ConfigError(f"{path}: truncated CTranslate2 model file")
    return struct.unpack(fmt, data)


def _read_string(f: BinaryIO, path: Path) -> str:
    (length,) = _read(f, "<H", path)
    raw = f.read(length)
    if len(raw) != length:
        raise ConfigError(f"{path}: truncated CTranslate2 model file")
    return raw[:-1].decode("utf-8")


def _variables(f: BinaryIO, path: Path, count: int) -> Iterator[tuple[str, np.ndarray]]:
    for _ in range(count):
        name = _read_string(f, path)
        (rank,) = _read(f, "<B", path)
        shape = _read(f, f"<{rank}I", path) if rank else ()
        (type_id,) = _read(f, "<B", path)
        (num_bytes,) = _read(f, "<I", path)
        if type_id >= len(_DTYPES):
            raise ConfigError(f"{path}: variable {name!r} has unknown dtype id {type_id}")
        dtype = _DTYPES[type_id]
        raw = f.read(num_bytes)
        if len(raw) != num_bytes:
            raise ConfigError(f"{path}: variable {name!r} truncated")
        if dtype == "bfloat16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        yield name, array.reshape(shape)


def variable_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """The name and shape of every variable of ``path`` (data skipped, not read)."""
    file = _model_file(path)
    shapes: dict[str, tuple[int, ...]] = {}
    with file.open("rb") as f:
        count = _header(f, file)[2]
        for _ in range(count):
            name = _read_string(f, file)
            (rank,) = _read(f, "<B", file)
            shapes[name] = _read(f, f"<{rank}I", file) if rank else ()
            _read(f, "<B", file)
            (num_bytes,) = _read(f, "<I", file)
            f.seek(num_bytes, 1)
    return shapes


def _model_file(path: str | Path) -> Path:
    file = Path(path)
    if file.is_dir():
        file = file / "model.bin"
    if not file.is_file():
        raise ConfigError(f"{file}: no CTranslate2 model.bin")
    return file


def _header(f: BinaryIO, file: Path) -> tuple[str, int, int]:
    """(spec name, revision, variable count) after checking the binary version."""
    (version,) = _read(f, "<I", file)
    if version not in _SUPPORTED_VERSIONS:
        raise ConfigError(
            f"{file}: CTranslate2 binary version {version} (readable: "
            f"{sorted(_SUPPORTED_VERSIONS)})"
        )
    spec_name = _read_string(f, file)
    (revision,) = _read(f, "<I", file)
    (count,) = _read(f, "<I", file)
    return spec_name, revision, count


def read_ct2_model(path: str | Path) -> Ct2Model:
    """All variables of ``path`` (a ``model.bin`` or the directory holding it)."""
    file = _model_file(path)
    with file.open("rb") as f:
        spec_name, revision, count = _header(f, file)
        variables = dict(_variables(f, file, count))
        (num_aliases,) = _read(f, "<I", file)
        for _ in range(num_aliases):
            alias = _read_string(f, file)
            target = _read_string(f, file)
            if target in variables:
                variables[alias] = variables[target]
    return Ct2Model(spec_name=spec_name, revision=revision, variables=variables)
