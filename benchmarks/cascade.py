"""The serving cascade against its two stages alone: mini-only, premium-only and the cascade.

In one run, on loopback, three ``nordlid serve`` processes load the models a finished
``nordlid run`` registered (``@mini``, ``@premium`` and the tuned cascade threshold) from a
copy of its work directory, and answer the same held-out files (``data/holdout``, the
``--condition`` rows of its ``labels.tsv``) on ``POST /v1/identify`` at concurrency 1, in
alternating rounds so that the machine's load hits all three alike:

- ``mini only``: ``NORDLID_PREMIUM_MODEL=''`` (no escalation);
- ``premium only``: ``NORDLID_MINI_MODEL=@premium`` and no escalation;
- ``cascade``: the defaults (mini, escalating below its tuned threshold to premium).

The table gives, per service, accuracy on those files, the share answered by mini, latency
p50/p99 and the server's CPU milliseconds per request (user + system of the serving
process, from psutil), plus the ratios against premium-only.

Usage: ``python benchmarks/cascade.py [--workdir .] [--condition clean] [--files 80]
[--rounds 4]`` after ``nordlid run`` (needs Redis: ``REDIS_URL``, default
``redis://127.0.0.1:6379``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import _cpu_seconds, _free_port, _start_nordlid, _wait_http  # noqa: E402

MODES: dict[str, dict[str, str]] = {
    "mini only": {"NORDLID_PREMIUM_MODEL": ""},
    "premium only": {"NORDLID_MINI_MODEL": "@premium", "NORDLID_PREMIUM_MODEL": ""},
    "cascade": {},
}


def _held_out(root: Path, condition: str, files: int) -> list[tuple[bytes, str, str]]:
    """(file bytes, file name, language) of up to ``files`` held-out files, languages mixed."""
    import pandas as pd

    labels_path = root / "data" / "holdout" / "labels.tsv"
    if not labels_path.is_file():
        sys.exit(f"{labels_path} not found: run `nordlid run` first (its holdout stage)")
    labels = pd.read_csv(labels_path, sep="\t")
    rows = labels[labels["condition"] == condition]
    if rows.empty:
        sys.exit(f"{labels_path}: no rows with condition {condition!r}")
    # interleave languages so a short run still covers all of them
    rows = rows.assign(_k=rows.groupby("language").cumcount()).sort_values(["_k", "language"])
    out = []
    for path, lang in zip(rows["path"][:files], rows["language"][:files], strict=True):
        full = root / "data" / "holdout" / path
        out.append((full.read_bytes(), full.name, str(lang)))
    return out


def _work_copy(root: Path, dest: Path) -> None:
    """The models and the Feast registry of ``root``, copied (serving logs stay out of it)."""
    shutil.copytree(root / "models", dest / "models")
    if (root / "data" / "feast").is_dir():
        shutil.copytree(root / "data" / "feast", dest / "data" / "feast")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("."), help="a finished run")
    parser.add_argument("--condition", default="clean", help="held-out condition to send")
    parser.add_argument("--files", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    args = parser.parse_args()

    import httpx

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("FEAST_USAGE", "False")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379")
    root = args.workdir.expanduser().resolve()
    if not (root / "models" / "aliases.json").is_file():
        sys.exit(f"{root}/models/aliases.json not found: run `nordlid run` first")
    clips = _held_out(root, args.condition, args.files)
    tmp = Path(tempfile.mkdtemp(prefix="nordlid-bench-cascade-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    logs: dict[str, Path] = {}
    try:
        for i, (mode, extra) in enumerate(MODES.items()):
            work = tmp / f"work{i}"
            _work_copy(root, work)
            env = dict(os.environ, NORDLID_WORKDIR=str(work), NORDLID_LOG_FLUSH_ROWS="1000")
            env.update(extra)
            port = _free_port()
            logs[mode] = tmp / f"serve{i}.log"
            procs[mode] = _start_nordlid(env, port, 1, logs[mode], tmp, None)
            urls[mode] = f"http://127.0.0.1:{port}"
        for mode in MODES:
            _wait_http(f"{urls[mode]}/readyz", procs[mode], 300, logs[mode])

        latencies: dict[str, list[float]] = {m: [] for m in MODES}
        cpu: dict[str, float] = dict.fromkeys(MODES, 0.0)
        answers: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
        chunks = np.array_split(np.arange(len(clips)), args.rounds)
        with httpx.Client(timeout=60.0) as client:
            for mode in MODES:  # warm-up: models, resamplers, first-request caches
                body, name, _ = clips[0]
                client.post(f"{urls[mode]}/v1/identify", files={"file": (name, body)})
            for chunk in chunks:
                for mode in MODES:
                    cpu0 = _cpu_seconds(procs[mode])
                    for j in chunk:
                        body, name, lang = clips[int(j)]
                        t0 = _now()
                        r = client.post(f"{urls[mode]}/v1/identify", files={"file": (name, body)})
                        latencies[mode].append(_now() - t0)
                        if r.status_code != 200:
                            sys.exit(f"{mode}: {name}: HTTP {r.status_code}: {r.text[:300]}")
                        answers[mode].append(dict(r.json(), truth=lang))
                    cpu[mode] += _cpu_seconds(procs[mode]) - cpu0
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    n = len(clips)
    print(
        f"{n} held-out '{args.condition}' files from {root}/data/holdout, POST /v1/identify, "
        f"concurrency 1, {args.rounds} alternating rounds"
    )
    header = (
        f"{'service':<14} {'accuracy':>9} {'by mini':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/req':>11} {'p50 / premium':>14} {'CPU / premium':>14}"
    )
    print(header)
    prem_p50 = float(np.percentile(latencies["premium only"], 50))
    prem_cpu = cpu["premium only"] / n
    for mode in MODES:
        lat = np.asarray(latencies[mode]) * 1e3
        acc = np.mean([a["language"] == a["truth"] for a in answers[mode]])
        by_mini = (
            np.mean([not a["escalated"] for a in answers[mode]]) if mode != "premium only" else 0.0
        )
        p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
        cpu_ms = cpu[mode] / n * 1e3
        print(
            f"{mode:<14} {acc:>8.1%} {by_mini:>8.0%} {p50:>8.1f} {p99:>8.1f} {cpu_ms:>11.1f} "
            f"{p50 / (prem_p50 * 1e3):>13.2f}x {cpu_ms / (prem_cpu * 1e3):>13.2f}x"
        )


def _now() -> float:
    import time

    return time.perf_counter()


if __name__ == "__main__":
    main()
