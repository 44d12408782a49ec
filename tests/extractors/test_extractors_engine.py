"""The extraction engine: Parquet layout, lineage, incremental/resumable runs, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import extractors.acoustic_params as acoustic_params
from corpus.manifest import manifest_hash, write_manifest
from extractors import registry
from extractors.acoustic import AcousticExtractor
from extractors.base import Extractor, Row
from extractors.batching import plan_batches
from extractors.engine import ExtractionSummary, extract_waves, load_wave, run_extraction
from extractors.registry import RegistryEntry
from extractors.spec import ExtractorSpec, FeatureColumn
from extractors.store import LINEAGE_KEY, FeaturesNotFoundError, read_features
from nordlid.errors import ConfigError, MissingCheckpointError, NordlidError
from nordlid.workdir import Workdir

REPO = Path(__file__).resolve().parents[2]
FAST = {"acoustic": {"trim_silence": False}}  # VAD is exercised in the acoustic tests


def _run(workdir: Workdir, **kw: Any) -> ExtractionSummary:
    kw.setdefault("extractor_kwargs", FAST)
    kw.setdefault("show_progress", False)
    return run_extraction(workdir, ["acoustic"], device="cpu", **kw)


def _parts(workdir: Workdir, name: str = "acoustic") -> list[Path]:
    return sorted(workdir.feature_dir(name).glob("part-*.parquet"))


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Feature values without the extraction time, vectors as tuples (exact comparison)."""
    out = (
        frame.drop(columns=["created_timestamp"]).sort_values("utterance_id").reset_index(drop=True)
    )
    for col in out.columns:
        if len(out) and isinstance(out[col].iloc[0], np.ndarray):
            out[col] = out[col].map(lambda v: tuple(np.asarray(v).tolist()))
    return out


def test_parquet_layout_types_and_lineage(workdir: Workdir, signal_manifest: pd.DataFrame) -> None:
    summary = _run(workdir, batch_seconds=6.0, rows_per_part=4)
    run = summary["acoustic"]
    assert run.status == "extracted" and run.extracted == len(signal_manifest)
    assert run.failed == [] and run.audio_seconds == pytest.approx(
        signal_manifest.duration_s.sum(), rel=1e-3
    )
    parts = _parts(workdir)
    assert len(parts) >= 2 and parts == sorted(run.parts)
    assert not list(workdir.feature_dir("acoustic").glob(".*"))  # no temp files left
    spec = registry.get_spec("acoustic")
    for path in parts:
        table = pq.read_table(path)
        assert table.schema.remove_metadata().equals(spec.arrow_schema())
        for col in spec.columns:
            if col.length is not None:
                assert table.schema.field(col.name).type == pa.list_(pa.float32())
                lengths = pc.list_value_length(table.column(col.name))
                assert pc.all(pc.equal(lengths, col.length)).as_py(), col.name
        lineage = json.loads(table.schema.metadata[LINEAGE_KEY])
        assert lineage["extractor"] == "acoustic"
        assert lineage["extractor_version"] == spec.version
        assert lineage["manifest_hash"] == manifest_hash(workdir.validated_manifest)
        assert len(lineage["git_sha"]) == 40 or lineage["git_sha"] == "unknown"
        assert (
            lineage["parameters"]["n_mfcc"] == 20 and lineage["parameters"]["trim_silence"] is False
        )
        assert lineage["engine"]["device"] == "cpu" and lineage["engine"]["autocast"] == "none"
        assert len(lineage["rff_projection_sha256"]) == 64
        assert lineage["spec_fingerprint"]
    features = read_features(workdir, "acoustic")
    assert sorted(features.utterance_id) == sorted(signal_manifest.utterance_id)
    merged = features.merge(signal_manifest[["utterance_id", "event_timestamp"]], on="utterance_id")
    assert (merged.event_timestamp_x == merged.event_timestamp_y).all()
    assert (features.created_timestamp >= features.event_timestamp).all()


