"""dvc.yaml describes real `nordlid` stages: `dvc repro` runs them in a temporary copy of the
repository on a tiny configuration, records the lineage in dvc.lock, and a second repro
rebuilds nothing."""

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
    params["dvc"]["languages"] = "da,sv"
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
