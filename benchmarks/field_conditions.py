"""Render time per held-out file for each condition, and the extra over ``clean``.

Each condition renders the same held-out plan (the plan's speakers, sentences, rates and
formats do not depend on the condition), in one process, so the difference to ``clean`` is
the condition's own cost; a second table times the degradation step alone
(``apply_condition`` on the same espeak-ng waves; babble's includes its talkers' espeak-ng
calls), which the espeak-ng subprocess's jitter on a busy machine does not blur.
pyroomacoustics and scipy are imported before timing (a worker
pays that once, ~1 s).  The machines are shared: compare rows of one run only.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/field_conditions.py [--per-language 10]

2026-12-04, 2 shared cores (load ~4.3), 40 files per condition, degradation step alone in
ms/file: noisy 2.9, telephone 8.3, gain 0.1, reverb 44, babble 71 (2-4 extra espeak-ng
calls), codec 58 (two sox calls), lownoise 4.1, short 0.4, extreme 0.1 (its cost is in
espeak-ng: slow speech is longer audio; whole-render extra vs clean -3..+6 ms).
Whole render: clean 49 ms/file; reverb +34, babble +67, codec +45, the others within noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from corpus.render import CONDITIONS, MIN_DURATION_S, apply_condition, pad_to, speak
from corpus.synth import _plan_holdout, synthesize_holdout


def _per_file(condition: str, per_language: int, languages: tuple[str, ...]) -> float:
    with tempfile.TemporaryDirectory(prefix="nordlid-bench-field-") as tmp:
        start = time.perf_counter()
        frame = synthesize_holdout(
            Path(tmp),
            per_language=per_language,
            seed=1,
            languages=languages,
            conditions=(condition,),
            workers=1,
        )
        return (time.perf_counter() - start) / len(frame)


def _degrade_only(per_language: int, languages: tuple[str, ...]) -> dict[str, float]:
    """Milliseconds per file of ``apply_condition`` alone, per condition (``extreme``'s cost
    is in espeak-ng's call, so it shows ~0 here)."""
    with tempfile.TemporaryDirectory(prefix="nordlid-bench-field-") as tmp:
        plans = [
            p.task
            for lang in languages
            for p in _plan_holdout(Path(tmp), lang, per_language, 1, CONDITIONS, 0.0, 0.0)
        ]
        waves = []
        for t in plans:
            wave, sr = speak(t.voice, t.pitch, t.speed, t.text, Path(tmp, "w.wav"))
            waves.append((pad_to(wave, int(round(MIN_DURATION_S * sr))), sr))
        out = {}
        for c in CONDITIONS:
            start = time.perf_counter()
            for t, (wave, sr) in zip(plans, waves, strict=True):
                apply_condition(wave, sr, dataclasses.replace(t, condition=c))
            out[c] = (time.perf_counter() - start) / len(plans) * 1e3
        return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-language", type=int, default=10)
    parser.add_argument("--languages", default="da,is,no,sv")
    parser.add_argument("--repeats", type=int, default=2, help="best of N per condition")
    args = parser.parse_args(argv)
    languages = tuple(args.languages.split(","))
    import pyroomacoustics  # noqa: F401
    import scipy.signal  # noqa: F401

    _per_file("clean", 1, languages[:1])  # warm the espeak-ng and file caches
    times = dict.fromkeys(CONDITIONS, float("inf"))
    for _ in range(args.repeats):  # interleaved, so a busy spell hits every condition alike
        for c in CONDITIONS:
            times[c] = min(times[c], _per_file(c, args.per_language, languages))
    n = args.per_language * len(languages)
    print(f"{n} held-out files per condition, one process, best of {args.repeats}")
    print(f"{'condition':<10} {'ms/file':>8} {'extra ms':>9} {'x clean':>8}")
    for c, t in times.items():
        extra = (t - times["clean"]) * 1e3
        print(f"{c:<10} {t * 1e3:8.1f} {extra:+9.1f} {t / times['clean']:8.2f}")
    print("\ndegradation step alone (apply_condition), ms/file")
    for c, ms in _degrade_only(args.per_language, languages).items():
        print(f"{c:<10} {ms:8.1f}")


if __name__ == "__main__":
    main()
