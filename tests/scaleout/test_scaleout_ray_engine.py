"""The Ray engine against the local engine: identical rows, same files, same resume rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from extractors.engine import run_extraction
from extractors.ray_engine import run_extraction_ray
from extractors.store import part_files, read_features, read_lineage
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir


def _assert_same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert a["utterance_id"].tolist() == b["utterance_id"].tolist()
    assert (a["event_timestamp"] == b["event_timestamp"]).all()
    for col in a.columns:
        if col in ("utterance_id", "event_timestamp", "created_timestamp"):
            continue
        for uid, x, y in zip(a["utterance_id"], a[col], b[col], strict=True):
            if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                np.testing.assert_allclose(
                    np.asarray(x, np.float32),
                    np.asarray(y, np.float32),
                    rtol=1e-5,
                    atol=1e-6,
                    err_msg=f"{col} of {uid}",
                )
            elif x is None or y is None or (isinstance(x, float) and np.isnan(x)):
                assert pd.isna(x) and pd.isna(y), f"{col} of {uid}: {x!r} vs {y!r}"
            else:
                assert x == pytest.approx(y, rel=1e-5, abs=1e-6), f"{col} of {uid}"


def test_ray_engine_matches_local_engine_and_resumes(
    tmp_path, ray_local: None, small_manifest: pd.DataFrame
) -> None:
    local_wd = Workdir(tmp_path / "local").ensure()
    ray_wd = Workdir(tmp_path / "ray").ensure()
    n_ok = len(small_manifest) - 1

    local = run_extraction(
        local_wd,
        ["acoustic"],
        manifest=small_manifest,
        device="cpu",
        batch_seconds=6.0,
        show_progress=False,
    )["acoustic"]
    assert local.extracted == n_ok

    # A first Ray run stops after 5 utterances: whole parts only, the rest is resumed.
    first = run_extraction_ray(
        ray_wd,
        ["acoustic"],
        manifest=small_manifest,
        limit=5,
        batch_seconds=6.0,
        rows_per_part=4,
        show_progress=False,
    )["acoustic"]
    assert first.extracted + len(first.failed) == 5
    assert not list(ray_wd.feature_dir("acoustic").glob(".*.tmp"))

    rest = run_extraction_ray(
        ray_wd,
        ["acoustic"],
        manifest=small_manifest,
        batch_seconds=6.0,
        rows_per_part=4,
        show_progress=False,
    )["acoustic"]
    assert rest.skipped == first.extracted
    assert first.extracted + rest.extracted == n_ok
    # unreadable audio is reported (and retried by every run, as the local engine does)
    assert len(rest.failed) == 1 and rest.failed[0].startswith("broken-0001: ")
    assert len(local.failed) == 1 and local.failed[0].startswith("broken-0001: ")
    assert len(rest.parts) >= 2  # rows_per_part=4 splits the rest into several parts

    _assert_same_rows(read_features(local_wd, "acoustic"), read_features(ray_wd, "acoustic"))

    # Same lineage as the local engine (fingerprint, manifest hash), marked as a Ray run.
    local_lineage = read_lineage(part_files(local_wd.feature_dir("acoustic"))[0])
    for part in part_files(ray_wd.feature_dir("acoustic")):
        lineage = read_lineage(part)
        assert lineage["spec_fingerprint"] == local_lineage["spec_fingerprint"]
        assert lineage["manifest_hash"] == local_lineage["manifest_hash"]
        assert lineage["engine"]["runner"] == "ray"

    # The local engine sees the Ray parts as done: the same resume rule both ways.
    again = run_extraction(
        ray_wd,
        ["acoustic"],
        manifest=small_manifest,
        device="cpu",
        batch_seconds=6.0,
        show_progress=False,
    )["acoustic"]
    assert again.extracted == 0 and again.skipped == n_ok
    readable = small_manifest[small_manifest["utterance_id"] != "broken-0001"]
    up = run_extraction_ray(
        ray_wd, ["acoustic"], manifest=readable, batch_seconds=6.0, show_progress=False
    )["acoustic"]
    assert up.status == "up-to-date" and up.skipped == n_ok


def test_ray_engine_rejects_bad_options(tmp_path, small_manifest: pd.DataFrame) -> None:
    wd = Workdir(tmp_path / "w").ensure()
    with pytest.raises(ConfigError, match="unknown extractor"):
        run_extraction_ray(wd, ["no-such"], manifest=small_manifest)
    with pytest.raises(ConfigError, match="num-gpus-per-worker"):
        run_extraction_ray(wd, ["acoustic"], manifest=small_manifest, num_gpus_per_worker=-1)
    with pytest.raises(ConfigError, match="num-cpus"):
        run_extraction_ray(wd, ["acoustic"], manifest=small_manifest, address="auto", num_cpus=2)
