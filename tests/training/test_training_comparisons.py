"""The default run's comparison heads are trained only over features that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from feature_repo.recipes import resolve_recipe
from nordlid.workdir import Workdir
from training import comparisons


def test_premium_adds_whisper_base_to_lidnet_once_extracted() -> None:
    assert resolve_recipe("lid_premium", ["acoustic", "lidnet"]) == ["lidnet"]
    both = ["acoustic", "whisper_base", "lidnet"]
    assert resolve_recipe("lid_premium", both) == ["lidnet", "whisper_base"]
    # registered, but its packaged weights were absent: premium is lidnet alone
    assert resolve_recipe("lid_premium", both, extracted=["acoustic", "lidnet"]) == ["lidnet"]
    # no lidnet yet: one fallback backbone, not Whisper twice
    assert resolve_recipe("lid_premium", ["acoustic", "whisper_base"]) == ["whisper_base"]


def test_comparisons_follow_the_extracted_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wd = Workdir(tmp_path)
    calls: list[tuple[str, str, str]] = []

    def fake_train(workdir: Workdir, service: str, head: str, name: str, **_: Any) -> str:
        calls.append((service, head, name))
        return name

    monkeypatch.setattr(comparisons, "train_model", fake_train)
    assert comparisons.train_comparisons(wd, track=False) == []  # nothing extracted yet
    for extractor in ("whisper-base",):
        directory = wd.feature_dir(extractor)
        directory.mkdir(parents=True)
        (directory / "part-00000.parquet").write_bytes(b"")
    assert comparisons.train_comparisons(wd, track=False) == ["lid-whisper-base"]
    (wd.feature_dir("lidnet")).mkdir(parents=True)
    (wd.feature_dir("lidnet") / "part-00000.parquet").write_bytes(b"")
    calls.clear()
    comparisons.train_comparisons(wd, track=False)
    assert calls == [
        ("lid_whisper_base", "lda", "lid-whisper-base"),
        ("lid_lidnet", "lda", "lid-lidnet"),
    ]
