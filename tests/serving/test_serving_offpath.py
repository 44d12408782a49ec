"""Work that must not sit on the /v1/identify response path, and shared feature work."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import serving_toys

from serving.pusher import Pusher, PushJob
from serving.request_log import BufferedParquetLog


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    """A voiced-like buzz in 0.4 s bursts with quiet gaps (the VAD finds segments)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16_000)) / 16_000
    buzz = np.sign(np.sin(2 * np.pi * 140 * t)) * 0.2 * np.exp(-((t * 140) % 1) * 4)
    gate = (t % 0.8) < 0.4
    return (buzz * gate + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def test_acoustic_and_quality_views_of_a_request_run_the_vad_once(
    monkeypatch: pytest.MonkeyPatch, vad_calls: list[int]
) -> None:
    from extractors.engine import extract_waves
    from extractors.registry import create
    from serving.adapters import ExtractorFeatureComputer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NORDLID_SQUIM_WEIGHTS", raising=False)
    calls = vad_calls
    wave = _speechlike(3.0, 0)
    computer = ExtractorFeatureComputer(torch_threads=1)
    computer.preload(["acoustic", "quality"])
    out = computer.compute(["acoustic", "quality"], [wave])
    assert calls == [wave.size]  # one VAD pass for both views
    # the very values of the batch extractors run on their own
    calls.clear()
    alone = {v: extract_waves(create(v), [wave])[0] for v in ("acoustic", "quality")}
    assert len(calls) == 2
    for view in ("acoustic", "quality"):
        assert out[view][0].keys() == alone[view].keys()
        for key, value in alone[view].items():
            np.testing.assert_array_equal(out[view][0][key], value)


def test_feature_computation_uses_the_configured_torch_threads_then_restores(
    toy_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from serving.adapters import ExtractorFeatureComputer

    seen: list[int] = []
    original = serving_toys.ToneExtractor.extract

    def recording(self: Any, waves: list[np.ndarray]) -> list[dict[str, object]]:
        seen.append(torch.get_num_threads())
        return original(self, waves)

    monkeypatch.setattr(serving_toys.ToneExtractor, "extract", recording)
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    ExtractorFeatureComputer(torch_threads=wanted).compute(["servetone"], [np.ones(16_000)])
    assert seen == [wanted]
    assert torch.get_num_threads() == before


def test_log_flush_due_on_append_is_written_by_another_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import serving.request_log as request_log

    release = threading.Event()
    writers: list[str] = []
    write_table = request_log.pq.write_table

    def slow_write(table: Any, where: Any) -> None:
        writers.append(threading.current_thread().name)
        release.wait(timeout=60)  # bounded: a request-path write would be stuck here
        write_table(table, where)

    monkeypatch.setattr(request_log.pq, "write_table", slow_write)
    log = BufferedParquetLog(tmp_path / "log", flush_rows=2, background=True)
    log.append({"request_id": "a"})
    log.append({"request_id": "b"})  # due: handed to a flush thread; returns at once
    log.append({"request_id": "c"})  # while that write runs, rows keep buffering
    assert not list((tmp_path / "log").glob("*.parquet"))
    release.set()
    log.join()
    log.flush()  # shutdown: the rest
    assert writers[0] == "nordlid-log-flush"
    assert threading.current_thread().name not in writers[:1]
    frame = pd.read_parquet(tmp_path / "log")
    assert sorted(frame["request_id"]) == ["a", "b", "c"]


def test_push_frames_are_built_on_the_pusher_thread_with_the_request_time() -> None:
    pushed: list[tuple[str, str, pd.DataFrame]] = []

    class Store:
        def push(self, view: str, rows: pd.DataFrame) -> None:
            pushed.append((threading.current_thread().name, view, rows))

        def ping(self) -> None: ...

        def online_features(self, service: str, ids: list[str]) -> Any:
            raise AssertionError("not read")

    results: list[tuple[str, bool]] = []
    pusher = Pusher(Store(), on_result=lambda view, ok: results.append((view, ok)))
    pusher.start()
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = {"vec": np.arange(3, dtype=np.float32), "x": 1.5}
    pusher.submit(PushJob("acoustic", "req-1", row, at))
    pusher.join()
    pusher.stop()
    ((thread, view, frame),) = pushed
    assert (thread, view) == ("nordlid-pusher", "acoustic")
    assert frame["utterance_id"].tolist() == ["req-1"]
    assert frame["event_timestamp"].iloc[0] == pd.Timestamp(at)
    assert frame["vec"].iloc[0] == [0.0, 1.0, 2.0] and frame["x"].iloc[0] == 1.5
    assert results == [("acoustic", True)]


def _jobs(view: str, n: int, start: int = 0) -> list[PushJob]:
    return [
        PushJob(view, f"{view}-{i}", {"vec": np.full(2, i, dtype=np.float32)})
        for i in range(start, start + n)
    ]


def test_queued_pushes_are_coalesced_per_view_with_every_row_counted() -> None:
    from serving.errors import OnlineStoreUnavailableError

    pushed: list[tuple[str, list[str]]] = []

    class Store:
        down = False

        def push(self, view: str, rows: pd.DataFrame) -> None:
            if self.down:
                raise OnlineStoreUnavailableError("redis is down")
            pushed.append((view, rows["utterance_id"].tolist()))

        def ping(self) -> None: ...

        def online_features(self, service: str, ids: list[str]) -> Any:
            raise AssertionError("not read")

    results: list[tuple[str, bool]] = []
    store = Store()
    pusher = Pusher(
        store,
        max_batch=4,
        attempts=2,
        backoff_s=0.0,
        on_result=lambda v, ok: results.append((v, ok)),
    )
    for job in _jobs("a", 4) + _jobs("b", 2) + _jobs("a", 2, start=4):
        pusher.submit(job)  # queued before the worker starts: the batches are deterministic
    pusher.start()
    pusher.join()
    # batches of at most 4 queued rows, each written as one push per view
    assert pushed == [
        ("a", ["a-0", "a-1", "a-2", "a-3"]),
        ("b", ["b-0", "b-1"]),
        ("a", ["a-4", "a-5"]),
    ]
    assert results.count(("a", True)) == 6 and results.count(("b", True)) == 2

    # a failed batch drops (and counts) every row in it
    store.down = True
    results.clear()
    pusher.stop()
    for job in _jobs("b", 3, start=10):
        pusher.submit(job)
    pusher.start()
    pusher.join()
    pusher.stop()
    assert results == [("b", False)] * 3
    assert pusher.dropped == 3


def test_compute_slots_default_to_the_usable_cpus() -> None:
    import os

    from serving.settings import ServingSettings

    assert ServingSettings().compute_slots() == len(os.sched_getaffinity(0))
    assert ServingSettings(compute_threads=3).compute_slots() == 3


@pytest.mark.integration
def test_identify_feature_work_runs_at_most_compute_threads_at_once(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from serving_toys import tone, wav_bytes

    lock = threading.Lock()
    inside = [0]
    most = [0]
    other_arrived = threading.Event()
    original = serving_toys.ToneExtractor.extract

    def overlapping(self: Any, waves: list[np.ndarray]) -> list[dict[str, object]]:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            if inside[0] > 1:
                other_arrived.set()
        # bounded wait that a second request inside at the same time would cut short
        other_arrived.wait(timeout=1.0)
        with lock:
            inside[0] -= 1
        return original(self, waves)

    monkeypatch.setattr(serving_toys.ToneExtractor, "extract", overlapping)
    client = make_client(premium_model="", compute_threads=1, worker_threads=4)
    body = wav_bytes(tone("da", 1.2, rng=np.random.default_rng(0)))

    def post(_: int) -> int:
        files = {"file": ("x.wav", body, "audio/wav")}
        return int(client.post("/v1/identify", files=files).status_code)

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(post, range(3))) == [200, 200, 200]
    assert most[0] == 1


def test_instance_pool_lends_each_instance_to_one_thread_at_a_time() -> None:
    from serving.instances import InstancePool

    made: list[object] = []

    def make() -> object:
        made.append(object())
        return made[-1]

    pool: InstancePool[object] = InstancePool(make, 2)
    got: list[object] = []
    with pool.use() as a, pool.use() as b:
        assert a is not b and pool.made == 2
        waiter = threading.Thread(target=lambda: got.append(pool.use().__enter__()))
        waiter.start()
        waiter.join(timeout=0.5)  # bounded: it must still be waiting for a free instance
        assert waiter.is_alive() and got == []
    waiter.join()
    assert got[0] in (a, b) and pool.made == 2 and len(made) == 2
    with pytest.raises(ValueError, match="at least 1"):
        InstancePool(make, 0)


def test_extractors_with_weights_keep_one_instance(
    toy_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from serving.adapters import ExtractorFeatureComputer

    def weighted_init(self: Any) -> None:
        self.spec = dataclasses.replace(serving_toys.fine_spec(), needs_weights=True)

    monkeypatch.setattr(serving_toys.FineExtractor, "__init__", weighted_init)
    computer = ExtractorFeatureComputer(replicas=3)
    assert computer.capacity("servetone") == 3  # weight-free: replicas
    assert computer.capacity("servefine") == 1  # one copy of the weights


def test_rows_the_store_rejects_are_dropped_and_the_worker_lives_on() -> None:
    pushed: list[list[str]] = []

    class Store:
        def push(self, view: str, rows: pd.DataFrame) -> None:
            if "bad" in view:
                raise ValueError(f"column 'vec' of {view} expects 2 floats")
            pushed.append(rows["utterance_id"].tolist())

        def ping(self) -> None: ...

        def online_features(self, service: str, ids: list[str]) -> Any:
            raise AssertionError("not read")

    results: list[tuple[str, bool]] = []
    pusher = Pusher(Store(), attempts=3, on_result=lambda view, ok: results.append((view, ok)))
    pusher.start()
    for job in _jobs("bad", 2):
        pusher.submit(job)
    pusher.join()
    for job in _jobs("good", 1):
        pusher.submit(job)
    pusher.join()
    pusher.stop()
    assert results == [("bad", False), ("bad", False), ("good", True)]
    assert pushed == [["good-0"]]
    assert pusher.dropped == 2 and pusher.pushed == 1
