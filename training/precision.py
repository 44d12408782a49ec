"""Numeric precision of CPU training steps: float32, or bfloat16 autocast where the CPU
computes bfloat16 natively.

On a CPU with AVX512-BF16 or AMX-BF16 (Intel Sapphire Rapids and later, AMD Zen 4 and
later) oneDNN runs the convolutions of a bfloat16-autocast step natively: one lidnet
training step (ECAPA-TDNN, 64 channels, a batch of 32 three-second crops, forward,
backward and AdamW, 2 threads) took 94 ms instead of 133 ms (1.41x) on the development
machine's AMD EPYC, and a 7 min training budget fit 23 epochs instead of 19 — with no
better accuracy (docs/history.md), so float32 stays the default.  Elsewhere bfloat16 is
emulated and slower than float32, so ``auto`` picks it only when the CPU reports one of
those flags.  Weights, optimiser state and the loss stay float32 (autocast casts only the
operands of the matrix products).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

Precision = Literal["fp32", "bf16"]
RequestedPrecision = Literal["auto", "fp32", "bf16"]

BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def resolve_precision(
    requested: RequestedPrecision, flags: frozenset[str] | None = None
) -> Precision:
    """``auto`` → ``bf16`` when the CPU has native bfloat16 (``flags``: default read from
    /proc/cpuinfo), else ``fp32``; an explicit choice is kept."""
    if requested != "auto":
        return requested
    have = cpu_flags() if flags is None else flags
    return "bf16" if have & BF16_CPU_FLAGS else "fp32"


@contextlib.contextmanager
def autocast(precision: Precision) -> Iterator[None]:
    """CPU autocast to bfloat16 for ``bf16``; nothing for ``fp32``."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield
