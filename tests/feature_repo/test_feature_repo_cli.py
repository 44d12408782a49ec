"""The repo works from Feast's own CLI and from `nordlid features`."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feature_repo import store
from feature_repo.config import REPO_DIR
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir

from .conftest import feature_rows, write_features, write_labels


def _feast(args: list[str], workdir: Workdir) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "NORDLID_FEAST_PROJECT", "NORDLID_FEAST_REGISTRY")
    }
    env["NORDLID_WORKDIR"] = str(workdir.root)
    feast = Path(sys.executable).with_name("feast")
    return subprocess.run(
        [str(feast), "-c", str(REPO_DIR), *args],
        env=env,
        cwd=workdir.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_feast_cli_apply_and_materialize_incremental(
    workdir: Workdir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extractors.registry import all_specs

    for var in ("REDIS_URL", "NORDLID_FEAST_PROJECT", "NORDLID_FEAST_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    ids = ["cli-a", "cli-b", "cli-c"]
    write_labels(workdir, ids)
    specs = all_specs()  # whatever the registry holds: the subprocess sees the same
    for spec in specs:
        write_features(workdir, feature_rows(spec, ids), spec.name)

    applied = _feast(["apply"], workdir)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (workdir.feast / "registry.db").exists()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    mat = _feast(["materialize-incremental", now], workdir)
    assert mat.returncode == 0, mat.stdout + mat.stderr

    try:
        registered = {v.name for v in store.get_store(workdir).list_feature_views()}
        assert registered == {"utterance_labels", *(s.view_name for s in specs)}
        labels = store.online_features(
            workdir, ["utterance_labels:language", "utterance_labels:split"], [*ids, "nope"]
        )
        assert labels["found"].tolist() == [True, True, True, False]
        assert labels["utterance_labels__language"].tolist()[:3] == ["da", "fo", "is"]

        # `nordlid features` wraps the same repo: apply is a no-op, materialize finds no new rows
        runner = CliRunner()
        from feature_repo.cli import app

        result = runner.invoke(app, ["apply"])
        assert result.exit_code == 0, result.output
        assert "utterance_labels" in result.output
        result = runner.invoke(app, ["materialize"])
        assert result.exit_code == 0, result.output
        assert "utterance_labels: 3 rows in files, materialized" in result.output
    finally:
        store.close(workdir)


def test_feast_repo_module_requires_the_workdir_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NORDLID_WORKDIR", raising=False)
    with pytest.raises(ConfigError, match="NORDLID_WORKDIR"):
        runpy.run_path(str(REPO_DIR / "nordlid_features.py"))
