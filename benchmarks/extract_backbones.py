"""Throughput of the pretrained backbones (full-size architectures, random weights).

Prints, per backbone, audio-seconds processed per wall-second through the extractor's own
batched path, and for XLS-R the ratio against a naive loop measured in the same run: one
utterance at a time, zero-padded to a fixed 10 s, mean over all frames (what a common
baseline script does).  Cost does not depend on weight values, so random weights built by
:func:`extractors.backbones.random_init.build_full_size` stand in for the checkpoints.

    .venv/bin/python benchmarks/extract_backbones.py --backbones xlsr --utterances 4

Keep runs short on shared machines; numbers are only comparable within one run.  OpenMP
threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless set): on a shared machine
spinning threads burn CPU time on waiting, which inflates CPU-time figures and slows others.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP

SR = 16_000
DEFAULT_BACKBONES = "xlsr,whisper-tiny,whisper-base,ecapa,titanet"


def make_waves(n: int, lo: float, hi: float, seed: int) -> list[np.ndarray]:
    """Noise-excited harmonic signals of random durations in [lo, hi] seconds."""
    rng = np.random.default_rng(seed)
    waves = []
    for _ in range(n):
        samples = int(rng.uniform(lo, hi) * SR)
        t = np.arange(samples) / SR
        f0 = rng.uniform(90, 220)
        wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8))
        waves.append((0.2 * wave + 0.02 * rng.standard_normal(samples)).astype(np.float32))
    return waves


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) — CPU time is robust to other load."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def param_count(extractor: object) -> float:
    import torch

    for attr in ("model", "encoder"):
        module = getattr(extractor, attr, None)
        if isinstance(module, torch.nn.Module):
            return sum(p.numel() for p in module.parameters()) / 1e6
    return float("nan")


def naive_xlsr(extractor: object, waves: list[np.ndarray], pad_seconds: float) -> None:
    """One utterance at a time, padded (or cut) to a fixed length, mean over all frames."""
    import torch

    model = extractor.model  # type: ignore[attr-defined]
    device = next(model.parameters()).device
    target = int(pad_seconds * SR)
    for wave in waves:
        x = np.zeros(target, dtype=np.float32)
        x[: min(target, len(wave))] = wave[:target]
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        with torch.inference_mode():
            out = model(torch.from_numpy(x)[None].to(device), output_hidden_states=True)
            pooled = [h.mean(dim=1) for h in out.hidden_states]
        pooled[-1].cpu()  # wait for the device, as a caller using the result would


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", default=DEFAULT_BACKBONES, help="comma-separated names")
    parser.add_argument("--utterances", type=int, default=4)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=6.0)
    parser.add_argument("--naive-pad-seconds", type=float, default=10.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from extractors.backbones.random_init import build_full_size

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    waves = make_waves(args.utterances, args.min_seconds, args.max_seconds, args.seed)
    audio_s = sum(len(w) for w in waves) / SR
    print(
        f"{args.utterances} utterances, {audio_s:.1f} s of audio "
        f"({args.min_seconds:g}-{args.max_seconds:g} s each), device={args.device}, "
        f"threads={args.threads}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    rows: list[tuple[str, ...]] = []
    for name in [b.strip() for b in args.backbones.split(",") if b.strip()]:
        build_s = 0.0
        start = time.perf_counter()
        extractor = build_full_size(name, device=args.device)
        build_s = time.perf_counter() - start
        extractor.extract([waves[0][: SR // 2]])  # warm-up (allocations, kernels)
        wall, cpu = timed(partial(extractor.extract, waves))
        rows.append(
            (
                name,
                f"{param_count(extractor):.1f}",
                f"{wall:.2f}",
                f"{audio_s / wall:.2f}",
                f"{audio_s / cpu:.2f}",
                f"build {build_s:.0f} s",
            )
        )
        if name == "xlsr":
            naive_wall, naive_cpu = timed(
                partial(naive_xlsr, extractor, waves, args.naive_pad_seconds)
            )
            rows.append(
                (
                    f"xlsr naive (1 at a time, pad {args.naive_pad_seconds:g} s)",
                    f"{param_count(extractor):.1f}",
                    f"{naive_wall:.2f}",
                    f"{audio_s / naive_wall:.2f}",
                    f"{audio_s / naive_cpu:.2f}",
                    f"batched/naive = {naive_wall / wall:.2f}x wall, {naive_cpu / cpu:.2f}x CPU",
                )
            )
        del extractor

    header = ("backbone", "params (M)", "wall (s)", "audio-s / wall-s", "audio-s / CPU-s", "note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(fmt.format(*row))


if __name__ == "__main__":
    main()
