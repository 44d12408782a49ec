"""Fixtures of the scale-out tests: one local Ray instance for the session, a small corpus."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extractors.spec import ExtractorSpec, FeatureColumn
from nordlid.workdir import Workdir


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A local Ray instance with 2 CPUs, shut down when the session ends."""
    import logging

    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def small_manifest(synth_corpus: tuple[Path, pd.DataFrame]) -> pd.DataFrame:
    """Twelve utterances of the synthetic corpus (three per language) plus one unreadable."""
    _, manifest = synth_corpus
    frame = manifest.sort_values("utterance_id").groupby("language").head(3)
    broken = frame.iloc[[0]].copy()
    broken["utterance_id"] = "broken-0001"
    broken["path"] = str(Path(broken["path"].iloc[0]).with_name("does-not-exist.wav"))
    return pd.concat([frame, broken], ignore_index=True)


# --- a small Feast repo -----------------------------------------------------------------
T0 = datetime(2025, 3, 1, tzinfo=UTC)

SPECS: tuple[ExtractorSpec, ...] = (
    ExtractorSpec(
        name="acoustic",
        version="s1",
        columns=(
            FeatureColumn("mfcc_mean", length=8),
            FeatureColumn("speech_ratio", dtype="float32"),
            FeatureColumn("n_frames", dtype="int64"),
        ),
    ),
    ExtractorSpec(name="lidnet", version="s1", columns=(FeatureColumn("embedding", length=16),)),
)


@pytest.fixture()
def small_specs(monkeypatch: pytest.MonkeyPatch) -> list[ExtractorSpec]:
    """The extractor registry holds exactly SPECS for this test (restored afterwards)."""
    from extractors import registry

    entries = {
        s.name: registry.RegistryEntry(
            name=s.name, spec=lambda s=s: s, factory="extractors.base:Extractor", description=""
        )
        for s in SPECS
    }
    monkeypatch.setattr(registry, "_ENTRIES", entries)
    monkeypatch.setattr(registry, "_loaded", True)
    return list(SPECS)


def write_small_repo(
    workdir: Workdir, specs: list[ExtractorSpec], n: int = 12
) -> dict[str, pa.Table]:
    """Feature tables (random values, two part files each) and the labels of ``n`` ids."""
    ids = [f"utt{i:04d}" for i in range(n)]
    rng = np.random.default_rng(0)
    tables: dict[str, pa.Table] = {}
    for spec in specs:
        cols: dict[str, object] = {
            "utterance_id": ids,
            "event_timestamp": [T0] * n,
            "created_timestamp": [T0] * n,
        }
        for c in spec.columns:
            if c.length is not None:
                cols[c.name] = [rng.standard_normal(c.length).astype(np.float32) for _ in ids]
            elif c.dtype == "int64":
                cols[c.name] = rng.integers(0, 1000, n)
            else:
                cols[c.name] = rng.standard_normal(n).astype(c.dtype)
        table = pa.Table.from_pydict(cols, schema=spec.arrow_schema())
        out = workdir.feature_dir(spec.name)
        out.mkdir(parents=True, exist_ok=True)
        half = n // 2
        pq.write_table(table.slice(0, half), out / "part-0.parquet")
        pq.write_table(table.slice(half), out / "part-1.parquet")
        tables[spec.name] = table
    langs = ["da", "fo", "is", "no", "sv"]
    labels = pd.DataFrame(
        {
            "utterance_id": ids,
            "language": [langs[i % 5] for i in range(n)],
            "split": ["train"] * n,
            "source": ["synthetic"] * n,
            "speaker_id": [f"spk{i % 3}" for i in range(n)],
            "gender": ["female"] * n,
            "duration_s": np.linspace(1.0, 3.0, n),
            "event_timestamp": pd.to_datetime([T0] * n, utc=True),
        }
    )
    workdir.validated_manifest.parent.mkdir(parents=True, exist_ok=True)
    labels.to_parquet(workdir.validated_manifest, index=False)
    return tables


@pytest.fixture()
def feast_project(
    workdir: Workdir, small_specs: list[ExtractorSpec], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workdir, str]]:
    """An isolated Feast project (SQLite registry in the work directory, SQLite online)."""
    from feature_repo import store

    project = f"nordlid_s{uuid.uuid4().hex[:10]}"
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("NORDLID_FEAST_REGISTRY", raising=False)
    monkeypatch.setenv("NORDLID_FEAST_PROJECT", project)
    yield workdir, project
    store.close(workdir)


# --- a local Redis Cluster ----------------------------------------------------------------
def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base_port(count: int) -> int:
    """A base port with ``count`` free client ports and their cluster-bus ports (+10000)."""
    for base in range(7000, 9000, 10):
        ports = range(base, base + count)
        if all(_port_free(p) and _port_free(p + 10000) for p in ports):
            return base
    pytest.skip("no free ports for a local Redis Cluster")
    raise AssertionError("unreachable")


def _wait_ping(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Block until the server answers PING (redis-cli retries; no fixed sleeps)."""
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited with {proc.returncode}")
        out = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        )
        if out.stdout.strip() == "PONG":
            return
        select.select([], [], [], 0.05)
    raise RuntimeError(f"redis-server on port {port} never answered PING")


def _wait_cluster_ok(ports: list[int]) -> None:
    """Block until every node reports ``cluster_state:ok``: ``--cluster check`` only checks
    slot coverage, and a node may still answer CLUSTERDOWN until gossip has converged."""
    pending = list(ports)
    for _ in range(600):
        pending = [
            port
            for port in pending
            if "cluster_state:ok"
            not in subprocess.run(
                ["redis-cli", "-p", str(port), "cluster", "info"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
        ]
        if not pending:
            return
        select.select([], [], [], 0.05)
    raise RuntimeError(f"Redis Cluster nodes on ports {pending} never reached cluster_state:ok")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Three masters (no replicas) from Debian's redis-server, torn down after the session."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server / redis-cli not installed")
    root = tmp_path_factory.mktemp("redis_cluster")
    base = _free_base_port(3)
    ports = [base, base + 1, base + 2]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            node_dir = root / str(port)
            node_dir.mkdir()
            procs.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--dir",
                        str(node_dir),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--protected-mode",
                        "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port, proc in zip(ports, procs, strict=True):
            _wait_ping(port, proc)
        nodes = [f"127.0.0.1:{p}" for p in ports]
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        # `--cluster create` waits until the nodes agree on the configuration
        subprocess.run(
            ["redis-cli", "--cluster", "check", nodes[0]],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _wait_cluster_ok(ports)
        yield nodes
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
