"""Materialization throughput of wide rows (every embedding view, full dimensions) into Redis.

Runs each config on synthetic Parquet files, each into its own Feast project (removed
afterwards), and prints rows/s, the ratio against Feast's defaults measured in the same run,
the CPU seconds spent by this process and by the Redis server, the time extrapolated to
55,000 utterances, and the ratios of :data:`RATIOS`.  Usage::

    python benchmarks/materialize.py [--rows 5000] [--feast-rows 300] [--configs stock-cli,...]

The configs compare, in one run: ``feast materialize-incremental`` from Feast's CLI through
nordlid's plugins (``plugin-cli``: feature_repo/redis_plugin.py, selected by the generated
``feature_store.yaml``) and on Feast's stock Redis store and engine (``stock-cli``), the same
plugins in this process (``direct``), the plugin store under Feast's engine
(``plugin-feast-engine``) and today's direct writer called on its own (``writer``).

Feast's own engine converts every float in Python (46–95 rows/s here), so the configs on
it run on ``--feast-rows`` utterances (a prefix of the same ids, in files of their own);
every other config runs on ``--rows``.  Rows/s are compared, not times (the CLI configs
include the CLI's start-up).  Needs Redis (``REDIS_URL``, default ``redis://127.0.0.1:6379``);
Redis holds about ``rows × 92 KiB`` during each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

TARGET_ROWS = 55_000

CONFIGS: dict[str, dict[str, Any]] = {
    # Feast's defaults: its local engine and its stock Redis store (``type: redis``), every
    # row of a view converted and written in one batch, with the read-before-write check.
    "default": {
        "materialize_engine": "feast",
        "write_batch_size": None,
        "redis_skip_dedup": False,
        "online_type": "redis",
    },
    "feast-batch2000": {
        "materialize_engine": "feast",
        "write_batch_size": 2000,
        "redis_skip_dedup": False,
        "online_type": "redis",
    },
    "feast-skipdedup": {
        "materialize_engine": "feast",
        "write_batch_size": 2000,
        "redis_skip_dedup": True,
        "online_type": "redis",
    },
    # `feast materialize-incremental` from Feast's CLI (a process of its own, startup
    # included) on the stock Redis store and local engine
    "stock-cli": {
        "materialize_engine": "feast",
        "write_batch_size": 2000,
        "redis_skip_dedup": False,
        "online_type": "redis",
        "mode": "cli",
    },
    # nordlid's online store plugin under Feast's engine: Feast still converts every value
    # to protobuf, the plugin sends the packed HSETs
    "plugin-feast-engine": {
        "materialize_engine": "feast",
        "write_batch_size": 2000,
        "redis_skip_dedup": False,
    },
    # today's direct writer called on its own (feature_repo.redis_writer.write_view per view
    # and the registry bookkeeping; no Feast materialization call)
    "writer": {
        "materialize_engine": "direct",
        "write_batch_size": 500,
        "redis_skip_dedup": False,
        "mode": "writer",
    },
    # the plugins (engine + online store) through FeatureStore.materialize_incremental, in
    # this process (what `nordlid features materialize` runs) ...
    "direct": {"materialize_engine": "direct", "write_batch_size": 500, "redis_skip_dedup": False},
    # ... and through Feast's CLI, `feast materialize-incremental` (startup included)
    "plugin-cli": {
        "materialize_engine": "direct",
        "write_batch_size": 500,
        "redis_skip_dedup": False,
        "mode": "cli",
    },
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
RATIOS = (
    ("plugin-cli", "writer"),
    ("plugin-cli", "stock-cli"),
    ("direct", "writer"),
    ("direct", "feast-batch2000"),
    ("plugin-feast-engine", "feast-batch2000"),
)
"""(config, against) pairs printed as ratios of rows/s when both ran."""
_NOT_SETTINGS = ("overlap", "batch_cap", "online_type", "mode")


def _redis_cpu(url: str) -> float:
    import redis

    client = redis.Redis.from_url(url)
    try:
        info: dict[str, Any] = client.info("cpu")  # type: ignore[assignment]
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    finally:
        client.close()


_CLI = (
    "import sys, time\n"
    "from feast.cli.cli import cli\n"
    "t0 = time.perf_counter()\n"
    "try:\n"
    "    cli.main(sys.argv[1:], prog_name='feast', standalone_mode=False)\n"
    "finally:\n"
    "    print(f'COMMAND_S {time.perf_counter() - t0}', file=sys.stderr)\n"
)
"""Feast's CLI (``feast ...``) with the time of the command itself, after ``import feast``."""


def _feast_cli(wd: Any, command: list[str]) -> tuple[float, float]:
    """Run Feast's CLI on the generated configuration in a process of its own: (wall time of
    the process, time of the command after Feast's imports), in seconds."""
    from feature_repo.config import REPO_DIR

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", _CLI, "-c", str(REPO_DIR)]
    args += ["-f", str(wd.feast / "feature_store.yaml"), *command]
    t0 = time.perf_counter()
    done = subprocess.run(
        args, env=env, cwd=wd.feast, check=True, capture_output=True, text=True, timeout=3600
    )
    wall = time.perf_counter() - t0
    return wall, float(done.stderr.rsplit("COMMAND_S ", 1)[1].split()[0])


