"""Stage skipping for `nordlid run`: a second run is fast, changed inputs re-run."""

from __future__ import annotations

from pathlib import Path

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
