"""The console script: help, version, workdir option, user errors → one line + exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _nordlid(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_help_lists_every_stage() -> None:
    out = _nordlid("--help")
    assert out.returncode == 0, out.stderr
    for command in (
        "corpus",
        "validate",
        "extract",
        "features",
        "train",
        "evaluate",
        "predict",
        "serve",
        "drift",
        "retrain",
        "run",
    ):
        assert command in out.stdout


def test_version() -> None:
    out = _nordlid("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("nordlid ")


@pytest.mark.parametrize("group", ["corpus", "features", "drift"])
def test_each_group_has_help(group: str) -> None:
    out = _nordlid(group, "--help")
    assert out.returncode == 0, out.stderr


def test_bad_log_level_is_a_usage_error() -> None:
    out = _nordlid("--log-level", "LOUD", "validate")
    assert out.returncode == 2
    assert "LOUD" in out.stderr
    assert "Traceback" not in out.stderr


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme and "make demo" in readme


def test_extract_rejects_an_unknown_engine() -> None:
    out = _nordlid("extract", "--engine", "spark")
    assert out.returncode == 2
    assert "spark" in out.stderr and "ray" in out.stderr
