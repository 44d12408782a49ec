"""Shared fixtures.  Area-specific fixtures live in ``tests/<area>/conftest.py``.

- ``workdir``: an isolated NORDLID_WORKDIR per test.
- ``redis_url``: the real Redis on 127.0.0.1:6379 (``make test`` starts one if none answers).
- ``synth_corpus``: a small espeak-ng corpus built once per session (read-only: copy before
  mutating).

The session runs with empty cache directories of its own (``CACHE_VARIABLES``) and offline
hubs, so no outcome depends on what a machine happens to have cached.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nordlid.workdir import Workdir

# shared helpers of several areas (lidnet_tiny) import as top-level modules
sys.path.insert(0, str(Path(__file__).parent))

# forced, not defaulted: a user's HF_HUB_OFFLINE=0 or WANDB_MODE=online must not send a
# test to the network
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("FEAST_USAGE", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("NORDLID_TEST_REDIS_PORT", "6379"))

# Caches a library may fill or read: the user's own (~/.cache, a hub cache holding a real
# checkpoint) would make a test's outcome depend on the machine.  Every test session gets
# fresh, empty ones, removed at the end.
CACHE_VARIABLES = ("XDG_CACHE_HOME", "HF_HOME", "TORCH_HOME", "NEMO_CACHE_DIR")
_session_caches: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    root = Path(tempfile.mkdtemp(prefix="nordlid-test-caches-"))
    _session_caches.append(root)
    for name in CACHE_VARIABLES:
        os.environ[name] = str(root / name.lower())


def pytest_unconfigure(config: pytest.Config) -> None:
    for root in _session_caches:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workdir:
    wd = Workdir(tmp_path / "work").ensure()
    monkeypatch.setenv("NORDLID_WORKDIR", str(wd.root))
    return wd


def _redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _redis_answers(REDIS_HOST, REDIS_PORT):
        pytest.fail(
            f"integration tests need Redis on {REDIS_HOST}:{REDIS_PORT}; "
            "run them through `make test`, which starts one when none answers"
        )
    return f"redis://{REDIS_HOST}:{REDIS_PORT}"


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, object]]:
    """(audio_dir, manifest DataFrame) of a small clean synthetic corpus, built once."""
    from corpus.synth import synthesize

    out = tmp_path_factory.mktemp("synth_corpus")
    manifest = synthesize(out, per_language=8, seed=7, conditions=("clean",))
    yield out, manifest


@pytest.fixture(autouse=True)
def _drop_unloaded_speechbrain_lazy_modules() -> Iterator[None]:
    """SpeechBrain puts lazy placeholder modules into ``sys.modules`` (e.g. its k2 integration).

    Any later code that walks ``sys.modules`` and touches an attribute (hypothesis, warnings
    bookkeeping, some of torch's machinery) then triggers an import that fails because the
    optional dependency is absent.  Tests that ran SpeechBrain earlier in the session would
    make unrelated tests fail; drop the placeholders that were never resolved (a later real
    ``import`` of them still works).
    """
    import sys

    lazy_type = getattr(sys.modules.get("speechbrain.utils.importutils"), "LazyModule", None)
    if lazy_type is not None:
        for name, module in list(sys.modules.items()):
            if (
                isinstance(module, lazy_type)
                and object.__getattribute__(module, "lazy_module") is None
            ):
                del sys.modules[name]
    yield
