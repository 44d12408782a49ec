"""Serving latency under a bounded load: nordlid's API against Feast's own feature server.

In one run, on loopback, with the same Redis keys:

- ``feast serve /get-online-features`` (reference): Feast's feature server returning the
  ``lid_mini`` feature service for one utterance id;
- ``GET /v1/utterances/{id}/language``: nordlid reading the same service from Redis *and*
  running the mini model on it;
- ``POST /v1/identify`` with 5 s clips: decode, the ``acoustic`` extractor (the batch job's
  code), the mini model, the push queue and the serving log.

The mini model is a logistic head trained here on the ``acoustic`` features of a small
espeak-ng corpus (speed does not depend on its accuracy).  A fixed number of requests is
sent by ``--concurrency`` client threads, each with its own keep-alive connection.

``--baseline-rev REV`` also starts the service of an earlier git revision (its tree from
``git archive``, run with this venv, on a copy of the same work directory) and sends the
``/v1/identify`` loads to both in alternating rounds, so the ratio ``ours / baseline`` is
measured under the same load on this shared machine.

Usage: ``python benchmarks/serve.py [--requests 300] [--identify-requests 60]
[--concurrency 4] [--baseline-rev REV]`` (needs Redis: ``REDIS_URL``, default
``redis://127.0.0.1:6379``).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited ({proc.returncode}); log:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)  # polling a starting server, not synchronising work
    sys.exit(f"{url} not ready after {timeout_s:.0f} s; log:\n{log.read_text()[-3000:]}")


def _clips(seconds: float, per_language: int, work: Path) -> tuple[list[np.ndarray], list[str]]:
    """espeak-ng utterances tiled to ``seconds`` at 16 kHz, with their languages."""
    from corpus.synth import synthesize
    from nordlid.audio import load_for_model

    manifest = synthesize(work / "corpus", per_language=per_language, seed=11)
    n = int(seconds * 16_000)
    waves, langs = [], []
    for path, lang in zip(manifest["path"], manifest["language"], strict=True):
        wave = load_for_model(path)
        waves.append(np.tile(wave, n // len(wave) + 1)[:n].astype(np.float32))
        langs.append(str(lang))
    return waves, langs


def _train_mini(workdir: Any, waves: list[np.ndarray], langs: list[str]) -> list[dict[str, Any]]:
    """Acoustic features → logistic head registered as ``@mini`` (service ``lid_mini``)."""
    from extractors.engine import extract_waves
    from extractors.registry import create, get_spec
    from training.features import flatten, refs_from_registry
    from training.heads import LogRegConfig, LogRegHead
    from training.registry import ModelCard, ModelRegistry

    extractor = create("acoustic")
    rows = extract_waves(extractor, waves)
    spec = get_spec("acoustic")
    refs = refs_from_registry([spec.view_name])
    import pandas as pd

    frame = pd.DataFrame([{f"{spec.view_name}__{k}": v for k, v in r.items()} for r in rows])
    x = flatten(frame, refs)
    labels = sorted(set(langs))
    y = np.asarray([labels.index(lang) for lang in langs])
    head, _ = LogRegHead.fit(x, y, x, y, labels, LogRegConfig(c_grid=[1.0]))
    reg = ModelRegistry(workdir.models)
    version, path = reg.new_version("bench-mini")
    files = head.save_pretrained(path)
    reg.write_card(
        ModelCard(
            name="bench-mini",
            version=version,
            head="logreg",
            feature_service="lid_mini",
            features=refs,
            feature_views={spec.view_name: spec.version},
            labels=labels,
            threshold=None,
            files=files,
        )
    )
    reg.set_alias(f"bench-mini@{version}", "mini")
    return rows


def _push(workdir: Any, rows: list[dict[str, Any]], ids: list[str]) -> None:
    import pandas as pd

    from feature_repo import store

    now = pd.Timestamp(datetime.now(UTC))
    records = []
    for i, uid in enumerate(ids):
        rec = {"utterance_id": uid, "event_timestamp": now, "created_timestamp": now}
        rec.update(rows[i % len(rows)])
        records.append(rec)
    store.push(workdir, "acoustic", pd.DataFrame(records))


def _load(
    make_request: Callable[[Any, int], Any], requests: int, concurrency: int
) -> tuple[list[float], float, int]:
    """``requests`` calls spread over ``concurrency`` threads → (latencies s, wall s, errors)."""
    import httpx

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(timeout=30.0) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                try:
                    ok = make_request(client, i).status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    errors += not ok

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - t0, errors


def _baseline_tree(rev: str, dest: Path) -> Path:
    """The source tree of git revision ``rev`` (``git archive``; the checkout is untouched)."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        sys.exit(f"--baseline-rev {rev}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def _start_nordlid(
    env: dict[str, str], port: int, workers: int, log: Path, cwd: Path, source: Path | None
) -> subprocess.Popen[bytes]:
    """``nordlid serve`` of this checkout, or of ``source`` (put first on PYTHONPATH)."""
    env = dict(env)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    code = "import sys; from pipeline.cli import main; sys.exit(main())"
    args = ["--log-level", "WARNING", "serve", "--port", str(port), "--workers", str(workers)]
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )


