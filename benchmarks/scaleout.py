"""Scale-out benchmark: local engine vs Ray engine, Feast materialization, storage per row.

Everything runs in this one invocation on this machine, and every speed is reported as a
ratio against a baseline measured in the same run:

1. extraction — ``extractors.engine.run_extraction`` vs ``extractors.ray_engine.run_extraction_ray``
   (local Ray instance, ``--ray-cpus`` CPUs) on the same synthetic corpus and extractor
   (``acoustic``: weight-free, so the comparison is pure engine overhead);
2. materialization — random feature tables with the registry's real dimensions (every
   extractor: ~23.7k float32 per utterance) materialized into Redis with Feast's local engine
   at several ``online_write_batch_size`` values and with Feast's Ray engine at several
   ``write_concurrency`` values;
3. storage and lookups — Parquet bytes per row (zstd, as the extractors write them), Redis
   memory per utterance (``MEMORY USAGE`` of every key), online lookup latency of
   ``store.online_features`` for one id and for 32 ids.

The capacity estimate in docs/scale-out.md is derived from these per-row figures.

    .venv/bin/python benchmarks/scaleout.py [--per-language 6] [--rows 300] [--skip-ray]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nordlid.workdir import Workdir  # noqa: E402

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    return "\n".join([line, sep, *body])


@contextmanager
def env(**values: str | None) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


# --------------------------------------------------------------------------------------
# 1. extraction
# --------------------------------------------------------------------------------------
def bench_extraction(root: Path, per_language: int, ray_cpus: int) -> None:
    import ray

    from corpus.synth import synthesize
    from extractors.engine import run_extraction
    from extractors.ray_engine import run_extraction_ray

    manifest = synthesize(root / "corpus", per_language=per_language, seed=3)
    audio_s = float(manifest["duration_s"].sum())
    print(f"\n## Extraction: {len(manifest)} utterances, {audio_s:.0f} s of audio, `acoustic`\n")

    local_s, local = timed(
        lambda: run_extraction(
            Workdir(root / "local").ensure(),
            ["acoustic"],
            manifest=manifest,
            device="cpu",
            show_progress=False,
        )
    )
    init_s, _ = timed(
        lambda: ray.init(
            num_cpus=ray_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        cold_s, cold = timed(
            lambda: run_extraction_ray(
                Workdir(root / "ray1").ensure(),
                ["acoustic"],
                manifest=manifest,
                show_progress=False,
            )
        )
        warm_s, _ = timed(
            lambda: run_extraction_ray(
                Workdir(root / "ray2").ensure(),
                ["acoustic"],
                manifest=manifest,
                show_progress=False,
            )
        )
    finally:
        ray.shutdown()
    assert local["acoustic"].extracted == cold["acoustic"].extracted == len(manifest)
    rows = [
        ["local engine (baseline)", f"{local_s:.1f}", f"{len(manifest) / local_s:.2f}", "1.00"],
        [f"Ray start (local, {ray_cpus} CPUs)", f"{init_s:.1f}", "", f"{init_s / local_s:.2f}"],
        [
            "Ray engine, first job",
            f"{cold_s:.1f}",
            f"{len(manifest) / cold_s:.2f}",
            f"{cold_s / local_s:.2f}",
        ],
        [
            "Ray engine, second job",
            f"{warm_s:.1f}",
            f"{len(manifest) / warm_s:.2f}",
            f"{warm_s / local_s:.2f}",
        ],
    ]
    print(table(["run", "wall s", "utt/s", "time ÷ local"], rows))


# --------------------------------------------------------------------------------------
# 2 + 3. Feast: materialization, storage, lookups
# --------------------------------------------------------------------------------------
def write_feature_tables(
    workdir: Workdir, n: int, seed: int = 0
) -> tuple[dict[str, int], dict[str, int]]:
    """Random features with the real registry dimensions; Parquet bytes per view as the
    extractors write them (zstd, pyarrow defaults) and without dictionary encoding of the
    vectors (with byte-stream-split), written to a scratch file."""
    from extractors.registry import all_specs

    rng = np.random.default_rng(seed)
    ids = [f"utt{i:07d}" for i in range(n)]
    sizes: dict[str, int] = {}
    plain: dict[str, int] = {}
    for spec in all_specs():
        cols: dict[str, object] = {
            "utterance_id": ids,
            "event_timestamp": [T0] * n,
            "created_timestamp": [T0] * n,
        }
        for c in spec.columns:
            if c.length is not None:
                flat = rng.standard_normal(n * c.length).astype(np.float32)
                offsets = pa.array(np.arange(n + 1, dtype=np.int32) * c.length)
                cols[c.name] = pa.ListArray.from_arrays(offsets, pa.array(flat))
            elif c.dtype == "int64":
                cols[c.name] = rng.integers(0, 1000, n)
            elif c.dtype == "string":
                cols[c.name] = [f"s{i}" for i in range(n)]
            else:
                cols[c.name] = rng.standard_normal(n).astype(c.dtype)
        data = pa.Table.from_pydict(cols, schema=spec.arrow_schema())
        out = workdir.feature_dir(spec.name)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "part-bench.parquet"
        pq.write_table(data, path, compression="zstd")
        sizes[spec.view_name] = path.stat().st_size
        vectors = [c.name for c in spec.columns if c.length is not None]
        scratch = workdir.root / "scratch.parquet"
        pq.write_table(
            data,
            scratch,
            compression="zstd",
            use_dictionary=[c for c in data.column_names if c not in vectors],
            use_byte_stream_split=vectors or False,
        )
        plain[spec.view_name] = scratch.stat().st_size
        scratch.unlink()
    langs = ["da", "fo", "is", "no", "sv"]
    workdir.validated_manifest.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "utterance_id": ids,
            "language": [langs[i % 5] for i in range(n)],
            "split": ["train"] * n,
            "source": ["synthetic"] * n,
            "speaker_id": [f"spk{i % 50}" for i in range(n)],
            "gender": ["female"] * n,
            "duration_s": np.full(n, 4.0),
            "event_timestamp": pd.to_datetime([T0] * n, utc=True),
        }
    ).to_parquet(workdir.validated_manifest, index=False)
    return sizes, plain


def _drop_project(redis_url: str, project: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=b"*" + project.encode(), count=1000))
    for k in range(0, len(keys), 500):
        client.delete(*keys[k : k + 500])
    client.close()


def _redis_bytes(redis_url: str, project: str) -> tuple[int, int]:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=b"*" + project.encode(), count=1000))
    total = 0
    for k in keys:
        used: Any = client.memory_usage(k, samples=0)
        total += int(used or 0)
    client.close()
    return len(keys), total


def _materialize_local(
    workdir: Workdir, redis_url: str, batch: int, views: list[str] | None = None
) -> tuple[float, str]:
    from feature_repo import store

    project = f"bench_{uuid.uuid4().hex[:8]}"
    with env(
        REDIS_URL=redis_url,
        NORDLID_FEAST_PROJECT=project,
        NORDLID_FEAST_WRITE_BATCH=str(batch),
        NORDLID_FEAST_REGISTRY=None,
    ):
        store.apply(workdir)
        seconds, _ = timed(lambda: store.materialize(workdir, views=views))
    return seconds, project


def _materialize_ray(
    workdir: Workdir, redis_url: str, batch: int, concurrency: int, views: list[str] | None = None
) -> tuple[float, str]:
    from feature_repo import store
    from feature_repo.scale_out import ScaleOutSettings, materialize_scaled

    project = f"bench_{uuid.uuid4().hex[:8]}"
    with env(
        REDIS_URL=redis_url,
        NORDLID_FEAST_PROJECT=project,
        NORDLID_FEAST_WRITE_BATCH=str(batch),
        NORDLID_FEAST_REGISTRY=None,
    ):
        store.apply(workdir)
        scale = ScaleOutSettings(
            batch_engine="ray", offline_store="ray", write_concurrency=concurrency
        )
        seconds, _ = timed(lambda: materialize_scaled(workdir, scale, views=views))
    return seconds, project


def _lookup_latency(
    workdir: Workdir,
    redis_url: str,
    project: str,
    n: int,
    service: str,
    batch: int,
    repeats: int = 60,
) -> float:
    from feature_repo import store

    rng = np.random.default_rng(1)
    with env(REDIS_URL=redis_url, NORDLID_FEAST_PROJECT=project, NORDLID_FEAST_REGISTRY=None):
        store.online_features(workdir, service, ["utt0000000"])  # warm the reader
        times = []
        for _ in range(repeats):
            ids = [f"utt{i:07d}" for i in rng.integers(0, n, batch)]
            start = time.perf_counter()
            frame = store.online_features(workdir, service, ids)
            times.append(time.perf_counter() - start)
            assert bool(frame["found"].all())
    return statistics.median(times) * 1000


def bench_feast(root: Path, rows: int, redis_url: str, skip_ray: bool) -> None:
    from feature_repo import store

    print(f"\n## Feast: {rows} utterances × every extractor's features (real dimensions)\n")
    workdir = Workdir(root / "feast").ensure()
    sizes, plain = write_feature_tables(workdir, rows)
    total_floats = 0
    from extractors.registry import all_specs

    for spec in all_specs():
        total_floats += spec.total_dim
    parquet_per_row = sum(sizes.values()) / rows
    print(
        table(
            ["view", "Parquet B/row (zstd, as written)", "B/row (no dict, byte-stream-split)"],
            [[v, f"{b / rows:,.0f}", f"{plain[v] / rows:,.0f}"] for v, b in sizes.items()]
            + [
                ["all views", f"{parquet_per_row:,.0f}", f"{sum(plain.values()) / rows:,.0f}"],
                ["raw float32", f"{4 * total_floats:,}", ""],
            ],
        )
    )

    projects: list[str] = []
    try:
        # every view once (the figures per utterance), then one heavy view per setting
        full_s, best_project = _materialize_local(workdir, redis_url, 2000)
        projects.append(best_project)
        store.close(workdir)
        print()
        print(
            table(
                ["materialization, all views → Redis", "wall s", "ms/utterance"],
                [
                    [
                        "local engine, online_write_batch_size=2000",
                        f"{full_s:.1f}",
                        f"{1000 * full_s / rows:.1f}",
                    ]
                ],
            )
        )
        view = ["xlsr"]
        results: list[list[str]] = []
        baseline: float | None = None
        for batch in (2000, 200):
            seconds, project = _materialize_local(workdir, redis_url, batch, view)
            projects.append(project)
            store.close(workdir)
            baseline = baseline or seconds
            results.append(
                [
                    f"local engine, online_write_batch_size={batch}",
                    f"{seconds:.1f}",
                    f"{1000 * seconds / rows:.2f}",
                    f"{seconds / baseline:.2f}",
                ]
            )
        if not skip_ray:
            import ray

            ray.init(
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
            try:
                seconds, project = _materialize_ray(workdir, redis_url, 2000, 2, view)
                projects.append(project)
                store.close(workdir)
                results.append(
                    [
                        "Ray: first job (starts Ray Data workers), concurrency=2",
                        f"{seconds:.1f}",
                        f"{1000 * seconds / rows:.2f}",
                        f"{seconds / (baseline or seconds):.2f}",
                    ]
                )
                for concurrency in (1, 2, 4):
                    seconds, project = _materialize_ray(workdir, redis_url, 2000, concurrency, view)
                    projects.append(project)
                    store.close(workdir)
                    assert baseline is not None
                    results.append(
                        [
                            f"Ray engine + Ray offline store, write_concurrency={concurrency}",
                            f"{seconds:.1f}",
                            f"{1000 * seconds / rows:.2f}",
                            f"{seconds / baseline:.2f}",
                        ]
                    )
            finally:
                ray.shutdown()
        print()
        print(
            table(
                [
                    "materialization, view xlsr (32 KiB/row) → Redis",
                    "wall s",
                    "ms/utterance",
                    "time ÷ first",
                ],
                results,
            )
        )

        keys, used = _redis_bytes(redis_url, best_project)

        def lookup(service: str, batch: int) -> str:
            ms = _lookup_latency(workdir, redis_url, best_project, rows, service, batch)
            return f"{ms:.2f} ms"

        print()
        print(
            table(
                ["Redis (single node)", "value"],
                [
                    ["keys per utterance", f"{keys / rows:.2f}"],
                    ["memory per utterance, all views (MEMORY USAGE)", f"{used / rows:,.0f} B"],
                    ["lookup p50, lid_premium, 1 id", lookup("lid_premium", 1)],
                    ["lookup p50, lid_premium, 32 ids", lookup("lid_premium", 32)],
                    ["lookup p50, lid_xlsr, 1 id", lookup("lid_xlsr", 1)],
                ],
            )
        )
    finally:
        for project in projects:
            _drop_project(redis_url, project)
        store.close(workdir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--per-language",
        type=int,
        default=6,
        help="synthetic utterances per language for the extraction comparison",
    )
    parser.add_argument("--rows", type=int, default=300, help="utterances for the Feast part")
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    )
    parser.add_argument("--skip-ray", action="store_true", help="Feast part: local engine only")
    parser.add_argument("--only", choices=("extraction", "feast"), default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("FEAST_USAGE", "False")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="nordlid-scaleout-") as tmp:
        root = Path(tmp)
        if args.only in (None, "extraction"):
            bench_extraction(root, args.per_language, args.ray_cpus)
        if args.only in (None, "feast"):
            bench_feast(root, args.rows, args.redis_url, args.skip_ray)


if __name__ == "__main__":
    main()
