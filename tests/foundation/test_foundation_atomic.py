"""nordlid.atomic: a reader sees the old file or the whole new one, never a half."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordlid.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    atomic_write_text(target, "one")
    atomic_write_bytes(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


@pytest.mark.parametrize("fsync", [False, True])
def test_a_failed_write_keeps_the_old_file(tmp_path: Path, fsync: bool) -> None:
    target = tmp_path / "part.parquet"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target, fsync=fsync) as tmp:
        tmp.write_text("half")
        assert tmp.name.startswith(".") and tmp.parent == tmp_path  # hidden from readers
        raise RuntimeError("writer died")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["part.parquet"]
    with atomic_path(target, fsync=fsync) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible before the block ends
    assert target.read_text() == "new"


def test_the_temporary_name_carries_the_writer_pid(tmp_path: Path) -> None:
    import os

    from nordlid.atomic import temp_path, writer_pid

    tmp = temp_path(tmp_path / "part-1.parquet")
    assert tmp.name == f".part-1.parquet.{os.getpid()}.tmp"
    assert writer_pid(tmp) == os.getpid()
    assert writer_pid(tmp_path / ".part-1.parquet.tmp") is None
    assert writer_pid(tmp_path / "part-1.parquet") is None


def test_stale_part_temps_of_dead_writers_go_and_live_writers_keep_theirs(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from extractors.store import clean_stale_temps

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    live = tmp_path / f".part-a.parquet.{os.getppid()}.tmp"  # the test runner's parent
    gone = tmp_path / f".part-b.parquet.{int(dead.stdout)}.tmp"
    for path in (live, gone):
        path.write_bytes(b"half")
    assert clean_stale_temps(tmp_path) == 1
    assert live.exists() and not gone.exists()
