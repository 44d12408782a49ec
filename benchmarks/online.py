"""Online lookup latency of a full feature service (every embedding view, full dimensions).

Compares, in the same run and against the same Redis keys:

- ``raw HMGET (floor)``: redis-py pipelined HMGET of exactly the hash fields, no decoding;
- ``store.online_features``: nordlid's read path (direct Redis read + decode, DataFrame);
- ``reader.read``: the same without building the DataFrame;
- ``Feast get_online_features``: Feast's own API with the feature service.

Usage: ``python benchmarks/online.py [--utterances 256] [--iterations 300]``
(needs Redis: ``REDIS_URL``, default ``redis://127.0.0.1:6379``).  Prints a table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _percentiles(samples: list[float]) -> tuple[float, float]:
    arr = np.asarray(samples) * 1000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


Samples = tuple[list[float], list[float]]
"""(wall seconds, this thread's CPU seconds) per call."""


def _time(fn: Callable[[], Any], iterations: int, warmup: int = 5) -> Samples:
    return _time_interleaved({"fn": fn}, iterations, warmup)["fn"]


def _time_interleaved(
    fns: dict[str, Callable[[], Any]], iterations: int, warmup: int = 5
) -> dict[str, Samples]:
    """Run the variants round-robin so load on a shared machine hits them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out: dict[str, Samples] = {name: ([], []) for name in fns}
    for _ in range(iterations):
        for name, fn in fns.items():
            c0 = time.thread_time()
            t0 = time.perf_counter()
            fn()
            out[name][0].append(time.perf_counter() - t0)
            out[name][1].append(time.thread_time() - c0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--feast-iterations", type=int, default=40)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    )
    args = parser.parse_args(argv)

    workdir_root = Path(tempfile.mkdtemp(prefix="nordlid-bench-online-"))
    project = f"bench_online_{uuid.uuid4().hex[:8]}"
    os.environ.update(
        NORDLID_WORKDIR=str(workdir_root),
        REDIS_URL=args.redis_url,
        NORDLID_FEAST_PROJECT=project,
        FEAST_USAGE="False",
    )
    os.environ.pop("NORDLID_FEAST_REGISTRY", None)

    import redis

    from extractors.registry import all_specs
    from feature_repo import store
    from feature_repo.definitions import LABELS_VIEW
    from feature_repo.synthetic import write_synthetic_features
    from nordlid.workdir import Workdir

    wd = Workdir.from_env().ensure()
    specs = [s for s in all_specs() if any(c.length for c in s.columns)]
    ids = [f"bench-{i:05d}" for i in range(args.utterances)]
    write_synthetic_features(wd, specs, ids)
    store.apply(wd, specs)
    t0 = time.perf_counter()
    store.materialize(wd, views=[s.view_name for s in specs])
    setup_s = time.perf_counter() - t0

    feature_refs = [f"{s.view_name}:{c.name}" for s in specs for c in s.columns]
    dims = sum(c.length or 1 for s in specs for c in s.columns)
    fs = store.get_store(wd)
    from feast import FeatureService

    service = FeatureService(
        name="bench_all_embeddings", features=[fs.get_feature_view(s.view_name) for s in specs]
    )
    fs.apply([service])
    handle = store._handle(wd)
    reader = store._reader(handle, "bench_all_embeddings")
    raw_client = redis.Redis.from_url(args.redis_url)
    rng = np.random.default_rng(0)
    rows: list[tuple[str, ...]] = []
    try:
        for batch in (1, 64):
            picks = [list(rng.choice(ids, size=batch, replace=False)) for _ in range(64)]
            keys = [[reader.redis_key(u) for u in p] for p in picks]
            fields = reader.fields
            counter = iter(range(10**9))

            def floor(
                keys: list[list[bytes]] = keys, fields: list[bytes] = fields, it: Any = counter
            ) -> None:
                pipe = raw_client.pipeline(transaction=False)
                for k in keys[next(it) % len(keys)]:
                    pipe.hmget(k, fields)
                pipe.execute()

            def ours(picks: list[list[str]] = picks, it: Any = counter) -> None:
                df = store.online_features(wd, "bench_all_embeddings", picks[next(it) % len(picks)])
                assert bool(df["found"].all())

            def ours_dict(picks: list[list[str]] = picks, it: Any = counter) -> None:
                reader.read(picks[next(it) % len(picks)])

            def feast_api(picks: list[list[str]] = picks, it: Any = counter) -> None:
                fs.get_online_features(
                    features=service,
                    entity_rows=[{"utterance_id": u} for u in picks[next(it) % len(picks)]],
                    full_feature_names=True,
                ).to_dict()

            n = args.iterations if batch == 1 else max(args.iterations // 4, 20)
            results = _time_interleaved(
                {
                    "raw HMGET (floor)": floor,
                    "store.online_features": ours,
                    "reader.read (no DataFrame)": ours_dict,
                },
                n,
            )
            results["Feast get_online_features"] = _time(feast_api, args.feast_iterations, warmup=2)
            floor_p50 = _percentiles(results["raw HMGET (floor)"][0])[0]
            floor_cpu = _percentiles(results["raw HMGET (floor)"][1])[0]
            for name, (wall, cpu) in results.items():
                p50, p99 = _percentiles(wall)
                c50 = _percentiles(cpu)[0]
                rows.append(
                    (
                        str(batch),
                        name,
                        f"{p50:.3f}",
                        f"{p99:.3f}",
                        f"{p50 / floor_p50:.2f}x",
                        f"{c50:.3f}",
                        f"{c50 / floor_cpu:.2f}x",
                    )
                )
        # sanity: the direct path and Feast return the same numbers
        check = ids[:3]
        ours_df = store.online_features(wd, "bench_all_embeddings", check)
        theirs = fs.get_online_features(
            features=service,
            entity_rows=[{"utterance_id": u} for u in check],
            full_feature_names=True,
        ).to_dict()
        for col in ours_df.columns:
            if "__" in col:
                for a, b in zip(ours_df[col], theirs[col], strict=True):
                    assert np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32)), col
    finally:
        fs.teardown()
        store.close(wd)
        raw_client.close()
        shutil.rmtree(workdir_root, ignore_errors=True)

    print(
        f"\nOnline lookup, full service: {len(specs)} views "
        f"({', '.join(s.view_name for s in specs if s.view_name != LABELS_VIEW)}), "
        f"{len(feature_refs)} features, {dims} float32 values (~{dims * 4 / 1024:.0f} KiB) "
        f"per utterance; {args.utterances} utterances in Redis "
        f"(materialized in {setup_s:.1f} s)"
    )
    header = ("batch", "read path", "p50 ms", "p99 ms", "p50 / floor", "cpu p50 ms", "cpu / floor")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"(python {sys.version.split()[0]}; ratios are against the floor measured in this run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
