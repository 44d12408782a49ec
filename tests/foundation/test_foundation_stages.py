"""Stage skipping for `nordlid run`: a second run is fast, changed inputs re-run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.runner import Stage, StageRunner


def test_stage_skips_when_inputs_unchanged_and_reruns_when_changed(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    out = tmp_path / "out.txt"
    src.write_text("a")
    calls: list[str] = []

    def action() -> None:
        calls.append(src.read_text())
        out.write_text(src.read_text().upper())

    runner = StageRunner(tmp_path / "stamps")
    stage = Stage("upper", action, deps=[src], outs=[out], params={"k": 1})
    runner.run(stage)
    runner.run(stage)
    assert calls == ["a"]
    assert runner.results["upper"].startswith("skipped")

    src.write_text("bb")
    runner.run(stage)
    assert calls == ["a", "bb"]

    changed = Stage("upper", action, deps=[src], outs=[out], params={"k": 2})
    runner.run(changed)
    assert len(calls) == 3

    out.unlink()
    runner.run(changed)
    assert len(calls) == 4 and out.read_text() == "BB"


def test_a_copied_work_directory_keeps_its_stages_up_to_date(tmp_path: Path) -> None:
    def stage_in(root: Path, calls: list[str]) -> Stage:
        def action() -> None:
            calls.append(str(root))
            (root / "out.txt").write_text("x")

        data = root / "data"
        return Stage("s", action, deps=[data], outs=[root / "out.txt"], params={"k": 1})

    first = tmp_path / "first"
    (first / "data").mkdir(parents=True)
    (first / "data" / "in.txt").write_text("a")
    calls: list[str] = []
    StageRunner(first / "stamps").run(stage_in(first, calls))
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)  # copy2: sizes and mtimes kept, as `cp -a` keeps them
    runner = StageRunner(copy / "stamps")
    runner.run(stage_in(copy, calls))
    assert calls == [str(first)] and runner.results["s"].startswith("skipped")
    (copy / "data" / "in.txt").write_text("changed")
    runner.run(stage_in(copy, calls))
    assert calls == [str(first), str(copy)]


def test_failed_stage_leaves_no_stamp(tmp_path: Path) -> None:
    runner = StageRunner(tmp_path / "stamps")

    def boom() -> None:
        raise RuntimeError("interrupted")

    stage = Stage("boom", boom, outs=[tmp_path / "never"])
    try:
        runner.run(stage)
    except RuntimeError:
        pass
    assert not (tmp_path / "stamps" / "boom.json").exists()
    assert not runner.up_to_date(stage)


def test_run_pipeline_runs_the_stage_list_skips_when_up_to_date_and_runs_one_on_demand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nordlid.workdir import Workdir
    from pipeline import run as run_module
    from pipeline.run import PipelineStage, RunConfig, run_pipeline

    calls: list[str] = []

    def write(name: str, path: Path) -> None:
        calls.append(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)

    first = PipelineStage(
        "first",
        lambda c: write("first", c.wd.manifest),
        deps=lambda wd: [],
        outs=lambda wd: [wd.manifest],
        params=("seed",),
    )
    second = PipelineStage(
        "second",
        lambda c: write("second", c.wd.reports / "models.md"),
        deps=lambda wd: [wd.manifest],
        outs=lambda wd: [wd.reports / "models.md"],
        enabled=lambda cfg: cfg.train_lidnet,
    )
    monkeypatch.setattr(run_module, "STAGES", (first, second))
    wd = Workdir(tmp_path / "work")
    summary = run_pipeline(wd, RunConfig())
    assert calls == ["first", "second"] and summary.stages == {"first": "ran", "second": "ran"}
    assert set(summary.stage_seconds) == {"first", "second"}
    times = json.loads((wd.reports / "run-times.json").read_text())
    assert times["stages"] == summary.stages and set(times["seconds"]) == {"first", "second"}
    assert summary.metrics_table == "second"  # the summary reads what the stages left

    summary = run_pipeline(wd, RunConfig())
    assert calls == ["first", "second"]
    assert set(summary.stages.values()) == {"skipped (up to date)"}

    # a changed parameter re-runs its stage, and the stage reading its output after it
    run_pipeline(wd, RunConfig(seed=1))
    assert calls == ["first", "second", "first", "second"]
    run_pipeline(wd, RunConfig(seed=2, train_lidnet=False))  # a disabled stage is left out
    assert calls == ["first", "second", "first", "second", "first"]
    summary = run_pipeline(wd, RunConfig(), only="second")  # on demand: always runs
    assert calls[-1] == "second" and summary.stages == {"second": "ran"}


def test_backbones_trained_by_the_run_are_extracted_after_training_not_before(
    tmp_path: Path,
) -> None:
    from extractors.lidnet import MINI_NAME, NAME
    from nordlid.workdir import Workdir
    from pipeline.run import get_stage, static_feature_views

    wd = Workdir(tmp_path)
    assert NAME not in static_feature_views() and MINI_NAME not in static_feature_views()
    lidnet, extract = get_stage("lidnet"), get_stage("extract-lidnet")
    assert lidnet.outs(wd) == [wd.models / NAME, wd.models / MINI_NAME]
    # the cascade's mini recipe needs lidnet-mini's features: extracted with lidnet's
    assert extract.outs(wd) == [wd.feature_dir(NAME), wd.feature_dir(MINI_NAME)]
    assert "lidnet_minutes" in lidnet.params
