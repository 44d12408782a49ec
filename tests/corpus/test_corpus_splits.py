"""Split assignment: speaker- and sentence-independent, balanced, seeded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from corpus import splits, synth, texts


def test_split_counts_sum_and_cover_every_split() -> None:
    for n in range(3, 60):
        counts = splits.split_counts(n)
        assert sum(counts) == n
        assert min(counts) >= 1
    assert splits.split_counts(100) == [70, 15, 15]
    assert splits.split_counts(1) == [1, 0, 0]


def test_assign_units_is_seeded_balanced_and_stratified() -> None:
    units = {f"s{i}": (("da" if i % 2 else "sv"), 1.0) for i in range(40)}
    a = splits.assign_units(units, seed=3)
    assert a == splits.assign_units(units, seed=3)
    assert a != splits.assign_units(units, seed=4)
    for lang in ("da", "sv"):
        got = pd.Series([a[u] for u, (s, _) in units.items() if s == lang]).value_counts()
        assert got["train"] == 14 and got["dev"] == 3 and got["test"] == 3


def test_assign_units_balances_by_weight() -> None:
    units = {"big": ("x", 70.0)} | {f"s{i}": ("x", 1.0) for i in range(30)}
    a = splits.assign_units(units, seed=0)
    weight = {s: 0.0 for s in splits.SPLIT_NAMES}
    for u, sp in a.items():
        weight[sp] += units[u][1]
    assert weight["train"] == pytest.approx(70, abs=1)
    assert weight["dev"] == pytest.approx(15, abs=1)


def test_assign_speaker_splits_keeps_each_speaker_in_one_split() -> None:
    rows: list[dict[str, str | None]] = []
    for spk in range(12):
        for _ in range(1 + spk % 4):
            rows.append({"language": "is", "speaker_id": f"p{spk}", "gender": "female"})
    rows.append({"language": "da", "speaker_id": "p3", "gender": "female"})  # bilingual speaker
    rows += [{"language": "da", "speaker_id": None, "gender": None} for _ in range(5)]
    frame = pd.DataFrame(rows)
    frame["split"] = splits.assign_speaker_splits(frame, seed=1)
    assert frame["split"].notna().all()
    assert splits.check_independent(frame, ["speaker_id"]) == []
    assert set(frame.loc[frame.language == "is", "split"]) == {"train", "dev", "test"}


def test_check_independent_reports_leaks() -> None:
    frame = pd.DataFrame({"speaker_id": ["a", "a", "b"], "split": ["train", "dev", "dev"]})
    problems = splits.check_independent(frame, ["speaker_id"])
    assert len(problems) == 1 and "speaker_id" in problems[0] and "'a'" in problems[0]


@pytest.mark.parametrize("seed", [0, 11])
def test_synth_plan_is_speaker_and_sentence_independent(seed: int, tmp_path: Path) -> None:
    # The plan (no audio rendered) of a large corpus: 300 utterances per language.
    rows = []
    for lang in texts.SYNTH_LANGUAGES:
        for p in synth._plan_language(tmp_path, lang, 300, seed, ("clean",), 0.5):
            rows.append(p.row)
    frame = pd.DataFrame(rows)
    assert splits.check_independent(frame, ["speaker_id", "text"]) == []
    share = frame["split"].value_counts(normalize=True)
    assert share["train"] == pytest.approx(0.70, abs=0.01)
    assert share["dev"] == pytest.approx(0.15, abs=0.01)
    for _lang, part in frame.groupby("language"):
        assert set(part["split"]) == {"train", "dev", "test"}
        # several speakers of both genders in every split
        per_split = part.groupby("split")["gender"].nunique()
        assert (per_split == 2).all()
        assert part.groupby("split")["speaker_id"].nunique().min() >= 2


def test_synth_corpus_fixture_is_split_independent(synth_corpus: tuple[Path, pd.DataFrame]) -> None:
    _, manifest = synth_corpus
    assert splits.check_independent(manifest, ["speaker_id", "text"]) == []
    assert set(manifest["split"]) == {"train", "dev", "test"}
