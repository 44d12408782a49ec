"""Extraction throughput: batched engine vs a naive loop, per extractor, in one run.

For each extractor it prints audio-seconds processed per wall-second (and per CPU-second of
this process, which is robust to other load on a shared machine) for

- ``batched``: :func:`extractors.engine.extract_waves` with length-bucketed batches under
  ``--batch-seconds`` of padded audio (what ``nordlid extract`` runs);
- ``naive``: one utterance at a time, zero-padded to a fixed 10 s (longer ones unpadded),
  as a common baseline script does — the same extractor object, so only batching differs;
- ``engine``: the whole batch job (``run_extraction``: decode + resample + extract + Parquet
  with lineage) on the same audio written as WAV files (acoustic only by default).

``--baseline-rev REV`` adds a second table for ``acoustic``: the extractor as committed at git
revision ``REV`` against the working tree's, batched and one clip at a time (as serving calls
it), with and without silero-vad trimming — the before/after of a speed change in one run.

``--backbones xlsr,...`` adds full-size random-weight backbones built by
``extractors.backbones.random_init.build_full_size`` (when that module exists).

    .venv/bin/python benchmarks/extract.py --utterances 40
    .venv/bin/python benchmarks/extract.py --manifest data/validated/manifest.parquet
    .venv/bin/python benchmarks/extract.py --extractors acoustic --baseline-rev 777a838

Numbers are only comparable within one run (ratios are the point on shared machines).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from extractors.base import Extractor

SR = 16_000


def speech_like(n: int, lo: float, hi: float, seed: int) -> list[np.ndarray]:
    """Harmonic signals with gliding F0, a syllable-rate envelope, noise and short pauses."""
    rng = np.random.default_rng(seed)
    waves = []
    for k in range(n):
        t = np.arange(int(rng.uniform(lo, hi) * SR)) / SR
        f0 = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * 0.6 * t + k))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        voiced = sum(np.sin(h * phase) / h for h in range(1, 10))
        envelope = np.clip(np.sin(2 * np.pi * 3.5 * t + k), 0, None) ** 0.5
        wave = 0.2 * envelope * voiced + 0.01 * rng.standard_normal(t.size)
        pad = np.zeros(int(0.3 * SR))
        waves.append(np.concatenate([pad, wave, pad]).astype(np.float32))
    return waves


def manifest_waves(path: Path, limit: int) -> tuple[list[np.ndarray], pd.DataFrame]:
    from corpus.manifest import read_manifest
    from extractors.engine import load_wave

    frame = read_manifest(path).head(limit).reset_index(drop=True)
    return [load_wave(p) for p in frame.path], frame


def write_manifest_for(waves: list[np.ndarray], root: Path) -> Path:
    """WAV files + a validated manifest for the engine row."""
    import soundfile as sf

    from corpus.manifest import utterance_id, write_manifest
    from nordlid.audio import pcm_sha256

    rows = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, wave in enumerate(waves):
        path = root / "audio" / f"b{i:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), wave, SR, subtype="PCM_16")
        rows.append(
            {
                "utterance_id": utterance_id("folder", f"bench-{i}"),
                "path": str(path),
                "language": ("da", "is", "no", "sv")[i % 4],
                "source": "folder",
                "source_language": "und",
                "speaker_id": None,
                "gender": None,
                "split": "train",
                "duration_s": len(wave) / SR,
                "sample_rate": SR,
                "num_channels": 1,
                "file_size": path.stat().st_size,
                "audio_sha256": pcm_sha256(path),
                "text": None,
                "condition": "clean",
                "event_timestamp": start + timedelta(seconds=i),
            }
        )
    out = root / "data" / "validated" / "manifest.parquet"
    write_manifest(pd.DataFrame(rows), out)
    return out


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def naive_loop(extractor: Extractor, waves: list[np.ndarray], pad_seconds: float) -> None:
    from extractors.engine import extract_waves

    target = int(pad_seconds * SR)
    for wave in waves:
        padded = np.zeros(max(target, len(wave)), dtype=np.float32)
        padded[: len(wave)] = wave
        extract_waves(extractor, [padded])


def build(name: str, device: str) -> Extractor:
    from extractors import registry

    if name in ("acoustic", "quality"):
        return registry.create(name).to(device)
    if importlib.util.find_spec("extractors.backbones.random_init") is None:
        raise SystemExit(f"{name}: extractors.backbones.random_init is not available")
    from extractors.backbones.random_init import build_full_size

    return build_full_size(name, device=device)


def engine_run(name: str, waves: list[np.ndarray], device: str, batch_seconds: float) -> None:
    """The batch job on WAV files: decode, resample, extract, write Parquet with lineage."""
    from extractors.engine import run_extraction
    from nordlid.workdir import Workdir

    with tempfile.TemporaryDirectory() as tmp:
        path = write_manifest_for(waves, Path(tmp))
        run_extraction(
            Workdir(Path(tmp)),
            [name],
            device=device,
            batch_seconds=batch_seconds,
            manifest=path,
            show_progress=False,
        )


COLUMNS = (
    ("extractor", 14, "<"),
    ("mode", 32, "<"),
    ("wall s", 8, ">"),
    ("audio-s/s", 11, ">"),
    ("per CPU-s", 11, ">"),
    ("vs naive", 10, ">"),
)


def line(*cells: str) -> str:
    return "".join(
        f"{c:{align}{width}}" for c, (_, width, align) in zip(cells, COLUMNS, strict=True)
    )


def result(name: str, mode: str, wall: float, cpu: float, audio_s: float, naive_wall: float) -> str:
    return line(
        name,
        mode,
        f"{wall:.2f}",
        f"{audio_s / wall:.1f}",
        f"{audio_s / max(cpu, 1e-9):.1f}",
        f"{naive_wall / wall:.2f}x",
    )


def bench(name: str, args: argparse.Namespace, device: str, waves: list[np.ndarray]) -> list[str]:
    from extractors.engine import extract_waves

    audio_s = sum(len(w) for w in waves) / SR
    extractor = build(name, device)
    extract_waves(extractor, waves[:2])  # warm-up: lazy loads and first-call allocations
    b_wall, b_cpu = timed(
        partial(extract_waves, extractor, waves, batch_seconds=args.batch_seconds)
    )
    n_wall, n_cpu = timed(partial(naive_loop, extractor, waves, args.naive_pad_seconds))
    naive = f"naive (1 at a time, pad {args.naive_pad_seconds:g} s)"
    rows = [
        result(name, "batched (engine path)", b_wall, b_cpu, audio_s, n_wall),
        result("", naive, n_wall, n_cpu, audio_s, n_wall),
    ]
    if name == "acoustic" and not args.no_engine:
        e_wall, e_cpu = timed(partial(engine_run, name, waves, device, args.batch_seconds))
        rows.append(result("", "engine (decode+extract+Parquet)", e_wall, e_cpu, audio_s, n_wall))
    return rows


BASELINE_PACKAGE = "_nordlid_baseline"
ACOUSTIC_MODULES = ("acoustic", "acoustic_frames", "acoustic_params")


def baseline_acoustic_class(rev: str) -> type:
    """``AcousticExtractor`` as committed at git revision ``rev``, imported under another name."""
    import importlib
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    package = Path(tempfile.mkdtemp(prefix="nordlid-baseline-")) / BASELINE_PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module in ACOUSTIC_MODULES:
        source = subprocess.run(
            ["git", "show", f"{rev}:extractors/{module}.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name in ACOUSTIC_MODULES:
            source = source.replace(f"extractors.{name} ", f"{BASELINE_PACKAGE}.{name} ")
        (package / f"{module}.py").write_text(source)
    sys.path.insert(0, str(package.parent))
    cls: type = importlib.import_module(f"{BASELINE_PACKAGE}.acoustic").AcousticExtractor
    return cls


def one_at_a_time(extractor: Extractor, waves: list[np.ndarray]) -> None:
    from extractors.engine import extract_waves

    for wave in waves:
        extract_waves(extractor, [wave])


def bench_baseline(rev: str, args: argparse.Namespace, waves: list[np.ndarray]) -> list[str]:
    """Working tree vs ``rev`` for ``acoustic``: CPU-time speed-up per mode, same audio."""
    from extractors.acoustic import AcousticExtractor
    from extractors.engine import extract_waves

    audio_s = sum(len(w) for w in waves) / SR
    old_cls = baseline_acoustic_class(rev)
    rows = []
    for trim in (True, False):
        vad = "VAD" if trim else "no VAD"
        for label, cls in ((f"@{rev}", old_cls), ("working tree", AcousticExtractor)):
            extractor = cls(trim_silence=trim)
            extract_waves(extractor, waves[:2])  # warm-up
            for mode, fn in (
                (
                    "batched",
                    partial(extract_waves, extractor, waves, batch_seconds=args.batch_seconds),
                ),
                ("1 clip a call", partial(one_at_a_time, extractor, waves)),
            ):
                wall, cpu = min(timed(fn) for _ in range(args.repeats))
                rows.append((f"{label}, {mode}, {vad}", wall, cpu))
    out = []
    for i, (mode, wall, cpu) in enumerate(rows):
        base_cpu = rows[i - 2][2] if i % 4 >= 2 else cpu  # the same mode at ``rev``
        out.append(
            line(
                "acoustic" if i == 0 else "",
                mode,
                f"{wall:.2f}",
                f"{audio_s / wall:.1f}",
                f"{audio_s / max(cpu, 1e-9):.1f}",
                f"{base_cpu / max(cpu, 1e-9):.2f}x",
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--min-seconds", type=float, default=1.5)
    parser.add_argument("--max-seconds", type=float, default=6.0)
    parser.add_argument("--manifest", type=Path, help="use this manifest's audio instead")
    parser.add_argument("--extractors", default="acoustic,quality")
    parser.add_argument("--backbones", default="", help="e.g. xlsr,whisper-tiny (random weights)")
    parser.add_argument("--batch-seconds", type=float, default=120.0)
    parser.add_argument("--naive-pad-seconds", type=float, default=10.0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-engine", action="store_true", help="skip the decode+Parquet row")
    parser.add_argument("--baseline-rev", help="git revision whose acoustic extractor to compare")
    parser.add_argument("--repeats", type=int, default=3, help="baseline table: best of N")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from extractors.engine import resolve_device

    device = resolve_device(args.device)
    if args.manifest:
        waves, _ = manifest_waves(args.manifest, args.utterances)
    else:
        waves = speech_like(args.utterances, args.min_seconds, args.max_seconds, seed=0)
    audio_s = sum(len(w) for w in waves) / SR
    names = [n for n in (args.extractors + "," + args.backbones).split(",") if n.strip()]
    print(
        f"{len(waves)} utterances, {audio_s:.1f} s of audio; device {device}, "
        f"torch threads {torch.get_num_threads()}, batch budget {args.batch_seconds:g} s"
    )
    header = line(*(c[0] for c in COLUMNS))
    print(header)
    print("-" * len(header))
    for name in names:
        for row in bench(name, args, device, waves):
            print(row, flush=True)
    if args.baseline_rev:
        print()
        print(f"acoustic before/after (best of {args.repeats}; last column: CPU-time speed-up)")
        head = line("extractor", "revision, mode", "wall s", "audio-s/s", "per CPU-s", "vs rev")
        print(head)
        print("-" * len(head))
        for row in bench_baseline(args.baseline_rev, args, waves):
            print(row, flush=True)


if __name__ == "__main__":
    main()
