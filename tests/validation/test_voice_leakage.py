"""Voice leakage from audio: a planted leak whose metadata names another speaker is found."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from nordlid.audio import resample
from validation import reasons
from validation.config import ValidationConfig
from validation.voice_leakage import check_voice_leakage, find_voice_leakage

try:  # the package is not imported (its module needs webrtcvad): only its weights are read
    importlib.metadata.distribution("resemblyzer")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the voice encoder's weights ship in resemblyzer", allow_module_level=True)


def _speech(espeak: Callable[..., tuple[np.ndarray, int]], text: str, voice: str) -> np.ndarray:
    wave, sr = espeak(text, voice)
    return resample(wave, sr)


@pytest.fixture(scope="module")
def planted(
    tmp_path_factory: pytest.TempPathFactory, espeak: Callable[..., tuple[np.ndarray, int]]
) -> tuple[pd.DataFrame, Path]:
    root = tmp_path_factory.mktemp("voices")
    anna = _speech(espeak, "Jag heter Anna och jag bor i Stockholm nära vattnet.", "sv")
    peter = _speech(espeak, "Hej, jeg hedder Peter og jeg bor i København ved havnen.", "da+m3")
    other = _speech(espeak, "Det regnar ofta på hösten men vintern är kall och mörk.", "sv+f4")
    rng = np.random.default_rng(0)
    # Anna again: a later cut of her recording with a little noise, filed under another name
    leak = anna[4800:] + 0.003 * rng.standard_normal(len(anna) - 4800).astype(np.float32)
    rows = [
        ("u-anna", "train", "anna", anna),
        ("u-peter", "train", "peter", peter),
        ("u-leak", "test", "someone-else", leak),
        ("u-other", "test", "f4", other),
        ("u-missing", "test", "ghost", None),
    ]
    records = []
    for uid, split, speaker, wave in rows:
        path = root / f"{uid}.wav"
        if wave is not None:
            sf.write(path, wave, 16_000)
        records.append(
            {"utterance_id": uid, "split": split, "speaker_id": speaker, "path": path.name}
        )
    return pd.DataFrame(records), root


def test_planted_voice_leak_is_found_despite_its_metadata(
    planted: tuple[pd.DataFrame, Path],
) -> None:
    manifest, root = planted
    threshold = ValidationConfig().voice_leakage.threshold
    findings, summary = check_voice_leakage(manifest, root, threshold, 0.625)
    by_row = findings.by_row()
    assert set(by_row) == {2}  # only the planted row; the other voice and the unreadable not
    (finding,) = by_row[2]
    assert finding.code == reasons.LEAKAGE_VOICE
    assert finding.related_id == "u-anna"
    assert "'someone-else' vs 'anna'" in finding.detail
    assert summary.embedded == 4
    (pair,) = [p for p in summary.pairs if p.earlier == "train"]
    assert (pair.later, pair.compared, pair.matched) == ("test", 2, 1)
    assert summary.lineage["package"] == "resemblyzer==0.1.4"
    assert "1 of 2 utterances" in summary.notes()[0]


def test_voice_leakage_only_looks_back_to_earlier_splits() -> None:
    emb = np.eye(3, dtype=np.float32)[[0, 0, 1]]  # rows 0 and 1: one voice
    manifest = pd.DataFrame(
        {
            "utterance_id": ["a", "b", "c"],
            "split": ["test", "train", "dev"],
            "speaker_id": ["x", "y", "z"],
        }
    )
    findings, summary = find_voice_leakage(manifest, emb, np.ones(3, bool), threshold=0.9)
    assert list(findings.by_row()) == [0]  # the test row, not its train twin
    assert {(p.later, p.earlier): p.matched for p in summary.pairs} == {
        ("dev", "train"): 0,
        ("test", "train"): 1,
        ("test", "dev"): 0,
    }


def test_voice_leak_is_flagged_by_default_and_can_quarantine() -> None:
    assert ValidationConfig().action(reasons.LEAKAGE_VOICE) == "flag"
    strict = ValidationConfig.model_validate({"actions": {"leakage_voice": "quarantine"}})
    assert strict.action(reasons.LEAKAGE_VOICE) == "quarantine"


def test_encoder_matches_resemblyzer_itself(
    speech16k: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same weights, same input, same embedding as Resemblyzer's own VoiceEncoder (imported
    with webrtcvad stubbed: only its silence trimming needs it, and neither side trims)."""
    import sys
    import types

    from validation.voice_encoder import VoiceEncoder, normalize_volume

    monkeypatch.setitem(sys.modules, "webrtcvad", types.ModuleType("webrtcvad"))
    from resemblyzer import VoiceEncoder as Reference

    reference = Reference(device="cpu", verbose=False)
    expected = reference.embed_utterance(normalize_volume(speech16k), rate=0.625)
    got = VoiceEncoder().embed([speech16k])[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