def _materialize_cli(wd: Any, views: list[str]) -> tuple[float, float]:
    """``feast materialize-incremental`` from Feast's CLI: (wall time of the process, the
    CLI's fixed cost: start-up and ``import feast``)."""
    end = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    wall, command = _feast_cli(
        wd, ["materialize-incremental", end, *(a for v in views for a in ("-v", v))]
    )
    return wall, wall - command


def _materialize_writer(wd: Any, views: list[str], settings: Any) -> None:
    """Today's direct writer on its own: ``write_view`` per view, then the registry."""
    import redis

    from feature_repo import store
    from feature_repo.definitions import FEATURE_TTL
    from feature_repo.redis_writer import write_view
    from feature_repo.validate import parquet_files

    fs = store.get_store(wd)
    client = redis.Redis(**settings.redis.client_kwargs())
    end = datetime.now(UTC)
    try:
        for fv in fs.list_feature_views():
            if fv.name not in views:
                continue
            start = fv.most_recent_end_time or end - (fv.ttl or FEATURE_TTL)
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
            paths = parquet_files(Path(str(getattr(fv.batch_source, "path", ""))))
            write_view(client, settings.project, fv, paths, start, end, batch_rows=500)
            fs.registry.apply_materialization(fv, fs.project, start, end)
    finally:
        client.close()


def _run(wd: Any, specs: list[Any], cfg: dict[str, Any], redis_url: str) -> dict[str, float]:
    from feature_repo import config, redis_plugin, store
    from feature_repo.settings import settings_from_env

    overrides = {k: v for k, v in cfg.items() if k not in _NOT_SETTINGS}
    project = f"bench_mat_{uuid.uuid4().hex[:8]}"
    os.environ["NORDLID_FEAST_PROJECT"] = project
    settings = settings_from_env(wd, **overrides)
    # the store module reads settings from the environment; install these ones
    store.close(wd)
    store._SETTINGS[(str(wd.root), *(os.environ.get(v) for v in store.ENV_VARS))] = settings
    saved = (config.ONLINE_STORE_TYPE, redis_plugin.DIRECT_OVERLAP, redis_plugin.DIRECT_BATCH_ROWS)
    config.ONLINE_STORE_TYPE = cfg.get("online_type", saved[0])
    redis_plugin.DIRECT_OVERLAP = cfg.get("overlap", True)
    redis_plugin.DIRECT_BATCH_ROWS = cfg.get("batch_cap", saved[2])
    views = [s.view_name for s in specs]
    try:
        store.apply(wd, specs)
        (wd.feast / "checked_files.json").unlink(missing_ok=True)
        t0 = time.perf_counter()
        store.check_feature_files(wd)
        t1 = time.perf_counter()
        mode = cfg.get("mode", "store")
        if mode == "cli":  # warm the file cache of the CLI's imports
            _feast_cli(wd, ["feature-views", "list"])
        startup = 0.0
        cpu0, redis0 = time.process_time(), _redis_cpu(redis_url)
        t2 = time.perf_counter()
        if mode == "cli":
            elapsed, startup = _materialize_cli(wd, views)
            t3 = t2 + elapsed
        else:
            if mode == "writer":
                _materialize_writer(wd, views, settings)
            else:
                result = store.materialize(wd, views=views)
                assert set(result.materialized) == set(views)
            t3 = time.perf_counter()
        cpu = time.process_time() - cpu0
        redis_cpu = _redis_cpu(redis_url) - redis0
        return {
            "validate_s": t1 - t0,
            "materialize_s": t3 - t2,
            "cpu_s": cpu,
            "redis_cpu_s": redis_cpu,
            "startup_s": startup,
        }
    finally:
        config.ONLINE_STORE_TYPE, redis_plugin.DIRECT_OVERLAP = saved[0], saved[1]
        redis_plugin.DIRECT_BATCH_ROWS = saved[2]
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
    parser.add_argument(
        "--configs",
        default="feast-batch2000,stock-cli,plugin-feast-engine,writer,direct,plugin-cli",
    )
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
        engine += f" {cfg.get('mode', 'store')} {cfg.get('online_type', 'plugin')}"
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

    def net(name: str) -> float:
        """rows/s without the CLI's start-up (the same as rps for in-process configs)."""
        res = results[name]
        return res["rows"] / max(res["materialize_s"] - res["startup_s"], 1e-9)

    for name in names:
        if results[name]["startup_s"]:
            print(
                f"{name}: CLI start-up and import feast "
                f"{results[name]['startup_s']:.1f} s; "
                f"{net(name):.0f} rows/s without it"
            )
    for name, against in RATIOS:
        if name in results and against in results:
            print(
                f"{name} / {against}: {rps(name) / rps(against):.2f}x rows/s "
                f"({net(name) / net(against):.2f}x without CLI start-up)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
