"""The manifest schema contract of DESIGN.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from corpus.manifest import (
    COLUMNS,
    ManifestError,
    check_manifest,
    read_manifest,
    utterance_id,
    write_manifest,
)


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "utterance_id": utterance_id("synthetic", "da-0001"),
        "path": "/tmp/a.wav",
        "language": "da",
        "source": "synthetic",
        "source_language": "da",
        "speaker_id": "da-m1",
        "gender": "male",
        "split": "train",
        "duration_s": 2.5,
        "sample_rate": 22050,
        "num_channels": 1,
        "file_size": 1234,
        "audio_sha256": "0" * 64,
        "text": "Hej",
        "condition": "clean",
        "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
    }
    row.update(over)
    return row


def test_roundtrip(tmp_path: Path) -> None:
    df = pd.DataFrame([_row(), _row(utterance_id="x", gender=None, speaker_id=None)])
    write_manifest(df, tmp_path / "m.parquet")
    back = read_manifest(tmp_path / "m.parquet")
    assert list(back.columns) == list(COLUMNS)
    assert back["gender"].isna().sum() == 1


def test_utterance_id_is_stable_and_source_scoped() -> None:
    assert utterance_id("synthetic", "1") == utterance_id("synthetic", "1")
    assert utterance_id("synthetic", "1") != utterance_id("folder", "1")


def test_every_problem_is_named() -> None:
    df = pd.DataFrame([_row(language="de", split="val"), _row(gender="other")])
    problems = " ".join(check_manifest(df))
    assert "'de'" in problems and "'val'" in problems and "'other'" in problems
    assert "utterance_id not unique" in problems


def test_write_refuses_invalid(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="language"):
        write_manifest(pd.DataFrame([_row(language="xx")]), tmp_path / "m.parquet")
