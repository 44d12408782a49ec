"""Manifest merging (workdir manifest shared by synth and the ingest adapters) and code maps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from corpus.ingest.common import map_gender, map_language, map_split
from corpus.manifest import merge_manifest, read_manifest


def _rows(source: str, ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "utterance_id": ids,
            "path": [f"/a/{i}.wav" for i in ids],
            "language": "da",
            "source": source,
            "source_language": "da",
            "speaker_id": None,
            "gender": None,
            "split": "train",
            "duration_s": 1.0,
            "sample_rate": 16000,
            "num_channels": 1,
            "file_size": 100,
            "audio_sha256": [f"h{i}" for i in ids],
            "text": None,
            "condition": "clean",
            "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
        }
    )


def test_merge_replaces_by_id_and_by_source(tmp_path: Path) -> None:
    path = tmp_path / "data" / "manifest.parquet"
    merge_manifest(path, _rows("synthetic", ["s1", "s2"]))
    merge_manifest(path, _rows("folder", ["f1", "f2"]))
    merged = merge_manifest(path, _rows("folder", ["f2", "f3"]))
    assert sorted(merged["utterance_id"]) == ["f1", "f2", "f3", "s1", "s2"]
    again = merge_manifest(path, _rows("synthetic", ["s9"]), replace_sources=("synthetic",))
    assert sorted(again["utterance_id"]) == ["f1", "f2", "f3", "s9"]
    assert sorted(read_manifest(path)["utterance_id"]) == ["f1", "f2", "f3", "s9"]


@pytest.mark.parametrize(
    ("code", "lang"),
    [("da", "da"), ("da_dk", "da"), ("nb_no", "no"), ("nn-NO", "no"), ("NB", "no"), ("sv-SE", "sv"),
     ("is_is", "is"), ("fo", "fo"), ("fao", "fo"), ("de", None), ("", None), (None, None)],
)  # fmt: skip
def test_language_codes(code: object, lang: str | None) -> None:
    assert map_language(code) == lang


def test_split_and_gender_codes() -> None:
    splits = [map_split(s) for s in ("validation", "TRAIN", "dev", "holdout", "")]
    assert splits == ["dev", "train", "dev", None, None]
    raw = ("male_masculine", "FEMALE", "female_feminine", "OTHER", "", None)
    genders = [map_gender(g) for g in raw]
    assert genders == ["male", "female", "female", None, None, None]
