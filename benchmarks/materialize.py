"""Materialization throughput of wide rows (every embedding view, full dimensions) into Redis.

Runs ``feature_repo.store.materialize`` on the same synthetic Parquet files under several
settings, each into its own Feast project (removed afterwards), and prints rows/s, the
ratio against Feast's defaults measured in the same run, and the time extrapolated to
55,000 utterances.  Usage::

    python benchmarks/materialize.py [--rows 5000] [--configs default,direct,...]

Needs Redis (``REDIS_URL``, default ``redis://127.0.0.1:6379``); Redis holds about
``rows × 92 KiB`` during each run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

TARGET_ROWS = 55_000

CONFIGS: dict[str, dict[str, Any]] = {
    # Feast's defaults: its local engine, every row of a view converted and written in one
    # batch, with the read-before-write timestamp check of the Redis store.
    "default": {"materialize_engine": "feast", "write_batch_size": None,
                "redis_skip_dedup": False},
    "feast-batch2000": {"materialize_engine": "feast", "write_batch_size": 2000,
                        "redis_skip_dedup": False},
    "feast-skipdedup": {"materialize_engine": "feast", "write_batch_size": 2000,
                        "redis_skip_dedup": True},
    # nordlid's direct writer (same Redis bytes, see feature_repo/redis_writer.py)
    "direct": {"materialize_engine": "direct", "write_batch_size": 500,
               "redis_skip_dedup": False},
    "direct-skipdedup": {"materialize_engine": "direct", "write_batch_size": 500,
                         "redis_skip_dedup": True},
}


def _run(wd: Any, specs: list[Any], overrides: dict[str, Any]) -> dict[str, float]:
    from feature_repo import store
    from feature_repo.settings import settings_from_env

    project = f"bench_mat_{uuid.uuid4().hex[:8]}"
    os.environ["NORDLID_FEAST_PROJECT"] = project
    settings = settings_from_env(wd, **overrides)
    # the store module reads settings from the environment; install these ones
    store.close(wd)
    store._SETTINGS[(str(wd.root), *(os.environ.get(v) for v in store.ENV_VARS))] = settings
    try:
        store.apply(wd, specs)
        (wd.feast / "checked_files.json").unlink(missing_ok=True)
        t0 = time.perf_counter()
        store.check_feature_files(wd)
        t1 = time.perf_counter()
        result = store.materialize(wd, views=[s.view_name for s in specs])
        t2 = time.perf_counter()
        assert set(result.materialized) == {s.view_name for s in specs}
        return {"validate_s": t1 - t0, "materialize_s": t2 - t1}
    finally:
        store.get_store(wd).teardown()
        store.close(wd)
        store._SETTINGS.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--configs", default="default,feast-batch2000,direct,direct-skipdedup")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {', '.join(CONFIGS)}")

    root = Path(tempfile.mkdtemp(prefix="nordlid-bench-mat-"))
    os.environ.update(NORDLID_WORKDIR=str(root), REDIS_URL=args.redis_url, FEAST_USAGE="False")
    os.environ.pop("NORDLID_FEAST_REGISTRY", None)

    from extractors.registry import all_specs
    from feature_repo.synthetic import write_synthetic_features
    from nordlid.workdir import Workdir

    wd = Workdir.from_env().ensure()
    specs = [s for s in all_specs() if any(c.length for c in s.columns)]
    ids = [f"mat-{i:06d}" for i in range(args.rows)]
    t0 = time.perf_counter()
    write_synthetic_features(wd, specs, ids)
    gen_s = time.perf_counter() - t0
    dims = sum(c.length or 1 for s in specs for c in s.columns)
    size_mb = sum(p.stat().st_size for p in wd.features.rglob("*.parquet")) / 2**20

    results: dict[str, dict[str, float]] = {}
    for name in names:
        results[name] = _run(wd, specs, CONFIGS[name])
        print(f"{name}: {results[name]}", flush=True)

    base = results.get("default") or results[names[0]]
    base_rps = args.rows / base["materialize_s"]
    print(f"\nMaterialization into Redis: {args.rows} utterances x {len(specs)} views "
          f"({', '.join(s.view_name for s in specs)}), {dims} float32 values per utterance; "
          f"Parquet {size_mb:.0f} MiB (generated in {gen_s:.1f} s)")
    header = ("config", "engine", "batch", "skip_dedup", "validate s", "materialize s", "rows/s",
              "vs default", f"{TARGET_ROWS} rows (s)")
    table_rows: list[tuple[str, ...]] = []
    for name in names:
        res = results[name]
        rps = args.rows / res["materialize_s"]
        total = (res["materialize_s"] + res["validate_s"]) * TARGET_ROWS / args.rows
        cfg = CONFIGS[name]
        table_rows.append((
            name, cfg["materialize_engine"], str(cfg["write_batch_size"]),
            str(cfg["redis_skip_dedup"]), f"{res['validate_s']:.1f}",
            f"{res['materialize_s']:.1f}", f"{rps:.0f}", f"{rps / base_rps:.2f}x", f"{total:.0f}",
        ))
    widths = [max(len(h), *(len(r[i]) for r in table_rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in table_rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"(extrapolated linearly from {args.rows} rows; validation included in the "
          f"{TARGET_ROWS}-row column; ratios against 'default' measured in this run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
