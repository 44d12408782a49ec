"""Materialization throughput of wide rows (every embedding view, full dimensions) into Redis.

Runs ``feature_repo.store.materialize`` on synthetic Parquet files under several settings,
each into its own Feast project (removed afterwards), and prints rows/s, the ratio against
Feast's defaults measured in the same run, the CPU seconds spent by this process and by the
Redis server, and the time extrapolated to 55,000 utterances.  Usage::

    python benchmarks/materialize.py [--rows 5000] [--feast-rows 300] [--configs default,direct,...]

Feast's own engine converts every float in Python (46–95 rows/s here), so the ``feast*``
configs run on ``--feast-rows`` utterances (a prefix of the same ids, in files of their own);
every other config runs on ``--rows``.  Rows/s are compared, not times.  Needs Redis (``REDIS_URL``,
default ``redis://127.0.0.1:6379``); Redis holds about ``rows × 92 KiB`` during each run.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

TARGET_ROWS = 55_000

CONFIGS: dict[str, dict[str, Any]] = {
    # Feast's defaults: its local engine, every row of a view converted and written in one
    # batch, with the read-before-write timestamp check of the Redis store.
    "default": {"materialize_engine": "feast", "write_batch_size": None, "redis_skip_dedup": False},
    "feast-batch2000": {
        "materialize_engine": "feast",
        "write_batch_size": 2000,
        "redis_skip_dedup": False,
    },
    "feast-skipdedup": {
        "materialize_engine": "feast",
        "write_batch_size": 2000,
        "redis_skip_dedup": True,
    },
    # nordlid's direct writer (same Redis bytes, see feature_repo/redis_writer.py): the
    # default settings (batches of 500 rows, newer-than-stored check, sending overlapped)
    "direct": {"materialize_engine": "direct", "write_batch_size": 500, "redis_skip_dedup": False},
    "direct-skipdedup": {
        "materialize_engine": "direct",
        "write_batch_size": 500,
        "redis_skip_dedup": True,
    },
    "direct-serial": {
        "materialize_engine": "direct",
        "write_batch_size": 500,
        "redis_skip_dedup": False,
        "overlap": False,
    },
    "direct-batch250": {
        "materialize_engine": "direct",
        "write_batch_size": 250,
        "redis_skip_dedup": False,
    },
    # the direct writer caps batches at 500 rows; this lifts the cap to 1000
    "direct-batch1000": {
        "materialize_engine": "direct",
        "write_batch_size": 1000,
        "redis_skip_dedup": False,
        "batch_cap": 1000,
    },
}


def _redis_cpu(url: str) -> float:
    import redis

    client = redis.Redis.from_url(url)
    try:
        info: dict[str, Any] = client.info("cpu")  # type: ignore[assignment]
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    finally:
        client.close()


def _run(wd: Any, specs: list[Any], config: dict[str, Any], redis_url: str) -> dict[str, float]:
    from feature_repo import redis_writer, store
    from feature_repo.settings import settings_from_env

    overrides = {k: v for k, v in config.items() if k not in ("overlap", "batch_cap")}
    project = f"bench_mat_{uuid.uuid4().hex[:8]}"
    os.environ["NORDLID_FEAST_PROJECT"] = project
    settings = settings_from_env(wd, **overrides)
    # the store module reads settings from the environment; install these ones
    store.close(wd)
    store._SETTINGS[(str(wd.root), *(os.environ.get(v) for v in store.ENV_VARS))] = settings
    original, cap = redis_writer.write_view, store._DIRECT_BATCH_ROWS
    if "overlap" in config:
        redis_writer.write_view = functools.partial(original, overlap=config["overlap"])
    store._DIRECT_BATCH_ROWS = config.get("batch_cap", cap)
    try:
        store.apply(wd, specs)
        (wd.feast / "checked_files.json").unlink(missing_ok=True)
        t0 = time.perf_counter()
        store.check_feature_files(wd)
        t1 = time.perf_counter()
        cpu0, redis0 = time.process_time(), _redis_cpu(redis_url)
        t2 = time.perf_counter()
        result = store.materialize(wd, views=[s.view_name for s in specs])
        t3 = time.perf_counter()
        cpu = time.process_time() - cpu0
        redis_cpu = _redis_cpu(redis_url) - redis0
        assert set(result.materialized) == {s.view_name for s in specs}
        return {
            "validate_s": t1 - t0,
            "materialize_s": t3 - t2,
            "cpu_s": cpu,
            "redis_cpu_s": redis_cpu,
        }
    finally:
        redis_writer.write_view, store._DIRECT_BATCH_ROWS = original, cap
        store.get_store(wd).teardown()
        store.close(wd)
        store._SETTINGS.clear()


def _workdir(rows: int, specs: list[Any]) -> tuple[Any, float, float]:
    """A work directory with ``rows`` synthetic utterances: (workdir, seconds, MiB)."""
    from feature_repo.synthetic import write_synthetic_features
    from nordlid.workdir import Workdir

    root = Path(tempfile.mkdtemp(prefix="nordlid-bench-mat-"))
    wd = Workdir(root).ensure()
    t0 = time.perf_counter()
    write_synthetic_features(wd, specs, [f"mat-{i:06d}" for i in range(rows)])
    size = sum(p.stat().st_size for p in wd.features.rglob("*.parquet")) / 2**20
    return wd, time.perf_counter() - t0, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument(
        "--feast-rows",
        type=int,
        default=300,
        help="utterances for the configs that use Feast's engine (slow)",
    )
    parser.add_argument("--configs", default="default,feast-batch2000,direct,direct-skipdedup")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per config, interleaved; the table shows the median run "
        "(the slower middle one for an even count)",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    )
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {', '.join(CONFIGS)}")

    os.environ.update(REDIS_URL=args.redis_url, FEAST_USAGE="False")
    os.environ.pop("NORDLID_FEAST_REGISTRY", None)

    from extractors.registry import all_specs

    specs = [s for s in all_specs() if any(c.length for c in s.columns)]
    dims = sum(c.length or 1 for s in specs for c in s.columns)
    uses_feast = {n: CONFIGS[n]["materialize_engine"] == "feast" for n in names}
    sizes = sorted({args.feast_rows if uses_feast[n] else args.rows for n in names})
    workdirs = {}
    for rows in sizes:
        workdirs[rows] = _workdir(rows, specs)
        print(
            f"{rows} utterances: Parquet {workdirs[rows][2]:.0f} MiB "
            f"(generated in {workdirs[rows][1]:.1f} s)",
            flush=True,
        )

    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    try:
        for _ in range(args.repeat):
            for name in names:
                rows = args.feast_rows if uses_feast[name] else args.rows
                wd = workdirs[rows][0]
                os.environ["NORDLID_WORKDIR"] = str(wd.root)
                runs[name].append({"rows": rows, **_run(wd, specs, CONFIGS[name], args.redis_url)})
                print(f"{name}: {runs[name][-1]}", flush=True)
    finally:
        for wd, _, _ in workdirs.values():
            shutil.rmtree(wd.root, ignore_errors=True)
    results = {
        name: sorted(done, key=lambda r: r["materialize_s"])[len(done) // 2]
        for name, done in runs.items()
    }
    load_after = os.getloadavg()

    def rps(name: str) -> float:
        return results[name]["rows"] / results[name]["materialize_s"]

    base = "default" if "default" in results else names[0]
    print(
        f"\nMaterialization into Redis: {len(specs)} views "
        f"({', '.join(s.view_name for s in specs)}), {dims} float32 values per utterance; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        f"({os.cpu_count()} CPUs)"
    )
    header = (
        "config",
        "engine",
        "batch",
        "skip_dedup",
        "rows",
        "validate s",
        "materialize s",
        "rows/s",
        f"vs {base}",
        "CPU s/1k rows (client+redis)",
        f"{TARGET_ROWS} rows (s)",
    )
    table_rows: list[tuple[str, ...]] = []
    for name in names:
        res = results[name]
        rows = int(res["rows"])
        total = (res["materialize_s"] + res["validate_s"]) * TARGET_ROWS / rows
        cfg = CONFIGS[name]
        engine = cfg["materialize_engine"] + ("" if cfg.get("overlap", True) else " serial")
        table_rows.append(
            (
                name,
                engine,
                str(cfg["write_batch_size"]),
                str(cfg["redis_skip_dedup"]),
                str(rows),
                f"{res['validate_s']:.1f}",
                f"{res['materialize_s']:.1f}",
                f"{rps(name):.0f}",
                f"{rps(name) / rps(base):.1f}x",
                f"{1000 * res['cpu_s'] / rows:.2f}+{1000 * res['redis_cpu_s'] / rows:.2f}",
                f"{total:.0f}",
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in table_rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in table_rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(
        f"(median of {args.repeat} run(s) per config; rates are rows/s of each config's own "
        f"run; Feast-engine configs ran on {args.feast_rows} utterances, the others on "
        f"{args.rows}; the {TARGET_ROWS}-row column "
        f"is extrapolated linearly and includes validation; ratios are within this run)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
