"""FLEURS-R adapter on a fixture in the hub layout (data/<config>/<split>.tsv + audio tars)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from corpus.ingest.common import IngestError, subsample
from corpus.ingest.fleurs_r import ingest_fleurs_r
from corpus.ingest.hub import resolve_dataset
from corpus.manifest import check_manifest


def _make_fleurs(root: Path, kit: Any) -> None:
    genders = ["MALE", "FEMALE", "OTHER"]
    for config in ("da_dk", "nb_no"):
        base = root / "data" / config
        (base / "audio").mkdir(parents=True)
        for split, n in (("train", 5), ("dev", 2)):
            lines, members = [], []
            for i in range(n):
                fname = f"{config[:2]}{split}{i}.wav"
                lines.append(
                    "\t".join(
                        [
                            str(1000 + i),
                            fname,
                            f"Sætning {i}.",
                            f"sætning {i}",
                            "p h o",
                            "8000",
                            genders[i % 3],
                        ]
                    )
                )
                members.append((f"{split}/{fname}", kit.as_bytes(seed=i + len(config))))
            if split == "train":
                lines.append(
                    "\t".join(["2000", "gone.wav", "Mangler.", "mangler", "", "1", "MALE"])
                )
                lines.append("only\tthree\tfields")
                members.append((f"{split}/broken.wav", b"RIFF not really a wav"))
                lines.append(
                    "\t".join(["2001", "broken.wav", "Ødelagt.", "ødelagt", "", "1", "FEMALE"])
                )
            (base / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
            with tarfile.open(base / "audio" / f"{split}.tar.gz", "w:gz") as tf:
                for name, data in members:
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))


def test_fleurs_r_local_layout(tmp_path: Path, audio_kit: Any) -> None:
    src = tmp_path / "fleurs-r"
    _make_fleurs(src, audio_kit)
    store = tmp_path / "store"
    result = ingest_fleurs_r(
        src, store_dir=store, configs=("da_dk", "nb_no"), splits=("train", "dev")
    )
    assert result.n_read == 2 * (5 + 3 + 2)
    assert result.n_written == 2 * 7
    assert result.n_read == result.n_written + len(result.rejects)
    codes = sorted(r.code for r in result.rejects)
    assert codes == sorted(["missing_file", "bad_row", "not_audio"] * 2)
    names = " ".join(r.name for r in result.rejects)
    assert "gone.wav" in names and "broken.wav" in names and "line 7" in names
    rows = result.rows
    assert check_manifest(rows) == []
    assert set(rows["language"]) == {"da", "no"}
    assert set(rows.loc[rows.language == "no", "source_language"]) == {"nb_no"}
    assert set(rows["split"]) == {"train", "dev"}
    assert rows["speaker_id"].isna().all()
    assert set(rows["gender"].dropna()) == {"male", "female"} and rows["gender"].isna().sum() > 0
    assert rows["text"].str.startswith("Sætning").all()
    for p in rows["path"]:
        assert Path(p).is_relative_to(store.resolve()) and Path(p).exists()


def test_fleurs_r_limit_is_a_seeded_random_subset(tmp_path: Path, audio_kit: Any) -> None:
    src = tmp_path / "fleurs-r"
    _make_fleurs(src, audio_kit)
    kw: dict[str, Any] = dict(
        store_dir=tmp_path / "s", configs=("da_dk",), splits=("train",), limit=3
    )
    a = ingest_fleurs_r(src, seed=5, **kw)
    b = ingest_fleurs_r(src, seed=5, **kw)
    assert a.n_read == 3 and a.rows["utterance_id"].tolist() == b.rows["utterance_id"].tolist()
    picks = {tuple(subsample(list(range(20)), 5, s)) for s in range(6)}
    assert len(picks) >= 3  # the seed changes the subset
    assert (0, 1, 2, 3, 4) not in picks  # and it is not the first N


def test_fleurs_r_missing_pieces_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "data" / "da_dk").mkdir(parents=True)
    with pytest.raises(IngestError, match="dev.tsv not found"):
        ingest_fleurs_r(tmp_path, store_dir=tmp_path / "s", configs=("da_dk",), splits=("dev",))
    with pytest.raises(IngestError, match="unknown split"):
        ingest_fleurs_r(tmp_path, store_dir=tmp_path / "s", splits=("validation",))


def test_hub_id_offline_without_cache_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(IngestError, match="not in the local Hugging Face cache"):
        resolve_dataset("google/fleurs-r", allow_patterns=["data/da_dk/*.tsv"], what="FLEURS-R")
    with pytest.raises(IngestError, match="does not exist"):
        resolve_dataset(str(tmp_path / "no" / "such" / "dir"), allow_patterns=[], what="x")
