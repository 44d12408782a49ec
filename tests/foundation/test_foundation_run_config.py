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


def test_corpus_and_holdout_render_every_field_condition(
    tmp_path: Path,
) -> None:
    from corpus.render import FIELD_CONDITIONS

    cfg = RunConfig()
    # the training corpus renders every field condition too; the held-out set renders
    # the same conditions from its own sentences, voices and settings
    assert cfg.conditions == ["clean", "noisy", "telephone", *FIELD_CONDITIONS]
    assert cfg.holdout_conditions == ["clean", "noisy", "telephone", *FIELD_CONDITIONS]
    assert cfg.holdout_per_language == 200  # same number of held-out files
    path = tmp_path / "p.yaml"
    path.write_text("run:\n  holdout_conditions: [clean, underwater]\n")
    with pytest.raises(ConfigError, match=r"holdout_conditions: unknown \['underwater'\]"):
        RunConfig.load(path)


def test_stage_holdout_renders_the_holdout_conditions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    import pandas as pd

    import corpus.synth
    from nordlid.workdir import Workdir
    from pipeline import run

    seen: dict[str, object] = {}

    def fake_holdout(out: Path, **kw: object) -> pd.DataFrame:
        seen.update(kw)
        return pd.DataFrame({"path": [], "language": [], "condition": []})

    monkeypatch.setattr(corpus.synth, "synthesize_holdout", fake_holdout)
    for name, attrs in (
        ("serving.batch", {"predict_paths": lambda paths, settings: []}),
        ("serving.settings", {"load_settings": lambda: None}),
    ):
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attrs))
    monkeypatch.setattr(run, "score_holdout", lambda lines, truth: ({}, []))
    wd = Workdir(tmp_path)
    wd.reports.mkdir(parents=True, exist_ok=True)
    cfg = RunConfig(conditions=["clean", "noisy"], holdout_conditions=["reverb", "short"])
    run.stage_holdout(wd, cfg)
    assert seen["conditions"] == ("reverb", "short")
    assert seen["per_language"] == cfg.holdout_per_language
