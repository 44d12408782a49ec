"""Cost of a model: backbone GFLOPs per second of audio and measured head latency.

FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode` while the
extractor processes one second of audio (so only torch work is counted: an extractor
without a neural network costs ~0).  Latency is wall-clock time of ``predict_proba`` on
one row, the median of repeated calls (these machines are shared: it is a measurement,
not a guarantee).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import NordlidError

log = logging.getLogger(__name__)


def count_gflops(fn: Callable[[], Any]) -> float:
    """GFLOPs torch performs inside ``fn()``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops()) / 1e9


def extractor_gflops_per_second(name: str, seconds: float = 4.0, **kwargs: Any) -> float | None:
    """GFLOPs per second of audio of extractor ``name`` (None when it cannot be built)."""
    from extractors import registry

    try:
        extractor = registry.create(name, **kwargs)
    except NordlidError as exc:
        log.info("cost of %s not counted: %s", name, exc)
        return None
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(int(seconds * TARGET_SAMPLE_RATE))).astype(np.float32)
    # extractors whose runtime is not torch (CTranslate2) replay the same computation in torch
    replay = getattr(extractor, "torch_equivalent", None)
    if callable(replay):
        return count_gflops(lambda: replay([wave])) / seconds
    return count_gflops(lambda: extractor.extract([wave])) / seconds


def head_latency_ms(
    predict: Callable[[np.ndarray], Any], row: np.ndarray, repeats: int = 30
) -> float:
    """Median wall-clock milliseconds of ``predict`` on a single row."""
    x = np.asarray(row, dtype=np.float32).reshape(1, -1)
    predict(x)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)
