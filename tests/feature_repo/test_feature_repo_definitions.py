"""Definitions are generated from the extractor registry; settings are validated at start."""

from __future__ import annotations

import pytest

from extractors.spec import ExtractorSpec, FeatureColumn
from feature_repo.definitions import LABELS_VIEW, build_definitions
from feature_repo.recipes import resolve_recipe
from feature_repo.settings import RedisSettings, settings_from_env
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir


def test_views_services_and_push_sources_follow_the_registry(
    workdir: Workdir, test_specs: list[ExtractorSpec]
) -> None:
    from feast.types import Array, Float32, Float64, Int64

    from extractors.registry import all_specs

    defs = build_definitions(workdir, all_specs())
    assert set(defs.views) == {LABELS_VIEW, "acoustic", "lidnet", "whisper_tiny"}
    tiny = defs.views["whisper_tiny"]
    fields = {f.name: f for f in tiny.schema if f.name != "utterance_id"}
    assert fields["layer02_mean"].dtype == Array(Float32)
    assert fields["layer02_mean"].vector_length == 12
    acoustic = {f.name: f for f in defs.views["acoustic"].features}
    assert acoustic["pitch_hz"].dtype == Float64 and acoustic["n_frames"].dtype == Int64
    assert acoustic["speech_ratio"].dtype == Float32 and acoustic["speech_ratio"].vector_length == 0
    assert getattr(tiny.batch_source, "path", None) == str(workdir.feature_dir("whisper-tiny"))
    assert tiny.stream_source is defs.push_sources["whisper_tiny_push"]
    assert set(defs.services) == {
        "lid_acoustic",
        "lid_lidnet",
        "lid_whisper_tiny",
        "lid_mini",
        "lid_premium",
    }
    mini = [p.name for p in defs.services["lid_mini"].feature_view_projections]
    premium = [p.name for p in defs.services["lid_premium"].feature_view_projections]
    assert mini == ["acoustic"] and premium == ["lidnet"]

    extra = ExtractorSpec("my-backbone", "1", (FeatureColumn("embedding", length=3),))
    more = build_definitions(workdir, [*all_specs(), extra])
    assert "my_backbone" in more.views and "lid_my_backbone" in more.services


def test_premium_recipe_falls_back_to_the_best_backbone_without_lidnet() -> None:
    assert resolve_recipe("lid_premium", ["acoustic", "lidnet", "xlsr"]) == ["lidnet"]
    assert resolve_recipe("lid_premium", ["acoustic", "xlsr", "ecapa"]) == ["ecapa"]
    assert resolve_recipe("lid_premium", ["acoustic"]) == []
    assert resolve_recipe("lid_mini", ["lidnet"]) == []


def test_settings_default_to_embedded_stores_under_the_workdir(workdir: Workdir) -> None:
    s = settings_from_env(workdir, env={})
    assert s.online == "sqlite" and s.redis is None
    assert s.registry_url == f"sqlite:///{workdir.feast / 'registry.db'}"
    assert s.sqlite_path.startswith(str(workdir.feast))


def test_redis_url_becomes_a_feast_connection_string(workdir: Workdir) -> None:
    s = settings_from_env(workdir, env={"REDIS_URL": "redis://:s3cret@cache.local:6380/2"})
    assert s.online == "redis"
    assert s.redis == RedisSettings(host="cache.local", port=6380, db=2, password="s3cret")
    assert s.redis.connection_string() == "cache.local:6380,db=2,password=s3cret"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REDIS_URL": "http://x:1"}, "REDIS_URL"),
        ({"NORDLID_FEAST_PROJECT": "_bad-name"}, "project"),
        ({"NORDLID_FEAST_REGISTRY": "/tmp/registry.db"}, "registry"),
        ({"NORDLID_FEAST_WRITE_BATCH": "many"}, "NORDLID_FEAST_WRITE_BATCH"),
    ],
)
def test_bad_settings_fail_with_a_clear_message(
    workdir: Workdir, env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        settings_from_env(workdir, env=env)
