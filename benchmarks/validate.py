"""Validation throughput: the cheap checks versus VAD and SQUIM, in utterances per second.

Every stage runs on the same synthetic utterances in this one process; the table reports
each stage's utterances/s and its ratio against the baseline (decoding alone), because
shared machines make only same-run ratios meaningful.  SQUIM runs the full-size
``squim_objective_base`` with random weights (cost does not depend on weight values) on a
subset, as it is by far the most expensive step.

    .venv/bin/python benchmarks/validate.py [--per-language 25] [--squim-utterances 8]
    .venv/bin/python benchmarks/validate.py --manifest data/manifest.parquet

Rows:
- decode (baseline): ``nordlid.audio.decode`` per file;
- decode + 16 kHz: plus mono/resampling (soxr) as the scan does it;
- cheap checks: GE suite, decode + fingerprint, duplicate search + speaker leakage (each
  and together);
- VAD: silero-vad speech ratio on the decoded 16 kHz waves (decoding excluded);
- SQUIM: STOI/PESQ/SI-SDR on the decoded waves (decoding excluded).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nordlid.audio import decode
from validation.audio_scan import to_16k
from validation.config import ValidationConfig
from validation.duplicates import find_duplicates
from validation.expectations import run_suite
from validation.fingerprint import fingerprint
from validation.leakage import find_speaker_leakage
from validation.speech_quality import load_vad, speech_ratio, squim_scores


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _fingerprints(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    prints = [fingerprint(to_16k(decode(p))) for p in paths]
    return np.stack([f.vector for f in prints]), np.array([f.speech_s for f in prints])


def _groups(manifest: pd.DataFrame, vectors: np.ndarray, speech: np.ndarray, cfg: Any) -> None:
    find_duplicates(manifest, vectors, speech, np.ones(len(speech), dtype=bool), cfg)
    find_speaker_leakage(manifest)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", type=Path, default=None, help="use this manifest")
    parser.add_argument("--per-language", type=int, default=25)
    parser.add_argument("--squim-utterances", type=int, default=8)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nordlid-bench-validate-") as tmp:
        if args.manifest is not None:
            manifest = pd.read_parquet(args.manifest)
        else:
            from corpus.synth import synthesize

            manifest = synthesize(
                Path(tmp), per_language=args.per_language, seed=0, conditions=("clean", "noisy")
            )
        manifest = manifest.reset_index(drop=True)
        cfg = ValidationConfig()
        n = len(manifest)
        paths = list(manifest["path"])

        # warm-up: imports and model loads are not throughput
        run_suite(manifest.head(4), cfg.expectations, None)
        vad = load_vad()
        from torchaudio.models import squim_objective_base

        squim = squim_objective_base().eval()
        warm = to_16k(decode(paths[0]))
        speech_ratio(warm, vad)
        squim_scores([warm[:16_000]], squim)

        t_decode, _ = _timed(lambda: [decode(p) for p in paths])
        t_16k, waves = _timed(lambda: [to_16k(decode(p)) for p in paths])
        t_ge, _ = _timed(lambda: run_suite(manifest, cfg.expectations, None))
        t_fp, (vectors, speech) = _timed(lambda: _fingerprints(paths))
        t_groups, _ = _timed(lambda: _groups(manifest, vectors, speech, cfg.duplicates))
        t_vad, _ = _timed(lambda: [speech_ratio(w, vad) for w in waves])
        k = min(args.squim_utterances, n)
        max_s = cfg.quality.squim_max_seconds
        threads = cfg.quality.squim_threads
        t_squim, _ = _timed(
            lambda: squim_scores(waves[:k], squim, max_seconds=max_s, threads=threads)
        )

    audio_s = sum(w.size for w in waves) / 16_000
    rows = [
        ("decode (baseline)", n, t_decode),
        ("decode + 16 kHz", n, t_16k),
        ("GE suite on the manifest (no Data Docs)", n, t_ge),
        ("decode + 16 kHz + fingerprint", n, t_fp),
        ("duplicate search + speaker leakage", n, t_groups),
        ("cheap checks together (3 rows above)", n, t_ge + t_fp + t_groups),
        ("VAD speech ratio (silero, " + vad.backend + ")", n, t_vad),
        (f"SQUIM objective (full size, <= {max_s:g} s, {threads} thread)", k, t_squim),
    ]
    base = n / t_decode
    print(f"{n} utterances, {audio_s:.0f} s of audio (mean {audio_s / n:.2f} s)")
    print(f"{'stage':<62} {'utts':>5} {'seconds':>8} {'utt/s':>8} {'x baseline':>10}")
    for name, count, secs in rows:
        rate = count / secs
        print(f"{name:<62} {count:>5} {secs:>8.2f} {rate:>8.3g} {rate / base:>10.3g}")


if __name__ == "__main__":
    main()
