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