def test_batch_job_equals_the_in_memory_path(
    workdir: Workdir, signal_manifest: pd.DataFrame
) -> None:
    _run(workdir, batch_seconds=8.0)
    features = read_features(workdir, "acoustic").set_index("utterance_id")
    row = signal_manifest.iloc[2]  # 22.05 kHz file, resampled on the way in
    (alone,) = extract_waves(AcousticExtractor(trim_silence=False), [load_wave(row.path)])
    stored = features.loc[row.utterance_id]
    for key, value in alone.items():
        np.testing.assert_allclose(
            np.asarray(stored[key], dtype=np.float64), value, rtol=1e-4, atol=1e-5
        )


def test_rerun_skips_everything_and_new_rows_are_incremental(
    workdir: Workdir, signal_manifest: pd.DataFrame
) -> None:
    from extractors_testlib import make_manifest

    first = _run(workdir, batch_seconds=6.0)["acoustic"]
    parts = _parts(workdir)
    again = _run(workdir, batch_seconds=6.0)["acoustic"]
    assert again.status == "up-to-date" and again.extracted == 0
    assert again.skipped == first.extracted
    assert _parts(workdir) == parts

    extra = make_manifest(
        workdir.data / "audio2", [("new0", 0.8, 16_000, 1), ("new1", 1.1, 16_000, 1)]
    )
    write_manifest(
        pd.concat([signal_manifest, extra], ignore_index=True), workdir.validated_manifest
    )
    third = _run(workdir, batch_seconds=6.0)["acoustic"]
    assert third.extracted == 2 and third.skipped == len(signal_manifest)
    assert len(read_features(workdir, "acoustic")) == len(signal_manifest) + 2


def test_limit_extracts_at_most_n(workdir: Workdir, signal_manifest: pd.DataFrame) -> None:
    assert _run(workdir, limit=3)["acoustic"].extracted == 3
    assert _run(workdir, limit=3)["acoustic"].extracted == 3
    assert len(read_features(workdir, "acoustic")) == 6
    with pytest.raises(ConfigError, match="limit"):
        _run(workdir, limit=-1)


