"""GPU throughput of the batch extraction engine (issue #4's GPU targets).

Full-size XLS-R-300M (the wav2vec2 large configuration, random weights: cost does not depend
on weight values) is saved with ``save_pretrained`` to a local directory and loaded back
through the production path (``XLSRExtractor(checkpoint=DIR)``), then fed synthetic clips of
varied length through the engine's one code path (:func:`extractors.engine.extract_waves`:
length-bucketed batches by audio seconds, inference mode, bf16 autocast on CUDA).  Printed
and written to ``--out``:

- audio-seconds per wall-second (× real time) in bf16 and fp32, per engine batch budget;
- the ratio to two one-utterance-at-a-time loops measured in the same run: the engine fed
  one clip per call (same precision), and the issue's naive baseline (fp32, every clip
  padded or cut to 10 s, mean over all frames);
- the model forward alone on the very batches the engine ran (the engine's overhead);
- executed TFLOP/s (FLOPs counted with ``torch.utils.flop_counter.FlopCounterMode`` over
  the same workload) as a fraction of a bf16 / fp32 matrix-product peak measured in the
  same run;
- optionally whisper-base and ECAPA (``--extras``) through the same engine path.

    python3 benchmarks/extract_gpu.py --out "$OUT"        # on a GPU machine
    .venv/bin/python benchmarks/extract_gpu.py --tiny      # CPU dry run with tiny models

It imports only the engine, the backbone modules and the registry of nordlid (numpy,
pandas, pyarrow, rich, torch, transformers), so it runs on a plain PyTorch image.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

log = logging.getLogger("extract_gpu")

SR = 16_000


@dataclass
class Report:
    """Lines of the result table, written to ``--out`` after every row (a crash keeps them)."""

    out: Path | None
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)
        self._flush()

    def record(self, key: str, value: Any) -> None:
        self.data[key] = value
        self._flush()

    def _flush(self) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "extract_gpu.txt").write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        (self.out / "extract_gpu.json").write_text(
            json.dumps(self.data, indent=2, default=str), encoding="utf-8"
        )


# -- machine ----------------------------------------------------------------------------


def machine_info(device: str) -> dict[str, Any]:
    import torch
    import transformers

    import extractors

    info: dict[str, Any] = {
        "code": str(Path(extractors.__file__).resolve().parent.parent),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": device,
        "cpu_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            capability=f"{props.major}.{props.minor}",
            sms=props.multi_processor_count,
            memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            bf16=torch.cuda.is_bf16_supported(),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
        )
        try:
            query = "name,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu"
            smi = subprocess.run(
                ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            )
            info["nvidia_smi"] = smi.stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            info["nvidia_smi"] = f"unavailable ({exc})"
    return info


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def matmul_peak(device: str, dtype_name: str, n: int, reps: int) -> float:
    """Median TFLOP/s of an ``n``×``n``×``n`` matrix product on random data."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    for _ in range(3):
        torch.mm(a, b)
    times: list[float] = []
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        if device.startswith("cuda"):
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            torch.mm(a, b)
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end) / 1000.0)
        else:
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
    return 2.0 * n**3 / statistics.median(times) / 1e12


# -- workload ---------------------------------------------------------------------------


def make_clips(n: int, lo: float, hi: float, seed: int) -> list[np.ndarray]:
    """Clips of uniform random length in [lo, hi] s: slices of a harmonic tone with noise.

    Slicing one precomputed signal keeps generation cheap for an hour of audio; the values
    do not change the cost of the forward pass, only the lengths do.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int((hi + 1.0) * SR)) / SR
    harmonics = np.arange(1, 8)[:, None]
    base = (np.sin(2 * np.pi * 140.0 * harmonics * t) / harmonics).sum(axis=0).astype(np.float32)
    clips = []
    for _ in range(n):
        samples = int(rng.uniform(lo, hi) * SR)
        offset = int(rng.integers(0, base.shape[0] - samples + 1))
        noise = rng.standard_normal(samples, dtype=np.float32)
        gain = np.float32(rng.uniform(0.05, 0.3))
        clips.append(gain * base[offset : offset + samples] + np.float32(0.02) * noise)
    return clips


def seconds_of(waves: list[np.ndarray]) -> float:
    return sum(w.shape[0] for w in waves) / SR


# -- models -----------------------------------------------------------------------------


def save_xlsr(directory: Path, *, tiny: bool, seed: int) -> float:
    """Save a random-weight XLS-R (full size, or tiny) with its preprocessor config."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from extractors.backbones.random_init import wav2vec2_config, xlsr_config

    torch.manual_seed(seed)
    config = (
        wav2vec2_config(hidden=64, layers=4, heads=4, intermediate=128) if tiny else xlsr_config()
    )
    model = Wav2Vec2Model(config)
    model.save_pretrained(directory)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SR, do_normalize=True, return_attention_mask=True
    ).save_pretrained(directory)
    return sum(p.numel() for p in model.parameters()) / 1e6


