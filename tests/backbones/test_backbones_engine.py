"""The backbones inside the extraction engine: Parquet with declared vector lengths, lineage,
and a missing checkpoint that skips one extractor while the others run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from nordlid.workdir import Workdir

from .conftest import make_waves


@pytest.fixture()
def wav_manifest(tmp_path: Path) -> pd.DataFrame:
    rows = []
    for i, wave in enumerate(make_waves([0.8, 1.6, 1.1], seed=21)):
        path = tmp_path / f"utt{i}.wav"
        sf.write(path, wave, 16_000)
        rows.append(
            {
                "utterance_id": f"u{i}",
                "path": str(path),
                "duration_s": len(wave) / 16_000,
                "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
                "language": "da",
                "split": "train",
            }
        )
    return pd.DataFrame(rows)


def test_engine_writes_backbone_features(
    workdir: Workdir,
    wav_manifest: pd.DataFrame,
    tiny_xlsr_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from extractors.engine import extract_waves, run_extraction
    from extractors.store import read_features

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NORDLID_XLSR_CHECKPOINT", str(tiny_xlsr_dir))
    monkeypatch.setenv("NORDLID_ECAPA_CHECKPOINT", str(tmp_path / "no_such_ecapa"))
    summary = run_extraction(workdir, ["ecapa", "xlsr"], device="cpu", manifest=wav_manifest)
    assert summary["ecapa"].status == "missing-checkpoint"
    assert "NORDLID_ECAPA_CHECKPOINT" in summary["ecapa"].message
    assert summary["xlsr"].extracted == 3

    table = read_features(workdir, "xlsr")
    assert sorted(table["utterance_id"]) == ["u0", "u1", "u2"]
    assert {len(v) for v in table["layer02_mean"]} == {32}
    part = next(workdir.feature_dir("xlsr").glob("part-*.parquet"))
    metadata = pq.read_schema(part).metadata or {}
    blob = b" ".join(metadata.values()).decode()
    assert str(tiny_xlsr_dir) in blob and "weights_sha256" in blob

    # the in-memory path used by serving gives the same numbers as the batch job
    from extractors import registry

    ext = registry.create("xlsr", device="cpu")
    wave = sf.read(wav_manifest.loc[1, "path"], dtype="float32")[0]
    row = extract_waves(ext, [wave])[0]
    stored = table.set_index("utterance_id").loc["u1", "layer02_mean"]
    np.testing.assert_allclose(row["layer02_mean"], np.asarray(stored), rtol=1e-4, atol=1e-6)
