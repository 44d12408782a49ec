"""Done-when: bad files injected into a synthetic corpus are each quarantined with the right
reason code, nothing is lost, and the report, quarantine and Data Docs are written."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import soxr

from corpus.manifest import read_manifest
from nordlid.audio import decode, pcm_sha256, to_mono
from nordlid.errors import AudioDecodeError
from nordlid.workdir import Workdir
from validation import reasons
from validation.config import ValidationConfig
from validation.gates import ValidationResult, run_validation


@dataclass
class Injected:
    manifest: pd.DataFrame
    expect: dict[str, set[str]]  # utterance_id -> reason codes it must carry
    related: dict[str, str]  # utterance_id -> id it duplicates
    original_ids: set[str]


def _row(base: pd.Series, uid: str, path: Path, **over: object) -> dict[str, object]:
    row = base.to_dict()
    row.update(utterance_id=uid, path=str(path))
    if path.is_file() and path.suffix in {".wav", ".flac"}:
        try:
            audio = decode(path)
        except AudioDecodeError:  # truncated files: keep the base row's header values
            pass
        else:
            row.update(
                duration_s=audio.duration_s,
                sample_rate=audio.sample_rate,
                audio_sha256=pcm_sha256(path),
            )
    if path.is_file():
        row["file_size"] = path.stat().st_size
    row.update(over)
    return row


def inject(corpus_dir: Path, manifest: pd.DataFrame, out: Path) -> Injected:
    """Copy the corpus to ``out`` and append/alter rows with known defects."""
    shutil.copytree(corpus_dir, out / "audio")
    m = manifest.copy()
    m["path"] = [str(out / "audio" / Path(p).relative_to(corpus_dir)) for p in m["path"]]
    original_ids = set(m["utterance_id"])
    bad = out / "bad"
    bad.mkdir()
    train = m[m["split"] == "train"].reset_index(drop=True)
    tests = m[m["split"] == "test"].reset_index(drop=True)
    src = train.iloc[0]
    src_audio = decode(src["path"])
    speech = to_mono(src_audio.samples)
    sr = src_audio.sample_rate
    rows: list[dict[str, object]] = []
    expect: dict[str, set[str]] = {}
    related: dict[str, str] = {}

    # 1. truncated WAV
    data = Path(src["path"]).read_bytes()
    (bad / "truncated.wav").write_bytes(data[: len(data) // 2])
    rows.append(_row(src, "inj-truncated", bad / "truncated.wav"))
    expect["inj-truncated"] = {"audio_truncated"}
    # 2. a text file named .wav
    (bad / "not_audio.wav").write_text("this is a transcript, not audio\n" * 200)
    rows.append(_row(src, "inj-not-audio", bad / "not_audio.wav"))
    expect["inj-not-audio"] = {"audio_not_audio"}
    # 3. a silent recording (faint hiss, 3 s)
    hiss = (np.random.default_rng(0).standard_normal(3 * 16_000) * 1e-4).astype(np.float32)
    sf.write(bad / "silent.wav", hiss, 16_000, subtype="PCM_16")
    rows.append(_row(src, "inj-silent", bad / "silent.wav"))
    expect["inj-silent"] = {reasons.MOSTLY_SILENT}
    # 4. a 0.3 s clip (the minimum is 0.5 s)
    sf.write(bad / "short.wav", speech[int(0.3 * sr) : int(0.6 * sr)], sr, subtype="PCM_16")
    rows.append(_row(src, "inj-short", bad / "short.wav"))
    expect["inj-short"] = {reasons.DURATION_OUT_OF_RANGE}
    # 5. a 90 s clip
    reps = int(np.ceil(90 * sr / speech.size))
    sf.write(bad / "long.wav", np.tile(speech, reps)[: 90 * sr], sr, subtype="PCM_16")
    rows.append(_row(src, "inj-long", bad / "long.wav"))
    expect["inj-long"] = {reasons.DURATION_OUT_OF_RANGE}
    # 6. an exact duplicate (same samples, another file, same split)
    shutil.copy(src["path"], bad / "copy.wav")
    rows.append(_row(src, "inj-exact-dup", bad / "copy.wav"))
    expect["inj-exact-dup"] = {reasons.DUPLICATE_EXACT}
    related["inj-exact-dup"] = str(src["utterance_id"])
    # 7. the same audio re-encoded at another sample rate (FLAC, 44.1 kHz), in the test split
    other = train.iloc[1]
    o_audio = decode(other["path"])
    up = soxr.resample(to_mono(o_audio.samples), o_audio.sample_rate, 44_100)
    sf.write(bad / "resampled.flac", up, 44_100, subtype="PCM_16")
    rows.append(
        _row(other, "inj-resampled", bad / "resampled.flac", split="test", speaker_id="inj-spk")
    )
    expect["inj-resampled"] = {reasons.LEAKAGE_DUPLICATE_NEAR}
    related["inj-resampled"] = str(other["utterance_id"])
    # 8. a speaker appearing in two splits: a test utterance relabelled to a train speaker
    leak_id = str(tests.iloc[0]["utterance_id"])
    m.loc[m["utterance_id"] == leak_id, "speaker_id"] = src["speaker_id"]
    expect[leak_id] = {reasons.LEAKAGE_SPEAKER}
    # 9. several defects on one row: exact copy whose manifest sample rate is wrong
    shutil.copy(other["path"], bad / "copy_wrong_rate.wav")
    rows.append(_row(other, "inj-multi", bad / "copy_wrong_rate.wav", sample_rate=48_000))
    expect["inj-multi"] = {reasons.DUPLICATE_EXACT, reasons.SAMPLE_RATE_MISMATCH}
    related["inj-multi"] = str(other["utterance_id"])

    full = pd.concat([m, pd.DataFrame(rows)], ignore_index=True)
    return Injected(full, expect, related, original_ids)


@pytest.fixture(scope="module")
def validated(
    synth_corpus: tuple[Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Injected, ValidationResult, Workdir]:
    corpus_dir, manifest = synth_corpus
    out = tmp_path_factory.mktemp("validation_gates")
    injected = inject(Path(corpus_dir), manifest, out)
    workdir = Workdir(out / "work").ensure()
    result = run_validation(injected.manifest, workdir, ValidationConfig())
    return injected, result, workdir


def test_every_injected_defect_is_quarantined_with_its_reason(
    validated: tuple[Injected, ValidationResult, Workdir],
) -> None:
    injected, result, _ = validated
    q = result.quarantined.set_index("utterance_id")
    for uid, codes in injected.expect.items():
        assert uid in q.index, f"{uid} should be quarantined"
        got = set(q.at[uid, "reasons"])
        assert codes <= got, f"{uid}: expected {codes}, got {got}"
    for uid, original in injected.related.items():
        assert q.at[uid, "duplicate_of"] == original


def test_nothing_is_lost_and_clean_rows_are_kept(
    validated: tuple[Injected, ValidationResult, Workdir],
) -> None:
    injected, result, workdir = validated
    n = len(injected.manifest)
    assert result.n_input == n
    assert result.n_kept + result.n_quarantined == n
    kept = read_manifest(workdir.validated_manifest)  # schema-valid
    quarantined = pq.read_table(workdir.quarantine / "quarantine.parquet").to_pandas()
    assert len(kept) + len(quarantined) == n
    assert set(kept["utterance_id"]).isdisjoint(quarantined["utterance_id"])
    assert set(kept["utterance_id"]) | set(quarantined["utterance_id"]) == set(
        injected.manifest["utterance_id"]
    )
    # the originals of duplicated/leaked content stay; only the copies go
    bad = set(injected.expect)
    assert injected.original_ids - bad <= set(kept["utterance_id"])
    assert set(quarantined["utterance_id"]) == bad
    assert all(len(r) >= 1 for r in quarantined["reasons"])


def test_report_and_data_docs_are_written(
    validated: tuple[Injected, ValidationResult, Workdir],
) -> None:
    _, result, workdir = validated
    text = result.report_path.read_text()
    assert "kept + quarantined == input: **yes**" in text
    for code in (reasons.LEAKAGE_SPEAKER, reasons.LEAKAGE_DUPLICATE_NEAR, "audio_truncated"):
        assert code in text
    assert result.report_html.is_file() and "<table>" in result.report_html.read_text()
    assert result.data_docs_index is not None and result.data_docs_index.is_file()
    pngs = list((workdir.reports / "validation").glob("*.png"))
    assert len(pngs) >= 2 and all(p.stat().st_size > 1000 for p in pngs)
    checks = pq.read_table(result.checks_path).to_pandas()
    assert len(checks) == result.n_input
    assert checks["speech_ratio"].notna().sum() == checks["readable"].sum()
    # SQUIM weights are absent here: nulls, and the report says so
    assert checks["stoi"].isna().all()
    assert any("SQUIM" in w for w in result.warnings)


def test_actions_flag_instead_of_quarantine(
    validated: tuple[Injected, ValidationResult, Workdir], tmp_path: Path
) -> None:
    injected, _, _ = validated
    leak_id = next(u for u, c in injected.expect.items() if reasons.LEAKAGE_SPEAKER in c)
    subset = injected.manifest[injected.manifest["utterance_id"].isin(injected.original_ids)]
    cfg = ValidationConfig.model_validate(
        {
            "actions": {"leakage_speaker": "flag"},
            "quality": {"vad": False, "squim": False},
            "expectations": {"data_docs": False},
        }
    )
    workdir = Workdir(tmp_path / "work").ensure()
    result = run_validation(subset, workdir, cfg, label="window-1")
    assert result.n_quarantined == 0
    assert result.n_kept == len(subset)
    assert result.flag_counts == {reasons.LEAKAGE_SPEAKER: 1}
    # a labelled run writes beside, never over, the corpus's validated manifest
    assert result.validated_path == workdir.data / "validated" / "window-1" / "manifest.parquet"
    assert result.report_path.parent == workdir.reports / "validation" / "window-1"
    assert not workdir.validated_manifest.exists()
    assert leak_id in read_manifest(result.validated_path)["utterance_id"].tolist()
    assert any("VAD" in w for w in result.warnings)


def test_squim_scores_reach_the_checks_and_gate_as_flags(
    synth_corpus: tuple[Path, pd.DataFrame], squim_weights: dict[str, Path], tmp_path: Path
) -> None:
    _, manifest = synth_corpus
    rows = manifest.head(2)
    cfg = ValidationConfig.model_validate(
        {
            "quality": {
                "squim_weights": str(squim_weights["safetensors"]),
                "squim_max_seconds": 1.0,
                "min_stoi": 1.01,  # above any STOI: every scored row is flagged
            },
            "expectations": {"data_docs": False},
        }
    )
    workdir = Workdir(tmp_path / "work").ensure()
    result = run_validation(rows, workdir, cfg)
    assert result.n_kept == 2 and result.n_quarantined == 0
    assert result.flag_counts == {reasons.LOW_STOI: 2}
    checks = pq.read_table(result.checks_path).to_pandas()
    assert checks[["stoi", "pesq", "si_sdr"]].notna().all().all()
    assert not any("SQUIM" in w for w in result.warnings)


def test_voice_leakage_runs_in_default_validation_and_finds_the_reencoded_copy(
    validated: tuple[Injected, ValidationResult, Workdir],
) -> None:
    """The re-encoded test copy of a train recording (filed under another speaker id) is a
    voice match too: the speaker-encoder check runs with the default config."""
    import json

    _, result, _ = validated
    summary = json.loads((result.report_path.parent / "voice-leakage.json").read_text())
    assert summary["encoder"]["package"].startswith("resemblyzer==")
    pairs = {p["pair"]: p for p in summary["pairs"]}
    assert pairs["test vs train"]["matched"] >= 1
    q = result.quarantined.set_index("utterance_id")
    assert reasons.LEAKAGE_VOICE in set(q.at["inj-resampled", "reasons"])
