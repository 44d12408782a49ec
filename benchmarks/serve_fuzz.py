"""Replay a hostile-input set against a running nordlid service and watch its memory.

Sends a bounded set of bad requests to a service already listening on 127.0.0.1 and
prints, per case, the answers by status code (HTTP) or close code (WebSocket), how many
bytes of an oversize body were sent before the service answered, and the service's RSS
(the process listening on the port, with its children) before and after:

- oversize bodies, unauthenticated and authenticated, with a declared ``Content-Length``
  and streamed chunked without one (``--oversize-mb``, default 300 MB each: the service
  must answer after reading a few KiB, so its RSS stays flat);
- bad JSON bodies, a 10 KB utterance id, silence to ``/v1/identify``;
- WebSocket: a binary first frame, nested JSON as the config and as a later text frame,
  garbage text, over-long text, silence streamed, a client that drops mid-stream.

Usage: ``python benchmarks/serve_fuzz.py --port 8000 [--api-key KEY] [--rounds 3]
[--oversize-mb 300] [--pid PID]`` (``--api-key`` defaults to ``NORDLID_API_KEY``).
It stops by itself after ``--rounds`` passes; it never asserts anything.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import select
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

CHUNK = 64 * 1024
NESTED = "[" * 100_000
CONFIG = json.dumps({"sample_rate": 16_000})


# --- the service process --------------------------------------------------------------------
def listening_pid(port: int) -> int | None:
    import psutil

    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return conn.pid
    return None


def rss_mb(pid: int | None) -> float | None:
    import psutil

    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 2**20
    except psutil.Error:
        return None


# --- raw HTTP (to see when the service answers an oversize body) ----------------------------
def _status_of(data: bytes) -> int | None:
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else None


MULTIPART_HEAD = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'


def raw_post(
    port: int, path: str, headers: dict[str, str], total: int, chunked: bool
) -> tuple[int | str, int]:
    """POST ``total`` bytes, stopping as soon as a response arrives: (status, bytes sent).

    A multipart body starts with a real part header, so the upload limit (not the
    multipart parser) is what stops it."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    sent, answer = 0, b""
    block = b"{" * CHUNK
    first = MULTIPART_HEAD if "multipart" in headers.get("Content-Type", "") else b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break  # the service answered: stop sending
                piece = (first + block)[: min(CHUNK, total - sent)]
                first = b""
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
                sent += len(piece)
            if chunked and sent >= total:
                sock.sendall(b"0\r\n\r\n")
            answer = sock.recv(4096)
        except OSError as exc:  # reset after an early answer: read what came back
            try:
                answer = sock.recv(4096)
            except OSError:
                return f"reset ({type(exc).__name__})", sent
    return _status_of(answer) or "no answer", sent


# --- cases ----------------------------------------------------------------------------------
def _wav(wave: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave, 16_000, format="WAV")
    return buf.getvalue()


def http_cases(base: str, key: str | None) -> dict[str, Callable[[], int | str]]:
    import httpx

    auth = {"X-API-Key": key} if key else {}
    client = httpx.Client(base_url=base, timeout=60)
    silence = _wav(np.zeros(48_000, np.float32))

    def post(path: str, **kw: Any) -> Callable[[], int]:
        headers = {**auth, **kw.pop("headers", {})}
        return lambda: client.post(path, headers=headers, **kw).status_code

    return {
        "feedback nested JSON": post(
            "/v1/feedback", content=b"[" * 60_000, headers={"content-type": "application/json"}
        ),
        "feedback garbage": post(
            "/v1/feedback", content=b"\xff\x00" * 100, headers={"content-type": "application/json"}
        ),
        "by-id 10 KB id": lambda: (
            client.get("/v1/utterances/" + "a" * 10_000 + "/language", headers=auth).status_code
        ),
        "identify silence": post("/v1/identify", files={"file": ("s.wav", silence, "audio/wav")}),
        "key in the query": lambda: client.get("/v1/models", params={"api_key": "x"}).status_code,
    }