def test_version_bump_re_extracts_and_supersedes(
    workdir: Workdir, signal_manifest: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(workdir, batch_seconds=6.0)
    old_parts = _parts(workdir)
    # rows pushed through Feast's push source carry no lineage: they are left in place
    pushed = workdir.feature_dir("acoustic") / "part-push-test.parquet"
    pq.write_table(pq.read_table(old_parts[0]).replace_schema_metadata(None).slice(0, 1), pushed)
    # a work directory of an earlier nordlid kept old parts inside the view directory
    legacy = workdir.feature_dir("acoustic") / "_superseded" / "0ld"
    legacy.mkdir(parents=True)
    pq.write_table(pq.read_table(old_parts[0]), legacy / "part-legacy.parquet")
    monkeypatch.setattr(acoustic_params, "ACOUSTIC_VERSION", "99-test")
    run = _run(workdir, batch_seconds=6.0)["acoustic"]
    assert run.extracted == len(signal_manifest) and run.skipped == 0
    new_parts = [p for p in _parts(workdir) if p != pushed]
    assert pushed.exists()
    assert not set(new_parts) & set(old_parts)
    superseded = list(workdir.superseded_dir("acoustic").rglob("part-*.parquet"))
    assert len(superseded) == len(old_parts) + 1
    assert (workdir.superseded_dir("acoustic") / "0ld" / "part-legacy.parquet").is_file()
    # nothing of the old version is left where Feast's file source reads the view
    in_view = set(workdir.feature_dir("acoustic").rglob("*.parquet"))
    assert in_view == {*new_parts, pushed}
    for path in new_parts:
        lineage = json.loads(pq.read_schema(path).metadata[LINEAGE_KEY])
        assert lineage["extractor_version"] == "99-test"
    assert len(read_features(workdir, "acoustic")) == len(signal_manifest)


def test_read_features_keeps_the_latest_row(
    workdir: Workdir, signal_manifest: pd.DataFrame
) -> None:
    with pytest.raises(FeaturesNotFoundError, match="nordlid extract --extractor acoustic"):
        read_features(workdir, "acoustic")
    _run(workdir)
    first = read_features(workdir, "acoustic")
    # a second copy of every row, extracted later (as a concurrent run could write)
    for path in _parts(workdir):
        table = pq.read_table(path)
        later = table.set_column(
            2, "created_timestamp", pc.add(table.column(2), pa.scalar(1_000_000, pa.duration("us")))
        )
        pq.write_table(later, path.with_name(path.stem + "-later.parquet"))
    again = read_features(workdir, "acoustic")
    assert len(again) == len(first)
    assert (again.created_timestamp > first.created_timestamp).all()


def test_unreadable_audio_is_reported_and_the_rest_extracted(
    workdir: Workdir, signal_manifest: pd.DataFrame
) -> None:
    broken = Path(signal_manifest.iloc[4].path)
    broken.write_bytes(b"RIFF\x00\x00not a wave file at all")
    run = _run(workdir)["acoustic"]
    assert run.extracted == len(signal_manifest) - 1
    assert len(run.failed) == 1 and signal_manifest.iloc[4].utterance_id in run.failed[0]
    assert str(broken) in run.failed[0]


def test_missing_validated_manifest_is_a_clear_error(workdir: Workdir) -> None:
    with pytest.raises(NordlidError, match="nordlid validate"):
        _run(workdir)
    with pytest.raises(ConfigError, match="unknown extractor"):
        run_extraction(workdir, ["no-such-extractor"], device="cpu")


# ---------------------------------------------------------------------------------------
# Missing checkpoints
# ---------------------------------------------------------------------------------------
class _NeedsWeights(Extractor):
    def __init__(self, checkpoint: str) -> None:
        if not Path(checkpoint).exists():
            raise MissingCheckpointError(
                "needs-weights", checkpoint, "copy the weights there or set NORDLID_TEST_CHECKPOINT"
            )
        self.spec = _needs_weights_spec(checkpoint)

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        return [{"embedding": np.zeros(4, np.float32)} for _ in waves]


def _needs_weights_spec(checkpoint: str = "") -> ExtractorSpec:
    return ExtractorSpec(
        name="needs-weights",
        version="1",
        columns=(FeatureColumn("embedding", length=4),),
        checkpoint=checkpoint,
        needs_weights=True,
    )


@pytest.fixture()
def needs_weights(tmp_path: Path) -> Iterator[str]:
    checkpoint = str(tmp_path / "absent" / "model.safetensors")
    registry.register(
        RegistryEntry(
            name="needs-weights",
            spec=lambda: _needs_weights_spec(checkpoint),
            factory=lambda **kw: _NeedsWeights(checkpoint, **kw),
            description="test entry whose checkpoint does not exist",
        )
    )
    yield checkpoint
    registry.unregister("needs-weights")


def test_missing_checkpoint_is_named_and_others_continue(
    workdir: Workdir,
    signal_manifest: pd.DataFrame,
    needs_weights: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    summary = run_extraction(
        workdir,
        ["needs-weights", "acoustic"],
        device="cpu",
        extractor_kwargs=FAST,
        show_progress=False,
    )
    missing = summary["needs-weights"]
    assert missing.status == "missing-checkpoint"
    assert needs_weights in missing.message and "NORDLID_TEST_CHECKPOINT" in missing.message
    assert [r.name for r in summary.missing] == ["needs-weights"]
    assert summary["acoustic"].extracted == len(signal_manifest)
    assert needs_weights in caplog.text
    assert not workdir.feature_dir("needs-weights").exists()


def test_cli_reports_missing_checkpoint_and_exits_2(
    workdir: Workdir,
    signal_manifest: pd.DataFrame,
    needs_weights: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "--workdir",
                str(workdir.root),
                "extract",
                "--extractor",
                "needs-weights,acoustic",
                "--limit",
                "2",
            ]
        )
    out = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "acoustic: 2 extracted" in out.out
    assert needs_weights in out.out
    assert "error:" in out.err and "needs-weights" in out.err
    assert len(read_features(workdir, "acoustic")) == 2


# ---------------------------------------------------------------------------------------
# Kill and resume
# ---------------------------------------------------------------------------------------
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import extractors.engine as engine
    import extractors.store as store
    from nordlid.workdir import Workdir

    mode, at = sys.argv[1], int(sys.argv[2])
    calls = {"n": 0}

    def die_on(count):
        calls["n"] += 1
        if calls["n"] == count:
            os.kill(os.getpid(), signal.SIGKILL)

    if mode == "extract":
        real_extract = engine.extract_waves
        def extract_waves(extractor, waves, **kw):
            die_on(at)
            return real_extract(extractor, waves, **kw)
        engine.extract_waves = extract_waves
    else:  # die after a part's temp file is written, before its rename
        real_replace = os.replace
        def replace(src, dst):
            if str(src).endswith(".tmp"):
                die_on(at)
            return real_replace(src, dst)
        store.os.replace = replace

    engine.run_extraction(
        Workdir.from_env(), ["acoustic"], device="cpu", batch_seconds=3.0, rows_per_part=2,
        extractor_kwargs={"acoustic": {"trim_silence": False}}, show_progress=False,
    )
    print("finished without being killed")
    """
)


@pytest.mark.parametrize(("mode", "at"), [("extract", 4), ("write", 2)])
def test_sigkill_mid_run_then_restart_gives_the_uninterrupted_dataset(
    tmp_path: Path, signal_manifest: pd.DataFrame, workdir: Workdir, mode: str, at: int
) -> None:
    reference = Workdir(tmp_path / "reference").ensure()
    write_manifest(signal_manifest, reference.validated_manifest)
    _run(reference, batch_seconds=3.0, rows_per_part=2)
    expected = _comparable(read_features(reference, "acoustic"))

    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "NORDLID_WORKDIR": str(workdir.root), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script), mode, str(at)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    partial = _parts(workdir)
    assert 0 < len(partial) < len(_parts(reference))
    if mode == "write":
        assert list(workdir.feature_dir("acoustic").glob(".part-*.tmp"))  # the torn write

    resumed = _run(workdir, batch_seconds=3.0, rows_per_part=2)["acoustic"]
    assert resumed.skipped == sum(pq.read_metadata(p).num_rows for p in partial)
    assert resumed.skipped + resumed.extracted == len(signal_manifest)
    assert not list(workdir.feature_dir("acoustic").glob(".part-*.tmp"))
    total_rows = sum(pq.read_metadata(p).num_rows for p in _parts(workdir))
    assert total_rows == len(signal_manifest)  # nothing extracted twice
    pd.testing.assert_frame_equal(_comparable(read_features(workdir, "acoustic")), expected)


def test_batches_respect_the_budget_and_cover_every_item() -> None:
    durations = [0.5, 9.0, 3.0, 3.0, 1.0, 30.0, 2.0, 0.2]
    batches = plan_batches(durations, 8.0, keys=[f"u{i}" for i in range(8)])
    assert sorted(i for b in batches for i in b) == list(range(8))
    for batch in batches:
        longest = max(durations[i] for i in batch)
        assert len(batch) == 1 or len(batch) * longest <= 8.0
    assert [5] in batches and [1] in batches  # longer than the budget: alone, not truncated
    assert plan_batches(durations, 8.0, keys=[f"u{i}" for i in range(8)]) == batches
    with pytest.raises(ConfigError):
        plan_batches(durations, 0.0)


# ---------------------------------------------------------------------------------------
# Several extractors in one run: one decode per wave
# ---------------------------------------------------------------------------------------
def test_joint_batches_keep_each_extractors_batches_and_planned_order() -> None:
    from extractors.engine import joint_batches

    planned = [[4, 0], [2, 3], [1], [5]]
    first = [[4, 0], [2, 3], [5]]  # nothing done yet
    second = [[0], [1]]  # rows 2-5 and 4 done before
    schedule = joint_batches(planned, [first, second])
    assert schedule == [
        ([4, 0], [[4, 0], [0]]),
        ([2, 3], [[2, 3], []]),
        ([1], [[], [1]]),
        ([5], [[5], []]),
    ]
    assert joint_batches(planned, [[], []]) == []


class _Recording(Extractor):
    """A test extractor that remembers the wave objects it was given."""

    def __init__(self, name: str, seen: list[int]) -> None:
        self.spec = ExtractorSpec(
            name=name, version="1", columns=(FeatureColumn("energy", length=1),)
        )
        self.seen = seen

    def extract(self, waves: list[np.ndarray]) -> list[Row]:
        self.seen.extend(id(w) for w in waves)
        return [{"energy": np.array([float(np.mean(w**2))], np.float32)} for w in waves]


@pytest.fixture()
def two_recorders() -> Iterator[dict[str, list[int]]]:
    seen: dict[str, list[int]] = {"rec-a": [], "rec-b": []}
    for name in seen:
        registry.register(
            RegistryEntry(
                name=name,
                spec=lambda name=name: _Recording(name, []).spec,
                factory=lambda name=name, **kw: _Recording(name, seen[name]),
                description="test entry recording the waves it extracts",
            )
        )
    yield seen
    for name in seen:
        registry.unregister(name)


def test_extractors_of_one_run_share_each_decoded_wave(
    workdir: Workdir,
    signal_manifest: pd.DataFrame,
    two_recorders: dict[str, list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import extractors.engine as engine

    decoded: list[str] = []
    real_load = engine.load_wave

    def counting_load(path: str) -> np.ndarray:
        decoded.append(path)
        return real_load(path)

    monkeypatch.setattr(engine, "load_wave", counting_load)
    # rec-a has 3 rows already; the joint run gives it the rest and rec-b everything
    first = run_extraction(workdir, ["rec-a"], limit=3, batch_seconds=2.0, show_progress=False)
    assert first["rec-a"].extracted == 3 and len(decoded) == 3
    decoded.clear()
    two_recorders["rec-a"].clear()

    summary = run_extraction(
        workdir, ["rec-a", "rec-b"], batch_seconds=2.0, rows_per_part=4, show_progress=False
    )
    n = len(signal_manifest)
    assert summary["rec-a"].extracted == n - 3 and summary["rec-a"].skipped == 3
    assert summary["rec-b"].extracted == n
    assert sorted(decoded) == sorted(signal_manifest.path)  # each file decoded once
    assert set(two_recorders["rec-a"]) <= set(two_recorders["rec-b"])  # the same arrays
    assert all(run.wall_seconds > 0 for run in summary.runs)

    # every extractor's rows equal a run of it alone
    alone = Workdir(workdir.root.parent / "alone").ensure()
    write_manifest(signal_manifest, alone.validated_manifest)
    run_extraction(alone, ["rec-b"], batch_seconds=2.0, show_progress=False)
    for name in ("rec-a", "rec-b"):
        pd.testing.assert_frame_equal(
            _comparable(read_features(workdir, name)), _comparable(read_features(alone, "rec-b"))
        )


def test_parallel_lanes_give_the_rows_of_a_sequential_run(
    workdir: Workdir, signal_manifest: pd.DataFrame, two_recorders: dict[str, list[int]]
) -> None:
    import torch

    threads = torch.get_num_threads()
    kw: dict[str, Any] = {"batch_seconds": 2.0, "show_progress": False}
    run_extraction(workdir, ["rec-a", "rec-b", "acoustic"], parallel=True, **kw)
    assert torch.get_num_threads() == threads  # lanes restore torch's setting
    sequential = Workdir(workdir.root.parent / "sequential").ensure()
    write_manifest(signal_manifest, sequential.validated_manifest)
    run_extraction(sequential, ["rec-a", "rec-b", "acoustic"], **kw)
    for name in ("rec-a", "rec-b"):
        pd.testing.assert_frame_equal(
            _comparable(read_features(workdir, name)), _comparable(read_features(sequential, name))
        )
    lanes, alone = (
        read_features(wd, "acoustic").sort_values("utterance_id").reset_index(drop=True)
        for wd in (workdir, sequential)
    )
    assert list(lanes.utterance_id) == list(alone.utterance_id)
    for col in registry.get_spec("acoustic").feature_names:  # one torch thread vs several
        np.testing.assert_allclose(
            np.stack(lanes[col].map(np.atleast_1d)),
            np.stack(alone[col].map(np.atleast_1d)),
            rtol=1e-4,
            atol=1e-5,
            err_msg=col,
        )
