"""Unit tests: config loading, fingerprints, duplicate grouping, speaker leakage, balance."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soxr

from corpus.manifest import COLUMNS, ManifestError
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir
from validation import reasons
from validation.balance import summarize_balance
from validation.config import DuplicatesConfig, ValidationConfig, load_config
from validation.duplicates import find_duplicates
from validation.fingerprint import fingerprint, near_duplicate_pairs
from validation.gates import run_validation
from validation.leakage import find_speaker_leakage

# --- config ----------------------------------------------------------------------------


def test_config_loads_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "v.yaml"
    y.write_text(
        "expectations:\n  duration_max_s: 30\n  allowed_sample_rates: [16000]\n"
        "quality: {min_speech_ratio: 0.4}\nactions: {leakage_speaker: flag}\n"
    )
    cfg = load_config(y)
    assert cfg.expectations.duration_max_s == 30
    assert cfg.expectations.allowed_sample_rates == [16000]
    assert cfg.quality.min_speech_ratio == 0.4
    assert cfg.action(reasons.LEAKAGE_SPEAKER) == "flag"
    assert cfg.action(reasons.DUPLICATE_EXACT) == "quarantine"
    assert cfg.action(reasons.LOW_STOI) == "flag"  # SQUIM gates only flag by default
    j = tmp_path / "v.json"
    j.write_text(json.dumps({"default_action": "flag", "actions": {"audio_*": "quarantine"}}))
    cfg = load_config(j)
    assert cfg.action(reasons.MOSTLY_SILENT) == "flag"
    assert cfg.action("audio_truncated") == "quarantine"
    assert load_config(None) == ValidationConfig()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("quality: {min_speech_ratoi: 0.4}\n", "quality.min_speech_ratoi"),
        ("expectations: {duration_min_s: 70}\n", "duration_min_s must be below"),
        ("actions: {no_such_rule: flag}\n", "no_such_rule"),
        ("actions: {mostly_silent: drop}\n", "actions.mostly_silent"),
        ("- a list\n", "mapping"),
        ("quality: [unclosed\n", "cannot parse"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match="bad.yaml") as err:
        load_config(p)
    assert needle in str(err.value)


def test_config_missing_or_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "c.toml").write_text("x = 1")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.json"):
        load_config(tmp_path / "c.toml")


# --- fingerprints ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_sentences(
    espeak: Callable[..., tuple[np.ndarray, int]],
) -> tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]:
    return (
        espeak("Toget til Aarhus kører klokken otte i morgen tidlig."),
        espeak("Der er ingen mælk tilbage i køleskabet derhjemme."),
    )


def test_fingerprint_survives_resampling_gain_and_padding(
    two_sentences: tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]],
) -> None:
    (wave, sr), (other, other_sr) = two_sentences
    base = fingerprint(soxr.resample(wave, sr, 16_000))
    copies = {
        "44.1 kHz": soxr.resample(soxr.resample(wave, sr, 44_100), 44_100, 16_000),
        "-12 dB": soxr.resample(wave * 0.25, sr, 16_000),
        "8 kHz": soxr.resample(soxr.resample(wave, sr, 8_000), 8_000, 16_000),
        "padded": np.concatenate([np.zeros(8_000), soxr.resample(wave, sr, 16_000)]),
    }
    threshold = DuplicatesConfig().near_threshold
    for name, copy in copies.items():
        fp = fingerprint(np.asarray(copy, dtype=np.float32))
        assert float(fp.vector @ base.vector) >= threshold, name
        assert abs(fp.speech_s - base.speech_s) / base.speech_s < 0.03, name
    different = fingerprint(soxr.resample(other, other_sr, 16_000))
    assert float(different.vector @ base.vector) < 0.8
    silent = fingerprint(np.zeros(16_000, dtype=np.float32))
    assert silent.is_silent and silent.speech_s == 0.0


def test_near_duplicate_pairs_respect_duration_window() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((5, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    vectors = np.stack([v[0], v[1], v[0], v[0], np.zeros(8, dtype=np.float32)])
    speech = np.array([2.0, 2.0, 2.02, 3.0, 2.0])
    pairs = near_duplicate_pairs(vectors, speech, threshold=0.95, duration_tolerance=0.03)
    assert [(i, j) for i, j, _ in pairs] == [(0, 2)]  # row 3 too long, row 4 silent


# --- duplicates ----------------------------------------------------------------------------


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"speaker_id": None, "condition": "clean", "source": "folder", "language": "da"}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_duplicate_keeper_is_in_the_earliest_split() -> None:
    m = _frame(
        [
            {"utterance_id": "t1", "split": "test", "audio_sha256": "A"},
            {"utterance_id": "r1", "split": "train", "audio_sha256": "A"},
            {"utterance_id": "r2", "split": "train", "audio_sha256": "A"},
            {"utterance_id": "d1", "split": "dev", "audio_sha256": "B"},
            {"utterance_id": "d2", "split": "dev", "audio_sha256": "C", "condition": "noisy"},
            {"utterance_id": "d3", "split": "dev", "audio_sha256": "D"},
        ]
    )
    v = np.zeros((6, 4), dtype=np.float32)
    v[3] = v[4] = [1, 0, 0, 0]  # d1 ~ d2: an augmentation (other condition), same split
    v[5] = [0, 1, 0, 0]
    findings, summary = find_duplicates(
        m, v, np.full(6, 2.0), np.ones(6, dtype=bool), DuplicatesConfig()
    )
    got = {(m.at[f.row, "utterance_id"], f.code, f.related_id) for f in findings.items}
    assert got == {
        ("t1", reasons.LEAKAGE_DUPLICATE_EXACT, "r1"),
        ("r2", reasons.DUPLICATE_EXACT, "r1"),
    }
    assert summary.augmented_copies == 1 and summary.exact_pairs == 2
    findings, _ = find_duplicates(
        m,
        v,
        np.full(6, 2.0),
        np.ones(6, dtype=bool),
        DuplicatesConfig(augmented_copies_allowed=False),
    )
    assert ("d2", reasons.DUPLICATE_NEAR) in {
        (m.at[f.row, "utterance_id"], f.code) for f in findings.items
    }


def test_duplicate_keeper_prefers_a_row_without_other_problems() -> None:
    m = _frame(
        [
            {"utterance_id": "a", "split": "train", "audio_sha256": "X"},
            {"utterance_id": "b", "split": "train", "audio_sha256": "X"},
        ]
    )
    v = np.zeros((2, 4), dtype=np.float32)
    findings, _ = find_duplicates(
        m, v, np.zeros(2), np.zeros(2, dtype=bool), DuplicatesConfig(), prefer_not={0}
    )
    assert [(f.row, f.related_id) for f in findings.items] == [(0, "b")]


# --- speaker leakage -----------------------------------------------------------------------


def test_speaker_leakage_and_sources_without_ids() -> None:
    m = _frame(
        [
            {"utterance_id": "1", "split": "train", "speaker_id": "s1", "source": "folder"},
            {"utterance_id": "2", "split": "train", "speaker_id": "s1", "source": "folder"},
            {"utterance_id": "3", "split": "test", "speaker_id": "s1", "source": "folder"},
            {"utterance_id": "4", "split": "test", "speaker_id": "s1", "source": "fleurs-r"},
            {"utterance_id": "5", "split": "dev", "speaker_id": None, "source": "fleurs-r"},
            {"utterance_id": "6", "split": "dev", "speaker_id": None, "source": "ravnursson"},
        ]
    )
    findings, summary = find_speaker_leakage(m)
    assert [(f.row, f.code) for f in findings.items] == [(2, reasons.LEAKAGE_SPEAKER)]
    assert "2 in train, 1 in test" in findings.items[0].detail
    notes = summary.unchecked_notes()
    assert any("'ravnursson' has no speaker ids" in n for n in notes)
    assert any("'fleurs-r': 1 of 2" in n for n in notes)


# --- balance -------------------------------------------------------------------------------


def test_balance_flags_single_source_language_and_imbalance() -> None:
    rows = (
        [{"language": "da", "source": "fleurs-r", "split": "train"}] * 6
        + [{"language": "da", "source": "common-voice-17", "split": "train"}] * 2
        + [{"language": "fo", "source": "ravnursson", "split": "train"}] * 2
        + [{"language": "da", "source": "fleurs-r", "split": "test"}] * 2
    )
    kept = pd.DataFrame(rows).assign(gender=None, duration_s=2.0)
    b = summarize_balance(kept, ["da", "fo", "sv"], ["train", "dev", "test"], 3.0)
    assert b.imbalance["train"] == pytest.approx(4.0)
    assert b.missing_languages == ["sv"]
    assert any("'fo' comes only from source 'ravnursson'" in c for c in b.confounds)
    assert any("source 'ravnursson' provides only" in c for c in b.confounds)
    assert any("imbalance in train" in w for w in b.warnings)
    assert any("'test' has no utterances for fo" in w for w in b.warnings)
    assert int(b.counts["utterances"].sum()) == len(kept)


# --- run_validation input errors -----------------------------------------------------------


def test_run_validation_rejects_missing_columns_and_empty_manifests(workdir: Workdir) -> None:
    empty = pd.DataFrame({c: [] for c in COLUMNS})
    with pytest.raises(ManifestError, match="no rows"):
        run_validation(empty, workdir)
    with pytest.raises(ManifestError, match=r"missing columns \['split'\]"):
        run_validation(empty.drop(columns=["split"]), workdir)
    assert not workdir.validated_manifest.exists()


def test_example_config_matches_the_defaults() -> None:
    example = Path(__file__).resolve().parents[2] / "validation" / "validation.example.yaml"
    assert load_config(example) == ValidationConfig()


def test_readme_lists_every_reason_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "validation" / "README.md").read_text()
    missing = [code for code in reasons.DESCRIPTIONS if f"`{code}`" not in readme]
    assert not missing