def oversize_cases(port: int, key: str | None, mb: int) -> dict[str, Callable[[], Any]]:
    total = mb * 2**20
    auth = {"X-API-Key": key} if key else {}
    js = {"Content-Type": "application/json"}
    mp = {"Content-Type": "multipart/form-data; boundary=x"}
    out: dict[str, Callable[[], Any]] = {}
    for chunked in (False, True):
        how = "chunked" if chunked else "declared"
        out[f"feedback {mb} MB {how}, no key"] = lambda c=chunked: raw_post(
            port, "/v1/feedback", js, total, c
        )
        out[f"feedback {mb} MB {how}"] = lambda c=chunked: raw_post(
            port, "/v1/feedback", {**js, **auth}, total, c
        )
        out[f"identify {mb} MB {how}"] = lambda c=chunked: raw_post(
            port, "/v1/identify", {**mp, **auth}, total, c
        )
    return out


def ws_run(url: str, frames: list[bytes | str], key: str | None, drop: bool = False) -> int | str:
    """Send the frames, read until the server closes: its close code."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    headers = {"X-API-Key": key} if key else {}
    with connect(url, additional_headers=headers, open_timeout=10, close_timeout=5) as ws:
        try:
            for frame in frames:
                ws.send(frame)
            if drop:
                ws.socket.close()
                return "dropped"
            while True:
                ws.recv(timeout=30)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else "no close frame"
        except TimeoutError:
            return "timeout"


def ws_cases(url: str, key: str | None) -> dict[str, Callable[[], int | str]]:
    silence = np.zeros(16_000 * 3, "<i2").tobytes()
    frames: dict[str, list[bytes | str]] = {
        "ws binary first frame": [b"\x00\x01" * 500],
        "ws nested JSON config": [NESTED],
        "ws nested JSON text": [CONFIG, NESTED],
        "ws garbage text": [CONFIG, "\x00garbage"],
        "ws silence": [CONFIG, silence, "end"],
    }
    out: dict[str, Callable[[], int | str]] = {
        name: (lambda f=f: ws_run(url, f, key)) for name, f in frames.items()
    }
    out["ws drop mid-stream"] = lambda: ws_run(url, [CONFIG, silence], key, drop=True)
    return out


# --- run --------------------------------------------------------------------------------------
def _client_errors() -> tuple[type[BaseException], ...]:
    import httpx
    from websockets.exceptions import WebSocketException

    return (OSError, httpx.HTTPError, WebSocketException)


def run_cases(cases: dict[str, Callable[[], Any]], rounds: int) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    errors = _client_errors()
    for _ in range(rounds):
        for name, case in cases.items():
            try:
                result = case()
            except errors as exc:  # counted: a refused connection is an answer too
                result = f"client error {type(exc).__name__}"
            if isinstance(result, tuple):  # (status, bytes sent)
                counts[name][str(result[0])] += 1
                counts[name + " [KiB sent]"][str(result[1] // 1024)] += 1
            else:
                counts[name][str(result)] += 1
    return counts


def _mib(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} MiB"


def _table(counts: dict[str, Counter[str]]) -> None:
    width = max(len(n) for n in counts)
    for name, counter in counts.items():
        shown = ", ".join(f"{k} x{v}" for k, v in sorted(counter.items()))
        print(f"  {name:<{width}}  {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", default=os.environ.get("NORDLID_API_KEY") or None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--oversize-mb", type=int, default=300)
    parser.add_argument("--pid", type=int, default=None, help="service pid (default: the port's)")
    args = parser.parse_args()
    pid = args.pid or listening_pid(args.port)
    base, ws = f"http://127.0.0.1:{args.port}", f"ws://127.0.0.1:{args.port}/v1/stream"
    print(f"service pid {pid}; RSS before: {_mib(rss_mb(pid))}")
    t0 = time.perf_counter()
    phases = [
        ("oversize bodies", oversize_cases(args.port, args.api_key, args.oversize_mb)),
        ("bad HTTP requests", http_cases(base, args.api_key)),
        ("WebSocket fuzz", ws_cases(ws, args.api_key)),
    ]
    for title, cases in phases:
        counts = run_cases(cases, args.rounds)
        rss = rss_mb(pid)
        print(f"{title} ({args.rounds} rounds); RSS after: {_mib(rss)}")
        _table(counts)
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
