"""`nordlid run --config`: the repository's params.yaml loads, and YAML's boolean `no` is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordlid.errors import ConfigError
from pipeline.run import RunConfig

REPO = Path(__file__).resolve().parents[2]


def test_repository_params_yaml_is_a_valid_run_config() -> None:
    cfg = RunConfig.load(REPO / "params.yaml")
    assert cfg.languages == ["da", "is", "no", "sv"]
    assert cfg == RunConfig.load(None)  # params.yaml states the embedded defaults


def test_unquoted_no_gets_an_error_that_says_why(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("run:\n  languages: [da, no]\n")
    with pytest.raises(ConfigError, match=r"languages: False is not a code.*quote it"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="file not found"):
        RunConfig.load(tmp_path / "missing.yaml")
