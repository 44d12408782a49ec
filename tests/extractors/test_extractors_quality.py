"""The quality extractor: SQUIM scores (null without weights) and the VAD speech ratio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from extractors import registry
from extractors.engine import extract_waves, load_wave, run_extraction
from extractors.quality import QualityExtractor
from extractors.store import read_features
from nordlid.workdir import Workdir

SR = 16_000


@pytest.fixture()
def no_squim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NORDLID_SQUIM_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_without_weights_scores_are_null_and_speech_ratio_is_measured(
    no_squim: None,
    synth_corpus: tuple[Path, pd.DataFrame],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, manifest = synth_corpus
    speech = load_wave(manifest.iloc[0]["path"])
    silence = np.zeros(SR, dtype=np.float32)
    ex = registry.create("quality")
    assert "SQUIM" in caplog.text  # said once, when the extractor is built
    rows = extract_waves(ex, [speech, silence, np.concatenate([silence, speech, silence])])
    for row in rows:
        assert row["stoi"] is None and row["pesq"] is None and row["si_sdr"] is None
    assert rows[0]["speech_ratio"] > 0.5
    assert rows[1]["speech_ratio"] == 0.0
    padded = len(speech) + 2 * SR
    expected = rows[0]["speech_ratio"] * len(speech) / padded
    assert rows[2]["speech_ratio"] == pytest.approx(expected, abs=0.08)
    assert ex.lineage()["squim"].startswith("absent")


def test_with_weights_scores_are_numbers(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from torchaudio.models import squim_objective_base

    torch.manual_seed(0)
    weights = tmp_path / "squim.safetensors"
    save_file(
        {k: v.contiguous() for k, v in squim_objective_base().state_dict().items()}, str(weights)
    )
    ex = QualityExtractor(squim_weights=weights)
    t = np.arange(SR) / SR
    wave = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    (row,) = extract_waves(ex, [wave])
    for key in ("stoi", "pesq", "si_sdr"):
        assert isinstance(row[key], float) and np.isfinite(row[key])
    assert len(ex.lineage()["weights_sha256"]) == 64


def test_quality_table_has_nullable_scores(
    no_squim: None, workdir: Workdir, signal_manifest: pd.DataFrame
) -> None:
    summary = run_extraction(workdir, ["quality"], device="cpu", show_progress=False)
    assert summary["quality"].extracted == len(signal_manifest)
    frame = read_features(workdir, "quality")
    assert frame["stoi"].isna().all() and frame["speech_ratio"].between(0.0, 1.0).all()
    part = next(workdir.feature_dir("quality").glob("part-*.parquet"))
    assert pq.read_schema(part).field("stoi").nullable


class _CountingVad:
    """The packaged silero-vad, counting how often it is run."""

    def __init__(self) -> None:
        from validation.speech_quality import load_vad

        self._vad = load_vad()
        self.backend = self._vad.backend
        self.calls = 0

    def probabilities(self, wave16k: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self._vad.probabilities(wave16k)


def test_acoustic_and_quality_share_one_vad_pass_per_wave(
    no_squim: None, synth_corpus: tuple[Path, pd.DataFrame]
) -> None:
    from extractors.acoustic import AcousticExtractor
    from validation.speech_quality import shared_speech_segments

    _, manifest = synth_corpus
    waves = [load_wave(p) for p in manifest["path"].iloc[:3]]  # 3 waves: the threaded trim
    vad = _CountingVad()
    acoustic, quality = AcousticExtractor(vad=vad), QualityExtractor(vad=vad)

    alone_a, alone_q = extract_waves(acoustic, waves), extract_waves(quality, waves)
    assert vad.calls == 2 * len(waves)  # without sharing: once per extractor and wave

    vad.calls = 0
    with shared_speech_segments():
        shared_a, shared_q = extract_waves(acoustic, waves), extract_waves(quality, waves)
    assert vad.calls == len(waves)
    for a, b in zip(alone_a, shared_a, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert shared_q == alone_q

    # the memo ends with the block, and a different (even equal-valued) array is not reused
    vad.calls = 0
    extract_waves(quality, waves)
    with shared_speech_segments():
        extract_waves(quality, [w.copy() for w in waves])
        extract_waves(quality, [w.copy() for w in waves])
    assert vad.calls == 3 * len(waves)


def test_the_batch_job_runs_the_vad_once_per_wave_for_acoustic_and_quality(
    no_squim: None,
    synth_corpus: tuple[Path, pd.DataFrame],
    workdir: Workdir,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import validation.speech_quality as speech_quality
    from corpus.manifest import write_manifest

    _, manifest = synth_corpus
    frame = manifest.iloc[:6].reset_index(drop=True)
    write_manifest(frame, workdir.validated_manifest)
    segmented: list[int] = []
    real = speech_quality._speech_segments

    def counting(wave: np.ndarray, vad: object, s: object) -> list[tuple[int, int]]:
        segmented.append(wave.size)
        return real(wave, vad, s)  # type: ignore[arg-type]

    monkeypatch.setattr(speech_quality, "_speech_segments", counting)
    summary = run_extraction(
        workdir, ["acoustic", "quality"], device="cpu", batch_seconds=4.0, show_progress=False
    )
    assert summary["acoustic"].extracted == summary["quality"].extracted == len(frame)
    assert len(segmented) == len(frame)
    ratios = read_features(workdir, "quality").set_index("utterance_id").speech_ratio
    assert ((ratios > 0.2) & (ratios <= 1.0)).all()  # espeak speech, measured, not defaulted
