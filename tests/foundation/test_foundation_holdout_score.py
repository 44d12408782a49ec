"""The held-out check's scoring: clean / degraded / per condition, errors counted, unknown
files ignored, every prediction kept with its truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nordlid.workdir import Workdir
from pipeline.run import PipelineSummary, format_summary, score_holdout


def _line(path: Path, language: str | None = None, error: str | None = None) -> str:
    row: dict[str, object] = {"path": str(path)}
    if error is not None:
        row["error"] = error
    else:
        row.update(language=language, confidence=0.9)
    return json.dumps(row)


def test_score_holdout_by_condition(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.wav" for name in "abcdefg"}
    truth = {
        str(files["a"].resolve()): ("da", "clean"),
        str(files["b"].resolve()): ("sv", "clean"),
        str(files["c"].resolve()): ("no", "noisy"),
        str(files["d"].resolve()): ("no", "noisy"),
        str(files["e"].resolve()): ("is", "telephone"),
        str(files["f"].resolve()): ("is", "telephone"),
    }
    lines = [
        _line(files["a"], "da"),
        _line(files["b"], "no"),
        _line(files["c"], "no"),
        _line(files["d"], "sv"),
        _line(files["e"], "is"),
        _line(files["f"], error="too short"),
        _line(files["g"], "da"),  # not a held-out file: ignored
    ]
    result, rows = score_holdout(lines, truth)
    assert result["clean_accuracy"] == pytest.approx(0.5) and result["clean_n"] == 2
    assert result["degraded_accuracy"] == pytest.approx(2 / 3) and result["degraded_n"] == 3
    # every answer at confidence 0.9: ECE = |accuracy - 0.9|
    assert result["by_condition"] == {
        "noisy": {"accuracy": 0.5, "n": 2, "ece": pytest.approx(0.4)},
        "telephone": {"accuracy": 1.0, "n": 1, "ece": pytest.approx(0.1)},
    }
    assert result["clean_ece"] == pytest.approx(0.4)
    assert result["errors"] == 1
    assert len(rows) == 6 and {r["true_language"] for r in rows} == {"da", "sv", "no", "is"}
    assert rows[5]["error"] == "too short" and rows[5]["condition"] == "telephone"

    summary = PipelineSummary(workdir=Workdir(tmp_path), holdout=result)
    text = format_summary(summary)
    assert "clean 50.0% (n=2), degraded 66.7% (n=3: noisy 50.0%, telephone 100.0%)" in text


def test_score_holdout_without_degraded_files(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    result, _ = score_holdout([_line(path, "da")], {str(path.resolve()): ("da", "clean")})
    assert result["degraded_accuracy"] is None and result["degraded_n"] == 0
    assert result["by_condition"] == {}


def test_a_no_speech_answer_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    line = json.dumps({"path": str(path), "language": None, "reason": "no_speech"})
    result, _ = score_holdout([line], {str(path.resolve()): ("da", "clean")})
    assert result["clean_accuracy"] == 0.0 and result["clean_n"] == 1 and result["errors"] == 0


def test_summary_has_a_per_stage_time_table_with_the_total() -> None:
    from pipeline.run import format_stage_times

    lines = format_stage_times(
        {"corpus": "ran", "validate": "skipped (up to date)", "lidnet": "ran"},
        {"corpus": 65.3, "validate": 0.01, "lidnet": 533.2},
    )
    assert lines[1].split() == ["corpus", "ran", "1:05.3"]
    assert lines[2].split()[-1] == "0:00.0"
    assert lines[-1].split() == ["total", "9:58.5"]
