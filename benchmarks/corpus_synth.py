"""Synthetic corpus speed: process pool vs one process, and the cost of each condition.

Baseline = ``synthesize(..., workers=1, conditions=("clean",))`` measured in this same run;
every other row is reported as a ratio against it (the machines are shared and noisy, so
only same-run ratios mean anything).

    .venv/bin/python benchmarks/corpus_synth.py [--per-language 25] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from corpus.synth import synthesize


def _time(
    per_language: int, workers: int, conditions: Sequence[str], repeats: int
) -> tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="nordlid-bench-") as tmp:
            start = time.perf_counter()
            frame = synthesize(
                Path(tmp), per_language=per_language, seed=0, workers=workers, conditions=conditions
            )
            best = min(best, time.perf_counter() - start)
            n = len(frame)
    return best, n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-language", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)

    cases: list[tuple[str, int, tuple[str, ...]]] = [
        ("clean, 1 process (baseline)", 1, ("clean",)),
        ("clean, 2 processes", 2, ("clean",)),
        ("noisy, 1 process", 1, ("noisy",)),
        ("telephone, 1 process", 1, ("telephone",)),
        ("gain, 1 process", 1, ("gain",)),
        ("mixed 4 conditions, 2 processes", 2, ("clean", "noisy", "telephone", "gain")),
    ]
    print(f"cpus: {os.cpu_count()}  per language: {args.per_language}  repeats: {args.repeats}")
    print(f"{'case':36s} {'utts':>5s} {'seconds':>8s} {'utt/s':>7s} {'vs baseline':>12s}")
    baseline = None
    for label, workers, conds in cases:
        seconds, n = _time(args.per_language, workers, conds, args.repeats)
        baseline = baseline or seconds
        print(f"{label:36s} {n:5d} {seconds:8.2f} {n / seconds:7.1f} {baseline / seconds:11.2f}x")


if __name__ == "__main__":
    main()