def load_xlsr(directory: Path, device: str, precision: str, batch_seconds: float) -> Any:
    """The production loading path: the registry's extractor on a local checkpoint."""
    from extractors.backbones.ssl import XLSRExtractor

    return XLSRExtractor(
        checkpoint=str(directory),
        device=device,
        precision=precision,  # type: ignore[arg-type]
        max_batch_seconds=max(batch_seconds, 20.0),
    )


@contextmanager
def recording_batches(extractor: Any) -> Iterator[list[list[Any]]]:
    """Record the chunk batches the extractor's ``_forward`` receives (for model-only runs)."""
    seen: list[list[Any]] = []
    forward = extractor._forward

    def spy(chunks: list[Any]) -> Any:
        seen.append(list(chunks))
        return forward(chunks)

    setattr(extractor, "_forward", spy)  # noqa: B010 - instance override of a method
    try:
        yield seen
    finally:
        delattr(extractor, "_forward")


def engine_run(extractor: Any, waves: list[np.ndarray], batch_seconds: float | None) -> float:
    """Wall seconds of one pass of the engine over ``waves`` (results come back to host)."""
    from extractors.engine import extract_waves

    sync(extractor.device)
    start = time.perf_counter()
    rows = extract_waves(extractor, waves, batch_seconds=batch_seconds)
    sync(extractor.device)
    if len(rows) != len(waves):
        raise RuntimeError(f"engine returned {len(rows)} rows for {len(waves)} waves")
    return time.perf_counter() - start


def one_at_a_time(extractor: Any, waves: list[np.ndarray]) -> float:
    """The engine fed one clip per call (same model, same precision)."""
    sync(extractor.device)
    start = time.perf_counter()
    for wave in waves:
        engine_run(extractor, [wave], None)
    return time.perf_counter() - start


def naive_fixed_pad(extractor: Any, waves: list[np.ndarray], pad_s: float) -> float:
    """Issue #4's naive loop (``extract_backbones.naive_xlsr``: fp32, one clip at a time
    padded/cut to ``pad_s``, plain mean over all frames), wall seconds."""
    from extract_backbones import naive_xlsr

    sync(extractor.device)
    start = time.perf_counter()
    naive_xlsr(extractor, waves, pad_s)
    sync(extractor.device)
    return time.perf_counter() - start


def model_only(extractor: Any, batches: list[list[Any]]) -> float:
    """The bare model forward on the engine's own batches (inputs already on the device)."""
    import torch

    from extractors.backbones.chunking import pad_batch
    from extractors.backbones.pooling import frame_mask

    device = extractor.torch_device
    inputs = []
    for chunks in batches:
        batch, lengths = pad_batch([c.wave for c in chunks])
        dtype = getattr(extractor, "model_dtype", torch.float32)  # older code: no attribute
        x = torch.from_numpy(batch).to(device=device, dtype=dtype)
        n = torch.from_numpy(lengths).to(device)
        inputs.append((x, frame_mask(n, x.shape[1]).long()))
    sync(extractor.device)
    start = time.perf_counter()
    with torch.inference_mode(), extractor._autocast():
        for x, mask in inputs:
            extractor.model(x, attention_mask=mask, output_hidden_states=True)
    sync(extractor.device)
    return time.perf_counter() - start


