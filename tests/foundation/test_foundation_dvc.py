"""dvc.yaml is generated from the pipeline's stage list and runs the real stages: the
committed file is what the generator writes; `dvc repro` runs them in a temporary copy of
the repository on a tiny configuration, records the lineage in dvc.lock, and a second
repro rebuilds nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_dvc_repro_builds_corpus_and_validation_then_is_up_to_date(tmp_path: Path) -> None:
    dvc = Path(sys.executable).with_name("dvc")
    if not (ROOT / ".git").exists() or not dvc.exists() or shutil.which("git") is None:
        pytest.fail("needs a git checkout and dvc in the project venv (installed by make test)")
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True, timeout=120)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["run"]["per_language"] = 4
    params["run"]["languages"] = ["da", "sv"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    env = dict(os.environ)
    env["PATH"] = f"{dvc.parent}{os.pathsep}{env.get('PATH', '')}"
    env["NORDLID_WORKDIR"] = str(repo)
    env["DVC_NO_ANALYTICS"] = "1"

    first = _run([str(dvc), "repro", "validate"], repo, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (repo / "data" / "validated" / "manifest.parquet").exists()
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert {"corpus", "validate"} <= set(lock["stages"])
    outs = {o["path"] for o in lock["stages"]["corpus"]["outs"]}
    assert "data/manifest.parquet" in outs
    assert lock["stages"]["corpus"]["params"]["params.yaml"]["run.per_language"] == 4

    second = _run([str(dvc), "repro", "validate"], repo, env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "didn't change" in second.stdout or "up to date" in second.stdout.lower()

    push = _run([str(dvc), "push", "corpus"], repo, env)
    assert push.returncode == 0, push.stdout + push.stderr
    assert any((repo / ".dvc-remote").rglob("*")), "the local remote received the corpus"


def test_committed_dvc_yaml_is_generated_from_the_stage_list() -> None:
    from pipeline.dvc import dvc_yaml
    from pipeline.run import STAGE_NAMES

    committed = (ROOT / "dvc.yaml").read_text()
    assert committed == dvc_yaml(), "regenerate: nordlid run --dvc-yaml > dvc.yaml"
    stages = yaml.safe_load(committed)["stages"]
    assert tuple(stages) == STAGE_NAMES
    assert {"holdout", "drift"} <= set(stages)
    for name, stage in stages.items():
        assert stage["cmd"] == f"nordlid run --stage {name} --config params.yaml"


def test_every_dvc_param_is_in_params_yaml_and_a_run_setting() -> None:
    from pipeline.run import RunConfig

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["run"]
    RunConfig(**params)  # params.yaml is a valid run configuration
    for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values():
        for key in stage.get("params", []):
            assert key.removeprefix("run.") in params, key


def test_run_names_an_unknown_stage(workdir, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--stage", "nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown stage 'nope'" in err and "holdout" in err
