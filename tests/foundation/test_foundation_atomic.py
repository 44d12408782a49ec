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
