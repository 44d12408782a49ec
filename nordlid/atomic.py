"""Write a file so that a reader never sees half of it: a temporary name, then a rename.

A killed writer leaves at most a ``.<name>.<pid>.tmp`` file (never the final name), and a
rename within one directory is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def temp_path(final: Path) -> Path:
    """The temporary name :func:`atomic_path` writes ``final`` under: ``.<name>.<pid>.tmp``."""
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def writer_pid(tmp: Path) -> int | None:
    """The process id in a :func:`temp_path` name (None when the name has none)."""
    suffixes = tmp.suffixes
    if len(suffixes) < 2 or suffixes[-1] != ".tmp":
        return None
    digits = suffixes[-2].removeprefix(".")
    return int(digits) if digits.isdigit() else None


@contextlib.contextmanager
def atomic_path(path: str | Path, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    For writers that want a file name (``pq.write_table(table, tmp)``).  On an exception
    the temporary file is removed and ``path`` is left as it was.  ``fsync`` flushes the
    file to disk before the rename (a crash then leaves the old file or the whole new one).
    The temporary name starts with a dot, so directory readers (``*.parquet`` globs,
    pyarrow datasets) never see it.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
