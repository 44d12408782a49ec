"""Common Voice 17 adapter: the release layout (TSV + clips/*.mp3) and the hub layout."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from corpus.ingest.common import IngestError
from corpus.ingest.common_voice import ingest_common_voice
from corpus.manifest import check_manifest
from corpus.splits import check_independent

CV_COLUMNS = [
    "client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes",
    "down_votes", "age", "gender", "accents", "variant", "locale", "segment",
]  # fmt: skip


def _tsv_rows(locale: str, split: str, n: int) -> list[dict[str, str]]:
    genders = ["male_masculine", "female_feminine", ""]
    return [
        {
            "client_id": f"{locale}-{split}-spk{i % 2}",
            "path": f"common_voice_{locale}_{split}{i}.mp3",
            "sentence_id": f"s{i}",
            "sentence": f'Hun sagde "hej" {i}',
            "sentence_domain": "",
            "up_votes": "2",
            "down_votes": "0",
            "age": "",
            "gender": genders[i % 3],
            "accents": "",
            "variant": "",
            "locale": locale,
            "segment": "",
        }
        for i in range(n)
    ]


def _write_tsv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=CV_COLUMNS).to_csv(path, sep="\t", index=False, quoting=3)


def test_release_layout(tmp_path: Path, audio_kit: Any) -> None:
    root = tmp_path / "cv-corpus-17.0-2024-03-15"
    for locale in ("da", "nn-NO"):
        for split, n in (("train", 4), ("test", 2)):
            rows = _tsv_rows(locale, split, n)
            for i, r in enumerate(rows):
                audio_kit.write(root / locale / "clips" / r["path"], seed=i, format="MP3")
            if split == "train":
                rows.append(dict(rows[0], path="missing.mp3"))
                rows.append(dict(rows[0], path="", sentence="no path"))
            _write_tsv(root / locale / f"{split}.tsv", rows)
    result = ingest_common_voice(
        root, store_dir=tmp_path / "s", locales=("da", "nn-NO"), splits=("train", "test")
    )
    assert result.n_read == 2 * (4 + 2 + 2)
    assert result.n_written == 12
    assert result.n_read == result.n_written + len(result.rejects)
    assert sorted(r.code for r in result.rejects) == [
        "missing_file",
        "missing_file",
        "missing_value",
        "missing_value",
    ]
    rows = result.rows
    assert check_manifest(rows) == []
    assert set(rows["language"]) == {"da", "no"}
    assert set(rows.loc[rows.language == "no", "source_language"]) == {"nn-NO"}
    assert set(rows["split"]) == {"train", "test"}
    assert check_independent(rows, ["speaker_id"]) == []
    assert set(rows["gender"].dropna()) == {"male", "female"} and rows["gender"].isna().any()
    assert rows["text"].str.contains('"hej"').all()
    # the clips are read in place
    assert all(Path(p).is_relative_to(root.resolve()) for p in rows["path"])


def test_hub_layout_with_tar_shards(tmp_path: Path, audio_kit: Any) -> None:
    root = tmp_path / "common_voice_17_0"
    locale, split = "sv-SE", "dev"
    rows = _tsv_rows(locale, split, 3)
    _write_tsv(
        root / "transcript" / locale / f"{split}.tsv", rows + [dict(rows[0], path="gone.mp3")]
    )
    shard = root / "audio" / locale / split / f"{locale}_{split}_0.tar"
    shard.parent.mkdir(parents=True)
    with tarfile.open(shard, "w") as tf:
        for i, r in enumerate(rows):
            data = audio_kit.as_bytes("MP3", seed=i)
            info = tarfile.TarInfo(f"{locale}_{split}_0/{r['path']}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    result = ingest_common_voice(
        root, store_dir=tmp_path / "store", locales=(locale,), splits=(split,)
    )
    assert (result.n_read, result.n_written) == (4, 3)
    assert [r.code for r in result.rejects] == ["missing_file"]
    assert set(result.rows["language"]) == {"sv"} and set(result.rows["split"]) == {"dev"}
    for p in result.rows["path"]:
        assert Path(p).is_relative_to((tmp_path / "store").resolve())


def test_validated_tsv_gets_speaker_independent_splits(tmp_path: Path, audio_kit: Any) -> None:
    root = tmp_path / "cv" / "is"
    rows = []
    for i in range(24):
        r = _tsv_rows("is", "validated", 24)[i]
        r["client_id"] = f"spk{i % 8}"
        audio_kit.write(root / "clips" / r["path"], seed=i, seconds=0.2)
        rows.append(r)
    _write_tsv(root / "validated.tsv", rows)
    result = ingest_common_voice(
        root, store_dir=tmp_path / "s", locales=("is",), splits=("validated",)
    )
    assert result.n_written == 24
    assert set(result.rows["split"]) == {"train", "dev", "test"}
    assert check_independent(result.rows, ["speaker_id"]) == []


def test_tsv_without_path_column_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "da" / "clips").mkdir(parents=True)
    (tmp_path / "da" / "train.tsv").write_text("client_id\tsentence\nx\thej\n")
    with pytest.raises(IngestError, match=r"train.tsv: missing column\(s\) \['path'\]"):
        ingest_common_voice(tmp_path, store_dir=tmp_path / "s", locales=("da",), splits=("train",))
