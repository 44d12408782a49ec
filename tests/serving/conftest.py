"""Serving fixtures: toy extractors in the real registry, heads trained through training's
registry API, a Redis-backed online store with an isolated key prefix, app factories."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import serving_toys  # noqa: E402

from nordlid import LANGUAGES  # noqa: E402
from nordlid.workdir import Workdir  # noqa: E402


@pytest.fixture()
def toy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two toy extractors in the extractor registry, for this test only."""
    from extractors import registry

    registry.names()  # load the built-in entries first
    for entry in serving_toys.registry_entries():
        monkeypatch.setitem(registry._ENTRIES, entry.name, entry)


def _train(
    reg: Any, name: str, extractor: Any, waves: list[np.ndarray], y: np.ndarray, service: str
) -> str:
    from training.features import FeatureRef
    from training.heads import LogRegConfig, LogRegHead
    from training.registry import ModelCard

    rows = extractor.extract(waves)
    spec = extractor.spec
    refs = [FeatureRef(ref=f"{spec.view_name}__{c.name}", length=c.length) for c in spec.columns]
    x = np.stack(
        [
            np.concatenate(
                [np.atleast_1d(np.asarray(r[c.name], dtype=np.float32)) for c in spec.columns]
            )
            for r in rows
        ]
    )
    n_dev = len(waves) // 3
    head, report = LogRegHead.fit(
        x[n_dev:], y[n_dev:], x[:n_dev], y[:n_dev], list(LANGUAGES), LogRegConfig(c_grid=[1.0])
    )
    version, path = reg.new_version(name)
    files = head.save_pretrained(path)
    card = ModelCard(
        name=name,
        version=version,
        head="logreg",
        feature_service=service,
        features=refs,
        feature_views={spec.view_name: spec.version},
        labels=list(LANGUAGES),
        threshold=0.5,
        metrics={"dev": {"macro_f1": report.dev_macro_f1}},
        files=files,
    )
    reg.write_card(card)
    return card.ref


@pytest.fixture(scope="session")
def models_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models/ directory with a mini (servetone) and a premium (servefine) head, @-aliased."""
    from training.registry import ModelRegistry

    rng = np.random.default_rng(0)
    langs = list(LANGUAGES)
    labels = [i % len(langs) for i in range(60)]
    waves = [serving_toys.tone(langs[i], rng.uniform(1.0, 3.0), rng=rng) for i in labels]
    y = np.asarray(labels)
    root = tmp_path_factory.mktemp("serving_models") / "models"
    reg = ModelRegistry(root)
    mini = _train(reg, "tone-mini", serving_toys.ToneExtractor(), waves, y, "lid_servetone")
    premium = _train(reg, "tone-premium", serving_toys.FineExtractor(), waves, y, "lid_servefine")
    reg.set_alias(mini, "mini")
    reg.set_alias(premium, "premium")
    return root


@pytest.fixture()
def served_workdir(
    workdir: Workdir, models_template: Path, toy_registry: None, monkeypatch: pytest.MonkeyPatch
) -> Workdir:
    # the toy "languages" are harmonic tones, which silero-vad rightly finds no speech in:
    # the toy models are served with the no-speech check off (tests of it turn it on)
    monkeypatch.setenv("NORDLID_MIN_SPEECH_S", "0")
    shutil.rmtree(workdir.models, ignore_errors=True)
    shutil.copytree(models_template, workdir.models)
    return workdir


@pytest.fixture()
def redis_store(redis_url: str) -> Iterator[serving_toys.RedisHashStore]:
    store = serving_toys.RedisHashStore(
        redis_url,
        f"nordlid-test-serving-{uuid.uuid4().hex[:8]}",
        {"lid_servetone": ["servetone"], "lid_servefine": ["servefine"]},
    )
    yield store
    store.clear()


AppFactory = Callable[..., Any]


@pytest.fixture()
def make_client(served_workdir: Workdir, redis_store: Any) -> Iterator[AppFactory]:
    """``make_client(store=None, **settings)`` → a started TestClient (closed at teardown)."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.settings import ServingSettings

    clients: list[TestClient] = []

    def make(store: Any = None, **settings: Any) -> TestClient:
        settings.setdefault("workdir", served_workdir.root)
        app = create_app(ServingSettings(**settings), store=store or redis_store)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A redis-server this test starts and stops itself."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port, self.directory = port, directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:  # poll until it answers (bounded), not a fixed sleep
            try:
                if client.ping():
                    return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(_free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


class LiveService:
    """The real service in a uvicorn subprocess; its whole log goes to ``log_path``."""

    def __init__(self, port: int, log_path: Path, proc: subprocess.Popen[bytes]) -> None:
        self.port, self.log_path, self.proc = port, log_path, proc

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        """Stop the server (SIGTERM: a graceful shutdown) and return its log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        return self.log()


def start_live_service(
    workdir: Workdir, redis_url: str, log_path: Path, **env: str
) -> tuple[LiveService, str]:
    """Start ``live_service.py`` and poll /healthz until it answers (bounded)."""
    import os

    import httpx

    port, prefix = _free_port(), f"nordlid-test-live-{uuid.uuid4().hex[:8]}"
    full_env = {**os.environ, "NORDLID_WORKDIR": str(workdir.root), **env}
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "live_service.py"), str(port), redis_url, prefix],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    service = LiveService(port, log_path, proc)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{service.http}/healthz", timeout=1).status_code == 200:
                return service, prefix
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(f"the service did not start:\n{service.log()[-3000:]}")
        time.sleep(0.1)


@pytest.fixture()
def live_service(
    served_workdir: Workdir, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., LiveService]]:
    """``live_service(**env)`` → a started uvicorn service (stopped, store cleared after)."""
    started: list[tuple[LiveService, str]] = []

    def start(**env: str) -> LiveService:
        started.append(
            start_live_service(
                served_workdir, redis_url, tmp_path / f"service{len(started)}.log", **env
            )
        )
        return started[-1][0]

    yield start
    for service, prefix in started:
        service.stop()
        serving_toys.RedisHashStore(redis_url, prefix, {}).clear()


@pytest.fixture()
def vad_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Lengths of the waves the VAD scans from now on (silero's ``Vad.probabilities``)."""

    from validation.speech_quality import Vad

    calls: list[int] = []
    original = Vad.probabilities

    def counting(self: Vad, wave16k: np.ndarray) -> np.ndarray:
        calls.append(len(wave16k))
        return original(self, wave16k)

    monkeypatch.setattr(Vad, "probabilities", counting)
    return calls