def profile_pass(extractor: Any, waves: list[np.ndarray], budget: float, path: Path) -> None:
    """One engine pass under ``torch.profiler``: the top operators by device time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if extractor.device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        wall = engine_run(extractor, waves, budget)
    sort = "cuda_time_total" if len(activities) > 1 else "cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=30)
    path.write_text(f"one engine pass, batch {budget:g} s, wall {wall:.3f} s\n{table}\n")


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of the matrix products, convolutions and attention that ``fn`` executes.

    The formulas are ``torch.utils.flop_counter.flop_registry``'s (``FlopCounterMode``'s).
    ``FlopCounterMode`` itself counts nothing under ``torch.inference_mode``, where composite
    ops (``linear``, ``conv1d``, ``scaled_dot_product_attention``) reach a dispatch mode
    undecomposed, and its module tracker fails on weight-norm parametrizations there; so
    this mode decomposes every op that has no formula and counts the ops it decomposes to.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Tally(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            kwargs = kwargs or {}
            formula = flop_registry.get(func._overloadpacket)
            if formula is None:
                with self:
                    decomposed = func.decompose(*args, **kwargs)
                if decomposed is not NotImplemented:
                    return decomposed
            out = func(*args, **kwargs)
            if formula is not None:
                self.total += int(formula(*args, **kwargs, out_val=out))
            return out

    with Tally() as tally:
        fn()
    return float(tally.total)


# -- the benchmark ----------------------------------------------------------------------


@dataclass
class Settings:
    device: str
    tiny: bool
    clips: int
    min_s: float
    max_s: float
    budgets: list[float]
    repeats: int
    naive_clips: int
    precisions: list[str]
    extras: bool
    seed: int
    peak_n: int
    deadline: float  # perf_counter time after which optional parts are skipped


def measure(
    extractor: Any,
    waves: list[np.ndarray],
    budget: float,
    dtype: str,
    peaks: dict[str, float],
    repeats: int,
) -> dict[str, Any]:
    """One engine configuration: timed passes, the model alone on its batches, FLOPs."""
    audio = seconds_of(waves)
    engine_run(extractor, waves[:8], budget)  # warm-up: kernels, allocator
    walls = [engine_run(extractor, waves, budget) for _ in range(repeats)]
    wall = statistics.median(walls)
    with recording_batches(extractor) as batches:
        flops = count_flops(lambda: engine_run(extractor, waves, budget))
    model_wall = model_only(extractor, batches)
    padded = sum(len(b) * max(c.length for c in b) for b in batches) / SR
    tflops = flops / wall / 1e12
    return {
        "precision": dtype,
        "batch_seconds": budget,
        "walls": walls,
        "x_realtime": audio / wall,
        "model_only_x_realtime": audio / model_wall,
        "engine_over_model": model_wall / wall,
        "batches": len(batches),
        "padding_share": 1.0 - audio / padded,
        "gflop_per_audio_s": flops / audio / 1e9,
        "tflops": tflops,
        "peak_tflops": peaks[peak_of(dtype)],
        "fraction_of_peak": tflops / peaks[peak_of(dtype)],
    }


def peak_of(label: str) -> str:
    """Which measured matrix-product peak a precision label is compared with."""
    return "fp32" if label == "fp32" else "bf16"


def row_line(name: str, row: dict[str, Any]) -> str:
    walls = ", ".join(f"{w:.2f}" for w in row["walls"])
    return (
        f"{name} {row['precision']:<10} batch {row['batch_seconds']:>5g} s | "
        f"{row['x_realtime']:>8.0f}x real time (median of {len(row['walls'])}: {walls} s) | "
        f"model alone {row['model_only_x_realtime']:>8.0f}x | {row['batches']} batches, "
        f"{row['padding_share']:.0%} padding | {row['gflop_per_audio_s']:.1f} GFLOP/audio-s | "
        f"{row['tflops']:.1f} TFLOP/s = {row['fraction_of_peak']:.1%} of the "
        f"{peak_of(row['precision'])} peak"
    )


def free(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def relative_errors(
    rows: list[dict[str, Any]], reference: list[dict[str, Any]]
) -> dict[str, float]:
    """Median and max over utterances and columns of ``|a - b| / |b|`` (vector norms)."""
    errs = [
        float(np.linalg.norm(a[k] - b[k])) / max(float(np.linalg.norm(b[k])), 1e-12)
        for a, b in zip(rows, reference, strict=True)
        for k in b
    ]
    return {"median": float(np.median(errs)), "max": float(np.max(errs))}


def bench_xlsr(s: Settings, report: Report, peaks: dict[str, float]) -> None:
    from extractors.engine import extract_waves

    waves = make_clips(s.clips, s.min_s, s.max_s, s.seed)
    audio = seconds_of(waves)
    report.say(
        f"workload: {len(waves)} clips, {audio:.0f} s of audio "
        f"({s.min_s:g}-{s.max_s:g} s each, uniform)"
    )
    report.record("workload", {"clips": len(waves), "audio_s": audio})
    naive = waves[: s.naive_clips]
    naive_audio = seconds_of(naive)
    probe = waves[: max(s.naive_clips // 2, 2)]  # features compared between precisions
    cuda = s.device.startswith("cuda")
    # (precision argument, label, engine batch budgets)
    variants = [
        ("auto", "bf16" if cuda else "auto-fp32", s.budgets),
        ("bf16-model", "bf16-model", s.budgets[1:] or s.budgets),
        ("fp32", "fp32", [max(s.budgets)]),
    ]
    variants = [v for v in variants if v[0] in s.precisions]
    features: dict[str, list[dict[str, Any]]] = {}
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="xlsr-random-") as tmp:
        directory = Path(tmp)
        t0 = time.perf_counter()
        params = save_xlsr(directory, tiny=s.tiny, seed=s.seed)
        report.say(
            f"xlsr: {params:.1f} M parameters; random init + save_pretrained "
            f"{time.perf_counter() - t0:.1f} s"
        )
        for precision, label, budgets in variants:
            t0 = time.perf_counter()
            extractor = load_xlsr(directory, s.device, precision, max(s.budgets))
            report.say(
                f"xlsr: loaded through XLSRExtractor(checkpoint=DIR, precision={precision!r}) "
                f"in {time.perf_counter() - t0:.1f} s"
            )
            for budget in budgets:
                row = measure(extractor, waves, budget, label, peaks, s.repeats)
                report.record(f"xlsr_{label}_{budget:g}", row)
                report.say(row_line("xlsr", row))
                best[label] = max(best.get(label, 0.0), row["x_realtime"])
            features[label] = extract_waves(extractor, probe, batch_seconds=max(s.budgets))
            if precision == "auto":
                if report.out is not None:
                    profile_pass(extractor, waves, max(s.budgets), report.out / "profile_xlsr.txt")
                if naive:
                    naive_loops(s, report, extractor, naive, naive_audio, best[label], label)
            del extractor
            free(s.device)
    for label, rows in features.items():
        if label != "fp32" and "fp32" in features:
            errors = relative_errors(rows, features["fp32"])
            report.record(f"xlsr_{label}_vs_fp32_features", errors)
            report.say(
                f"xlsr {label} features vs fp32 ({len(probe)} clips, every column): relative "
                f"error median {errors['median']:.1e}, max {errors['max']:.1e}; speed "
                f"{best[label] / best['fp32']:.2f}x fp32"
            )


def naive_loops(
    s: Settings,
    report: Report,
    extractor: Any,
    naive: list[np.ndarray],
    naive_audio: float,
    best: float,
    label: str,
) -> None:
    """The two one-clip-at-a-time baselines, against the best batched rate ``best``."""
    single = one_at_a_time(extractor, naive)
    fixed = naive_fixed_pad(extractor, naive, 10.0)
    report.record(
        "xlsr_one_at_a_time",
        {
            "clips": len(naive),
            "audio_s": naive_audio,
            "engine_1_per_call_s": single,
            "naive_fp32_pad10_s": fixed,
            "best": best,
        },
    )
    report.say(
        f"xlsr {label} engine, 1 clip a call ({len(naive)} clips) | "
        f"{naive_audio / single:>8.0f}x real time | best batched / this = "
        f"{best / (naive_audio / single):.1f}x"
    )
    report.say(
        f"xlsr naive: fp32, pad/cut 10 s, 1 clip a call ({len(naive)} clips) | "
        f"{naive_audio / fixed:>8.0f}x real time | best batched / this = "
        f"{best / (naive_audio / fixed):.1f}x"
    )


def build_extra(name: str, s: Settings) -> Any:
    """whisper-base or ECAPA (``ecapa`` exact-length batches, ``ecapa-padded``), random."""
    from extractors.backbones import random_init

    if name == "whisper-base":
        if not s.tiny:
            return random_init.build_full_size("whisper-base", device=s.device)
        from transformers import WhisperFeatureExtractor

        from extractors.backbones.whisper import WhisperBaseExtractor

        encoder = random_init.whisper_encoder(d_model=32, layers=2, heads=2, ffn=64)
        return WhisperBaseExtractor.from_model(
            encoder,
            WhisperFeatureExtractor(feature_size=80),
            checkpoint="random-init:tiny",
            device=s.device,
        )
    from extractors.backbones.ecapa import EcapaExtractor

    sizes: dict[str, Any] = (
        {
            "n_mels": 20,
            "channels": (16, 16, 16, 16, 48),
            "attention_channels": 8,
            "lin_neurons": 12,
            "num_languages": 5,
        }
        if s.tiny
        else {}
    )
    return EcapaExtractor.from_model(
        random_init.ecapa_classifier(**sizes),
        checkpoint="random-init:ecapa",
        device=s.device,
        batching="padded" if name == "ecapa-padded" else "exact",
    )


def bench_extras(s: Settings, report: Report, peaks: dict[str, float], budget: float) -> None:
    waves = make_clips(max(s.clips // 4, 4), s.min_s, s.max_s, s.seed + 1)
    audio = seconds_of(waves)
    for name in ("whisper-base", "ecapa", "ecapa-padded"):
        if time.perf_counter() > s.deadline:
            report.say(f"{name}: skipped (time budget of this run spent)")
            continue
        try:
            extractor = build_extra(name, s)
        except ImportError as exc:  # speechbrain is not part of a plain PyTorch image
            report.say(f"{name}: skipped ({exc})")
            continue
        dtype = "bf16" if extractor.device.startswith("cuda") and name == "whisper-base" else "fp32"
        engine_run(extractor, waves[:4], budget)
        wall = engine_run(extractor, waves, budget)
        flops = count_flops(partial(engine_run, extractor, waves, budget))
        tflops = flops / wall / 1e12
        row = {
            "precision": dtype,
            "batch_seconds": budget,
            "clips": len(waves),
            "audio_s": audio,
            "wall": wall,
            "x_realtime": audio / wall,
            "gflop_per_audio_s": flops / audio / 1e9,
            "tflops": tflops,
            "fraction_of_peak": tflops / peaks[dtype],
        }
        report.record(name, row)
        report.say(
            f"{name} {dtype} batch {budget:g} s ({len(waves)} clips, {audio:.0f} s) | "
            f"{audio / wall:>8.0f}x real time | {flops / audio / 1e9:.1f} GFLOP/audio-s | "
            f"{tflops:.1f} TFLOP/s = {row['fraction_of_peak']:.1%} of {dtype} peak"
        )
        del extractor
        free(s.device)


def parse(argv: list[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for the table and JSON")
    parser.add_argument("--device", default="auto", help="auto, cuda[:N] or cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny models and sizes (CPU check)")
    parser.add_argument("--clips", type=int, default=480)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    parser.add_argument("--budgets", default="120,400,1000", help="engine batch seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-clips", type=int, default=64)
    parser.add_argument(
        "--precisions", default="auto,bf16-model,fp32", help="XLS-R precisions to time"
    )
    parser.add_argument("--extras", action="store_true", help="also whisper-base and ECAPA")
    parser.add_argument("--seconds", type=float, default=300.0, help="soft limit of the run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from extractors.engine import resolve_device

    device = resolve_device(args.device)
    budgets = [float(b) for b in args.budgets.split(",") if b.strip()]
    common = {
        "device": device,
        "precisions": [p.strip() for p in args.precisions.split(",") if p.strip()],
        "extras": args.extras,
        "seed": args.seed,
        "deadline": time.perf_counter() + args.seconds,
    }
    if args.tiny:  # the CPU dry run: every code path, tiny sizes
        return Settings(
            tiny=True,
            clips=12,
            min_s=0.5,
            max_s=2.5,
            budgets=[4.0, 10.0],
            repeats=2,
            naive_clips=4,
            peak_n=256,
            **common,
        ), args.out
    settings = Settings(
        tiny=False,
        clips=args.clips,
        min_s=args.min_seconds,
        max_s=args.max_seconds,
        budgets=budgets,
        repeats=args.repeats,
        naive_clips=args.naive_clips,
        peak_n=8192,
        **common,
    )
    return settings, args.out


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    s, out = parse(argv)
    report = Report(out)
    info = machine_info(s.device)
    report.record("machine", info)
    report.say("# extract_gpu — " + time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()))
    report.say("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    peaks = {
        "bf16": matmul_peak(s.device, "bf16", s.peak_n, 30)
        if s.device.startswith("cuda")
        else float("nan"),
        "fp32": matmul_peak(s.device, "fp32", s.peak_n, 10),
    }
    if not s.device.startswith("cuda"):
        peaks["bf16"] = peaks["fp32"]  # CPU: no autocast; both rows compare with fp32
    report.record("peaks_tflops", peaks)
    report.say(
        f"measured peak ({s.peak_n}^3 matrix product, random data, median): "
        f"bf16 {peaks['bf16']:.1f} TFLOP/s, fp32 {peaks['fp32']:.1f} TFLOP/s"
    )
    bench_xlsr(s, report, peaks)
    if s.extras:
        bench_extras(s, report, peaks, max(s.budgets))
    report.say("done")


if __name__ == "__main__":
    main()
