"""Ravnursson adapter through `datasets`: Parquet shards (hub layout) and save_to_disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corpus.ingest.common import IngestError
from corpus.ingest.ravnursson import ingest_ravnursson
from corpus.manifest import check_manifest
from corpus.splits import check_independent


def _dataset(kit: Any, tmp_path: Path) -> Any:
    from datasets import Audio, Dataset, DatasetDict

    def split(name: str, n: int, spk0: int, bad: bool = False) -> Dataset:
        recs: dict[str, list[Any]] = {
            k: []
            for k in (
                "audio_id",
                "audio",
                "speaker_id",
                "gender",
                "age",
                "duration",
                "normalized_text",
            )
        }
        for i in range(n):
            path = kit.write(
                tmp_path / "src" / name / f"{name}{i}.flac", seed=spk0 + i, seconds=0.3
            )
            data = path.read_bytes() if not (bad and i == n - 1) else b"fLaC but broken"
            recs["audio_id"].append(f"KAT_{name}_{i:04d}")
            recs["audio"].append({"bytes": data, "path": path.name})
            recs["speaker_id"].append(f"KAT{spk0 + i % 3}")
            recs["gender"].append("female" if i % 2 else "male")
            recs["age"].append("15-35")
            recs["duration"].append(0.3)
            recs["normalized_text"].append(f"hetta er setningur {i}")
        return (
            Dataset.from_dict(recs)
            .cast_column("audio", Audio(decode=False))
            .cast_column("audio", Audio())
        )

    return DatasetDict(
        {
            "train": split("train", 10, 0, bad=True),
            "validation": split("validation", 3, 100),
            "test": split("test", 3, 200),
        }
    )


def test_parquet_shards_in_hub_layout(tmp_path: Path, audio_kit: Any) -> None:
    dd = _dataset(audio_kit, tmp_path)
    repo = tmp_path / "ravnursson_asr"
    for name, ds in dd.items():
        ds.to_parquet(str(repo / "ravnursson_asr" / f"{name}-00000-of-00001.parquet"))
    result = ingest_ravnursson(repo, store_dir=tmp_path / "store")
    assert result.n_read == 16
    assert result.n_read == result.n_written + len(result.rejects)
    assert [(r.code, r.name) for r in result.rejects] == [
        ("not_audio", "train[9] (KAT_train_0009)")
    ]
    rows = result.rows
    assert check_manifest(rows) == []
    assert set(rows["language"]) == {"fo"} and set(rows["source_language"]) == {"fo"}
    assert rows.groupby("split").size().to_dict() == {"dev": 3, "test": 3, "train": 9}
    assert check_independent(rows, ["speaker_id"]) == []
    assert set(rows["gender"]) == {"male", "female"}
    for p in rows["path"]:
        assert Path(p).suffix == ".flac" and Path(p).is_relative_to((tmp_path / "store").resolve())


def test_save_to_disk_and_seeded_subsample(tmp_path: Path, audio_kit: Any) -> None:
    dd = _dataset(audio_kit, tmp_path)
    saved = tmp_path / "saved"
    dd.save_to_disk(str(saved))
    kw: dict[str, Any] = dict(store_dir=tmp_path / "store", splits=("train",), limit=4)
    a = ingest_ravnursson(saved, seed=1, **kw)
    b = ingest_ravnursson(saved, seed=1, **kw)
    c = ingest_ravnursson(saved, seed=2, **kw)
    assert a.n_read == 4
    ids = lambda r: sorted(r.rows["utterance_id"].tolist() + [x.name for x in r.rejects])  # noqa: E731
    assert ids(a) == ids(b)
    assert ids(a) != ids(c)


def test_missing_split_is_reported(tmp_path: Path, audio_kit: Any) -> None:
    dd = _dataset(audio_kit, tmp_path)
    saved = tmp_path / "saved"
    dd.save_to_disk(str(saved))
    with pytest.raises(IngestError, match=r"split\(s\) \['dev'\]"):
        ingest_ravnursson(saved, store_dir=tmp_path / "s", splits=("dev",))