def _cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds of a server process and its worker processes so far."""
    import psutil

    root = psutil.Process(proc.pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def _server_timings(workdir: Any) -> dict[str, float]:
    """Median per-stage milliseconds of /v1/identify from the serving log (flushed at exit)."""
    import json

    import pandas as pd

    if not workdir.serving_log.is_dir() or not list(workdir.serving_log.glob("*.parquet")):
        return {}
    log = pd.read_parquet(workdir.serving_log, columns=["timings"])
    frame = pd.DataFrame([json.loads(t) for t in log["timings"]])
    return {k: float(frame[k].median()) for k in frame.columns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="by-id and Feast requests")
    parser.add_argument("--identify-requests", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument("--utterances", type=int, default=200, help="ids pushed to Redis")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server")
    parser.add_argument(
        "--baseline-rev", default=None, help="also serve this git revision for /v1/identify"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per load")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("FEAST_USAGE", "False")
    redis_url = os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379")
    project = f"bench_serve_{uuid.uuid4().hex[:8]}"
    os.environ["NORDLID_FEAST_PROJECT"] = project
    tmp = Path(tempfile.mkdtemp(prefix="nordlid-bench-serve-"))
    os.environ["NORDLID_WORKDIR"] = str(tmp / "work")
    sys.path.insert(0, str(ROOT))

    from feature_repo import store
    from feature_repo.config import REPO_DIR
    from nordlid.workdir import Workdir

    workdir = Workdir.from_env().ensure()
    base_workdir = Workdir(tmp / "baseline-work")
    procs: list[subprocess.Popen[bytes]] = []
    timings: dict[str, float] = {}
    base_timings: dict[str, float] = {}
    server_cpu: dict[str, float] = {}  # CPU seconds the serving process(es) used per load
    try:
        print(f"preparing: corpus, acoustic features, mini head, Feast project {project} ...")
        waves, langs = _clips(args.clip_seconds, 2, tmp)
        rows = _train_mini(workdir, waves, langs)
        from extractors.registry import get_spec

        store.apply(workdir, specs=[get_spec("acoustic")])
        ids = [f"bench-{i}" for i in range(args.utterances)]
        _push(workdir, rows, ids)
        wav_bodies = []
        import soundfile as sf

        for wave in waves:
            buf = io.BytesIO()
            sf.write(buf, wave, 16_000, format="WAV", subtype="PCM_16")
            wav_bodies.append(buf.getvalue())

        env = dict(os.environ, NORDLID_PREMIUM_MODEL="", NORDLID_LOG_FLUSH_ROWS="1000")
        ours_port, feast_port = _free_port(), _free_port()
        ours_log, feast_log = tmp / "nordlid.log", tmp / "feast.log"
        procs.append(_start_nordlid(env, ours_port, args.workers, ours_log, tmp, None))
        with open(feast_log, "wb") as out:
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "feast"),
                        "-c",
                        str(REPO_DIR),
                        "-f",
                        str(workdir.feast / "feature_store.yaml"),
                        "--log-level",
                        "WARNING",
                        "serve",
                        "-p",
                        str(feast_port),
                        "--no-access-log",
                        "-w",
                        str(args.workers),
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=tmp,
                )
            )
        ours = f"http://127.0.0.1:{ours_port}"
        feast = f"http://127.0.0.1:{feast_port}"
        base = ""
        if args.baseline_rev:
            source = _baseline_tree(args.baseline_rev, tmp / "baseline-src")
            shutil.copytree(workdir.root, base_workdir.root)
            base_port, base_log = _free_port(), tmp / "baseline.log"
            base_env = dict(env, NORDLID_WORKDIR=str(base_workdir.root))
            procs.append(_start_nordlid(base_env, base_port, args.workers, base_log, tmp, source))
            base = f"http://127.0.0.1:{base_port}"
            _wait_http(f"{base}/readyz", procs[2], 300, base_log)
        _wait_http(f"{ours}/readyz", procs[0], 300, ours_log)
        _wait_http(f"{feast}/health", procs[1], 300, feast_log)

        def by_id(client: Any, i: int) -> Any:
            return client.get(f"{ours}/v1/utterances/{ids[i % len(ids)]}/language")

        def feast_lookup(client: Any, i: int) -> Any:
            body = {
                "feature_service": "lid_mini",
                "entities": {"utterance_id": [ids[i % len(ids)]]},
                "full_feature_names": True,
            }
            return client.post(f"{feast}/get-online-features", json=body)

        def identify_at(url: str) -> Callable[[Any, int], Any]:
            def identify(client: Any, i: int) -> Any:
                body = wav_bodies[i % len(wav_bodies)]
                files = {"file": ("c.wav", body, "audio/wav")}
                return client.post(f"{url}/v1/identify", files=files)

            return identify

        identify = identify_at(ours)
        warm = [by_id, feast_lookup, identify] + ([identify_at(base)] if base else [])
        for fn in warm:  # warm-up (models, registry caches, JIT)
            _load(fn, 10, 1)

        results: dict[str, tuple[list[float], float, int, int]] = {}
        server_of = {"feast": procs[1], "by_id": procs[0], "identify": procs[0]}
        server_of["identify_seq"] = procs[0]
        if base:
            server_of["identify_base"] = server_of["identify_seq_base"] = procs[2]

        def rounds_of(
            loads: list[tuple[str, Callable[[Any, int], Any]]], n: int, conc: int
        ) -> None:
            """``n`` requests per load, in alternating rounds (shared-machine load hits all)."""
            for _ in range(args.rounds):
                for name, fn in loads:
                    cpu0 = _cpu_seconds(server_of[name])
                    lat, wall, err = _load(fn, max(n // args.rounds, 1), conc)
                    server_cpu[name] = (
                        server_cpu.get(name, 0.0) + _cpu_seconds(server_of[name]) - cpu0
                    )
                    prev = results.get(name, ([], 0.0, 0, 0))
                    results[name] = (prev[0] + lat, prev[1] + wall, prev[2] + err, conc)

        rounds_of([("feast", feast_lookup), ("by_id", by_id)], args.requests, args.concurrency)
        seq_n = max(args.identify_requests // 2, 10)
        if base:
            base_identify = identify_at(base)
            rounds_of(
                [("identify", identify), ("identify_base", base_identify)],
                args.identify_requests,
                args.concurrency,
            )
            rounds_of([("identify_seq", identify), ("identify_seq_base", base_identify)], seq_n, 1)
        else:
            rounds_of([("identify", identify)], args.identify_requests, args.concurrency)
            rounds_of([("identify_seq", identify)], seq_n, 1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        timings = _server_timings(workdir)
        base_timings = _server_timings(base_workdir)
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{project}"))
        if keys:
            client.delete(*keys)
        shutil.rmtree(tmp, ignore_errors=True)

    clip = f"({args.clip_seconds:g} s WAV)"
    names = {
        "feast": "feast serve /get-online-features (lid_mini)",
        "by_id": "nordlid GET /v1/utterances/{id}/language",
        "identify": f"nordlid POST /v1/identify {clip}",
        "identify_seq": f"nordlid POST /v1/identify {clip}",
        "identify_base": f"  baseline {args.baseline_rev} /v1/identify",
        "identify_seq_base": f"  baseline {args.baseline_rev} /v1/identify",
    }
    feast_p50 = float(np.percentile(results["feast"][0], 50))
    feast_p99 = float(np.percentile(results["feast"][0], 99))
    print()
    print(
        f"{'route':<46} {'conc':>4} {'n':>5} {'err':>4} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'req/s':>7} {'p50/feast':>9} {'p99/feast':>9} {'srv CPU ms/req':>14}"
    )
    for key, (lat, wall, err, conc) in results.items():
        arr = np.asarray(lat)
        p50, p99 = float(np.percentile(arr, 50)), float(np.percentile(arr, 99))
        print(
            f"{names[key]:<46} {conc:>4} {arr.size:>5} {err:>4} {p50 * 1e3:>8.1f} "
            f"{p99 * 1e3:>8.1f} {arr.size / wall:>7.1f} {p50 / feast_p50:>9.2f} "
            f"{p99 / feast_p99:>9.2f} {server_cpu.get(key, float('nan')) / arr.size * 1e3:>14.1f}"
        )
    for key in ("identify", "identify_seq"):
        if f"{key}_base" in results:
            cpu = server_cpu[key] / len(results[key][0])
            base_cpu = server_cpu[f"{key}_base"] / len(results[f"{key}_base"][0])
            print(f"\nserver CPU per /v1/identify, ours / baseline: {cpu / base_cpu:.2f}x")
            ours_p50 = float(np.percentile(results[key][0], 50))
            base_p50 = float(np.percentile(results[f"{key}_base"][0], 50))
            ours_p99 = float(np.percentile(results[key][0], 99))
            base_p99 = float(np.percentile(results[f"{key}_base"][0], 99))
            print(
                f"\n/v1/identify concurrency {results[key][3]}: ours / baseline "
                f"{args.baseline_rev}: p50 {ours_p50 / base_p50:.2f}x, "
                f"p99 {ours_p99 / base_p99:.2f}x"
            )
    for label, stage_ms in (("", timings), (f" (baseline {args.baseline_rev})", base_timings)):
        if stage_ms:
            parts = ", ".join(f"{k} {v:.1f}" for k, v in stage_ms.items())
            print(f"\n/v1/identify server-side medians{label} (ms, serving log): {parts}")
    print()
    print(
        "ratios < 1 are faster than Feast's feature server for the same lookup; by-id "
        "includes the model's prediction."
    )


if __name__ == "__main__":
    main()
