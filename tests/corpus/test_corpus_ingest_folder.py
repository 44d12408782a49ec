"""Folder + labels adapter: mapping, splits, and bad input reported by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from corpus.ingest.common import IngestError, write_report
from corpus.ingest.folder import ingest_folder
from corpus.manifest import check_manifest
from corpus.splits import check_independent
from nordlid.audio import pcm_sha256


def _layout(root: Path, kit: Any) -> tuple[Path, Path]:
    audio = root / "audio"
    rows = []
    for i in range(12):
        spk = f"spk{i % 6}"
        rel = f"{spk}/utt{i}.wav"
        kit.write(audio / rel, seed=i)
        lang = ["da", "nn-NO", "sv_SE", "is", "fo", "nb"][i % 6]
        rows.append({"path": rel, "language": lang, "speaker_id": spk, "gender": "F", "split": ""})
    rows[0]["split"] = "validation"  # given split: spk0 keeps dev for all its rows
    (audio / "notes").mkdir()
    (audio / "notes" / "readme.wav").write_text("this is not audio")
    kit.write(audio / "x" / "empty.wav", seconds=0.0)
    kit.write(audio / "ok" / "stereo.flac", seed=99)
    rows += [
        {"path": "notes/readme.wav", "language": "da", "speaker_id": "z1"},
        {"path": "missing/file.wav", "language": "sv", "speaker_id": "z2"},
        {"path": "spk1/utt1.wav", "language": "de", "speaker_id": "z3"},  # unknown language
        {"path": "ok/stereo.flac", "language": "", "speaker_id": "z4"},  # empty language
        {"path": "x/empty.wav", "language": "is", "speaker_id": "z5"},
        {"path": "spk2/utt2.wav", "language": "sv", "speaker_id": "spk2"},  # duplicate path
        {"path": "../outside.wav", "language": "sv"},
        {"path": "ok/stereo.flac", "language": "sv", "split": "holdout"},  # bad split
    ]
    labels = root / "labels.tsv"
    pd.DataFrame(rows).fillna("").to_csv(labels, sep="\t", index=False)
    return audio, labels


def test_folder_ingest_reports_every_bad_row(tmp_path: Path, audio_kit: Any) -> None:
    audio, labels = _layout(tmp_path, audio_kit)
    result = ingest_folder(audio, labels, seed=0)
    assert result.n_read == 20
    assert result.n_read == result.n_written + len(result.rejects)
    assert result.n_written == 12
    rows = result.rows
    assert check_manifest(rows) == []
    reasons = {r.name: (r.code, r.reason) for r in result.rejects}
    assert len(reasons) == 8
    by_path = {n.split("(")[-1].rstrip(")"): v for n, v in reasons.items()}
    assert by_path["notes/readme.wav"][0] == "not_audio"
    assert by_path["missing/file.wav"][0] == "missing_file"
    assert by_path["x/empty.wav"][0] in ("empty", "no_samples")
    assert "'de'" in reasons["labels.tsv row 16 (spk1/utt1.wav)"][1]
    assert "language" in reasons["labels.tsv row 17 (ok/stereo.flac)"][1]
    assert reasons["labels.tsv row 19 (spk2/utt2.wav)"][0] == "duplicate"
    assert by_path["../outside.wav"][0] == "outside_audio_dir"
    assert reasons["labels.tsv row 21 (ok/stereo.flac)"][0] == "bad_split"
    # language mapping keeps the source code
    mapping = dict(zip(rows["source_language"], rows["language"], strict=False))
    assert mapping == {"da": "da", "nn-NO": "no", "sv_SE": "sv", "is": "is", "fo": "fo", "nb": "no"}
    # speaker-independent splits; the given split wins for its speaker
    assert check_independent(rows, ["speaker_id"]) == []
    assert set(rows.loc[rows.speaker_id == "spk0", "split"]) == {"dev"}
    assert (rows["gender"] == "female").all()
    first = rows.iloc[0]
    assert first["audio_sha256"] == pcm_sha256(first["path"])
    # report lists every reject by name
    report = pd.read_csv(write_report(result, tmp_path / "reports"))
    assert len(report) == 8 and set(report["name"]) == set(reasons)


def test_folder_csv_without_split_column_gets_splits(tmp_path: Path, audio_kit: Any) -> None:
    rows = []
    for i in range(30):
        rel = f"a{i}.wav"
        audio_kit.write(tmp_path / "audio" / rel, seed=i, seconds=0.2)
        rows.append({"path": rel, "language": "sv", "speaker_id": f"s{i % 10}"})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    result = ingest_folder(tmp_path / "audio", tmp_path / "labels.csv", seed=2)
    assert result.n_written == 30 and not result.rejects
    assert set(result.rows["split"]) == {"train", "dev", "test"}
    assert check_independent(result.rows, ["speaker_id"]) == []


def test_folder_missing_column_is_a_clear_error(tmp_path: Path, audio_kit: Any) -> None:
    audio_kit.write(tmp_path / "audio" / "a.wav")
    (tmp_path / "labels.tsv").write_text("path\tlang\na.wav\tda\n")
    with pytest.raises(
        IngestError, match=r"labels.tsv: missing required column\(s\) \['language'\]"
    ):
        ingest_folder(tmp_path / "audio", tmp_path / "labels.tsv")
    with pytest.raises(IngestError, match="audio directory not found"):
        ingest_folder(tmp_path / "nope", tmp_path / "labels.tsv")
