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

Usage: ``python benchmarks/serve.py [--requests 300] [--identify-requests 60]
[--concurrency 4]`` (needs Redis: ``REDIS_URL``, default ``redis://127.0.0.1:6379``).
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
    from training.heads import HeadConfig, LogRegHead
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
    head, _ = LogRegHead.fit(x, y, x, y, labels, HeadConfig(c_grid=[1.0]))
    reg = ModelRegistry(workdir.models)
    version, path = reg.new_version("bench-mini")
    files = head.save(path)
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
    procs: list[subprocess.Popen[bytes]] = []
    timings: dict[str, float] = {}
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
        with open(ours_log, "wb") as out:
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "nordlid"),
                        "--log-level",
                        "WARNING",
                        "serve",
                        "--port",
                        str(ours_port),
                        "--workers",
                        str(args.workers),
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=tmp,
                )
            )
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

        def identify(client: Any, i: int) -> Any:
            body = wav_bodies[i % len(wav_bodies)]
            return client.post(f"{ours}/v1/identify", files={"file": ("c.wav", body, "audio/wav")})

        for fn in (by_id, feast_lookup, identify):  # warm-up (models, registry caches, JIT)
            _load(fn, 10, 1)

        results: dict[str, tuple[list[float], float, int, int]] = {}
        # by-id and Feast alternate in rounds so that load on this shared machine hits both
        rounds = 3
        for _ in range(rounds):
            for name, fn in (("feast", feast_lookup), ("by_id", by_id)):
                lat, wall, err = _load(fn, args.requests // rounds, args.concurrency)
                prev = results.get(name, ([], 0.0, 0, 0))
                results[name] = (prev[0] + lat, prev[1] + wall, prev[2] + err, args.concurrency)
        lat, wall, err = _load(identify, args.identify_requests, args.concurrency)
        results["identify"] = (lat, wall, err, args.concurrency)
        lat, wall, err = _load(identify, max(args.identify_requests // 2, 10), 1)
        results["identify_seq"] = (lat, wall, err, 1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        timings = _server_timings(workdir)
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{project}"))
        if keys:
            client.delete(*keys)
        shutil.rmtree(tmp, ignore_errors=True)

    names = {
        "feast": "feast serve /get-online-features (lid_mini)",
        "by_id": "nordlid GET /v1/utterances/{id}/language",
        "identify": f"nordlid POST /v1/identify ({args.clip_seconds:g} s WAV)",
        "identify_seq": f"nordlid POST /v1/identify ({args.clip_seconds:g} s WAV)",
    }
    feast_p50 = float(np.percentile(results["feast"][0], 50))
    feast_p99 = float(np.percentile(results["feast"][0], 99))
    print()
    print(
        f"{'route':<46} {'conc':>4} {'n':>5} {'err':>4} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'req/s':>7} {'p50/feast':>9} {'p99/feast':>9}"
    )
    for key, (lat, wall, err, conc) in results.items():
        arr = np.asarray(lat)
        p50, p99 = float(np.percentile(arr, 50)), float(np.percentile(arr, 99))
        print(
            f"{names[key]:<46} {conc:>4} {arr.size:>5} {err:>4} {p50 * 1e3:>8.1f} "
            f"{p99 * 1e3:>8.1f} {arr.size / wall:>7.1f} {p50 / feast_p50:>9.2f} "
            f"{p99 / feast_p99:>9.2f}"
        )
    if timings:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        print(f"\n/v1/identify server-side medians (ms, from the serving log): {parts}")
    print()
    print(
        "ratios < 1 are faster than Feast's feature server for the same lookup; by-id "
        "includes the model's prediction."
    )


if __name__ == "__main__":
    main()
