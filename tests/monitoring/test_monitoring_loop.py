"""The monitoring loop end to end through Feast and the CLI.

Features of the corpus go into the offline store as the extraction job writes them, the
Feast repo is applied, a champion is trained from ``get_historical_features`` and
promoted; ``nordlid drift simulate --noise-snr 10`` then serves noisy held-out audio
through the serving extractor path, and ``nordlid drift`` compares that window with the
champion's training features read back from the offline store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from monitoring_helpers import MonitoringData
from typer.testing import CliRunner

from nordlid.workdir import Workdir


def _offline_store(workdir: Workdir, data: MonitoringData) -> None:
    from corpus.manifest import write_manifest
    from extractors import registry
    from extractors.store import rows_to_table, write_part
    from feature_repo.store import apply

    manifest = data.manifest
    workdir.validated_manifest.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(manifest, workdir.validated_manifest)
    spec = registry.get_spec("acoustic")
    feats = data.features.set_index("utterance_id").loc[manifest["utterance_id"].to_numpy()]
    rows = [{c: r[f"acoustic__{c}"] for c in spec.feature_names} for r in feats.to_dict("records")]
    table = rows_to_table(
        spec,
        manifest["utterance_id"].tolist(),
        manifest["event_timestamp"].tolist(),
        rows,
        datetime.now(UTC),
    )
    write_part(
        workdir.feature_dir("acoustic"),
        table,
        {"extractor": "acoustic", "extractor_version": spec.version},
    )
    apply(workdir)


@pytest.mark.slow
def test_simulated_noise_is_reported_as_drift(
    workdir: Workdir, monitoring_data: MonitoringData
) -> None:
    from pipeline.cli import app
    from training.registry import ModelRegistry
    from training.train import train_model

    _offline_store(workdir, monitoring_data)
    champion = train_model(workdir, "lid_mini", "logreg", "lid-mini", track=False, count_cost=False)
    ModelRegistry(workdir.models).set_alias(champion.ref, "production")

    runner = CliRunner()
    # the cascade of the champion alone (no premium model trained here)
    args = [
        "drift",
        "simulate",
        "--noise-snr",
        "10",
        "--split",
        "dev",
        "--split",
        "test",
        "--mini",
        "@production",
        "--premium",
        "",
    ]
    sim = runner.invoke(app, args)
    assert sim.exit_code == 0, sim.output
    n = int((monitoring_data.manifest["split"] != "train").sum())
    assert f"wrote {n} simulated requests (noise10dB)" in sim.stdout
    assert len(list(workdir.serving_log.glob("*.parquet"))) == 1
    assert len(list(workdir.feedback_log.glob("*.parquet"))) == 1

    # the CLI's log handler writes to stdout: keep it quiet to read the command's own lines
    res = runner.invoke(
        app,
        ["--log-level", "WARNING", "drift", "--window", str(n), "--with-model", "@production"],
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("DRIFT:"), res.output
    assert lines[1].startswith("drifted features: acoustic__")
    assert any(line.startswith("live accuracy:") for line in lines)
    index = Path(lines[-1].removeprefix("report: "))
    assert index.parent.parent == workdir.reports / "drift"
    text: list[str] = []
    parser = HTMLParser()
    parser.handle_data = text.append  # type: ignore[method-assign,assignment]
    parser.feed(index.read_text())
    assert champion.ref in " ".join(text)
    for feature in lines[1].removeprefix("drifted features: ").split(", "):
        assert feature in " ".join(text)


def test_drift_without_serving_log_is_a_one_line_error(
    workdir: Workdir, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["drift"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no serving log yet" in err
    assert "\n" not in err


def test_bad_since_is_a_one_line_error(
    workdir: Workdir, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["drift", "--since", "soon"])
    assert exc.value.code == 2
    assert "--since 'soon'" in capsys.readouterr().err


def test_retrain_without_champion_is_a_one_line_error(
    workdir: Workdir, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["retrain", "--no-track"])
    assert exc.value.code == 2
    # log records also go to stderr (stdout is for command output); the error itself is one
    # line, the last one, with no traceback
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and "@production" in last
    assert "Traceback" not in err


def test_simulate_with_an_empty_mini_ref_is_a_one_line_error(
    workdir: Workdir, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["drift", "simulate", "--mini", ""])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "--mini ''" in last
