"""End to end through the real feature store: apply → train (W&B offline) → evaluate → CLI."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.manifest import COLUMNS, write_manifest
from extractors import registry as extractor_registry
from extractors.registry import RegistryEntry
from extractors.spec import ExtractorSpec, FeatureColumn
from training.evaluate import comparison_table, evaluate_model
from training.registry import ModelRegistry
from training.train import train_model

from .conftest import T0


def _spec() -> ExtractorSpec:
    return ExtractorSpec(
        name="toy2",
        version="1",
        columns=(FeatureColumn("score"), FeatureColumn("vec", length=3)),
    )


@pytest.fixture()
def toy_world(workdir, monkeypatch):
    extractor_registry._load_builtin()
    monkeypatch.setitem(
        extractor_registry._ENTRIES,
        "toy2",
        RegistryEntry(name="toy2", spec=_spec, factory="builtins:object", description="test"),
    )
    rng = np.random.default_rng(3)
    langs = ["da", "no", "sv"]
    centres = {lang: rng.normal(0, 3, 4) for lang in langs}
    rows, ids, vecs = [], [], []
    for lang in langs:
        for i in range(20):
            uid = f"syn-{lang}{i}"
            rows.append(
                {
                    "utterance_id": uid,
                    "path": f"/nowhere/{uid}.wav",
                    "language": lang,
                    "source": "synthetic",
                    "source_language": lang,
                    "speaker_id": None,
                    "gender": None,
                    "split": ["train", "train", "train", "dev", "test"][i % 5],
                    "duration_s": 1.0,
                    "sample_rate": 16000,
                    "num_channels": 1,
                    "file_size": 100,
                    "audio_sha256": uid,
                    "text": None,
                    "condition": ["clean", "noisy"][i % 2],
                    "event_timestamp": T0 + timedelta(minutes=i),
                }
            )
            ids.append(uid)
            vecs.append(centres[lang] + rng.normal(0, 1, 4))
    write_manifest(pd.DataFrame(rows, columns=list(COLUMNS)), workdir.validated_manifest)
    v = np.array(vecs, dtype=np.float32)
    events = pa.array([r["event_timestamp"] for r in rows], pa.timestamp("us", tz="UTC"))
    table = pa.Table.from_arrays(
        [
            pa.array(ids),
            events,
            events,
            pa.array(v[:, 0]),
            pa.array([list(map(float, x)) for x in v[:, 1:]], pa.list_(pa.float32())),
        ],
        schema=_spec().arrow_schema(),
    )
    out = workdir.feature_dir("toy2")
    out.mkdir(parents=True)
    pq.write_table(table, out / "part-0.parquet")
    from feature_repo import store

    store.apply(workdir, specs=[_spec()])
    yield workdir
    store.close(workdir)


def test_train_track_evaluate_through_feature_store(toy_world):
    workdir = toy_world
    mv = train_model(workdir, "lid_toy2", "mlp", aliases=("staging",), count_cost=False)
    card = mv.card
    assert card.name == "lid-toy2-mlp" and card.feature_views == {"toy2": "1"}
    assert [f.ref for f in card.features] == ["toy2__score", "toy2__vec"]
    assert card.labels == ["da", "no", "sv"]
    assert card.data_version and card.metrics["test"]["accuracy"] > 0.8
    # a W&B run (offline) exists with its id in the card
    assert card.wandb_run_id
    assert list((workdir.wandb).glob(f"offline-run-*{card.wandb_run_id}"))

    again, metrics, out = evaluate_model(workdir, "@staging")
    assert again.ref == mv.ref
    assert metrics["test"]["accuracy"] == pytest.approx(card.metrics["test"]["accuracy"])
    # the dev-fitted temperature travels in the card: the registered model, training's
    # metrics and `nordlid evaluate` all read the same calibrated probabilities
    assert card.temperature is not None and card.temperature > 0
    assert metrics["test"]["ece"] == pytest.approx(card.metrics["test"]["ece"])
    assert (out / "confusion_test.png").exists()
    table = comparison_table(ModelRegistry(workdir.models))
    assert mv.ref in table and "@staging" in table

    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--model", "lid-toy2-mlp@1"])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "W&B run ID" in result.output
    bad = CliRunner().invoke(app, ["train", "--feature-service", "lid_toy2", "--head", "svm"])
    assert bad.exit_code != 0


def test_train_cli_one_head_and_a_local_sweep(toy_world, monkeypatch):
    from typer.testing import CliRunner

    import training.cost
    from pipeline.cli import app

    workdir = toy_world
    monkeypatch.setattr(training.cost, "extractor_gflops_per_second", lambda name: 0.5)

    # one head with --params (what `wandb agent` passes: other kinds' settings are dropped)
    service = ["train", "--feature-service", "lid_toy2", "--no-track"]
    params = json.dumps({"c_grid": [1.0], "hidden": 8})
    one = CliRunner().invoke(app, [*service, "--name", "cli-toy", "--params", params])
    assert one.exit_code == 0, one.output
    assert "cli-toy@1: logreg on lid_toy2" in one.output
    hyper = ModelRegistry(workdir.models).load_card("cli-toy@1").hyperparameters
    assert hyper["c_grid"] == [1.0] and "hidden" not in hyper
    # a local sweep: one model per point, best dev macro-F1 first
    sweep = workdir.root / "sweep.yaml"
    sweep.write_text(
        "method: grid\nparameters:\n  head:\n    values: [logreg, lda]\n"
        "  c_grid:\n    value: [1.0]\n"
    )
    swept = CliRunner().invoke(app, [*service, "--sweep", str(sweep)])
    assert swept.exit_code == 0, swept.output
    assert "lid-toy2-sweep@1" in swept.output and "lid-toy2-sweep@2" in swept.output
    bad_sweep = CliRunner().invoke(app, [*service, "--params", json.dumps({"bogus": 1})])
    assert bad_sweep.exit_code != 0 and "bogus" in str(bad_sweep.exception or bad_sweep.output)
    card = ModelRegistry(workdir.models).load_card("cli-toy@1")
    assert card.cost["backbone_gflops_per_s"] == 0.5 and card.cost["head_latency_ms"] > 0
