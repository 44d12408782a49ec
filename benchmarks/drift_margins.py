"""How far the monitoring tests' drift verdicts sit from their bounds, over many draws.

The drift tests (``tests/monitoring/test_monitoring_drift.py``) assert a clean,
same-population comparison stays at or below a quarter of each view's vectors and 20 % of
the scalar columns, and a 10 dB noisy one at or above three quarters and 45 %.  This
script repeats the tests' construction over corpus seeds x tiny-XLS-R seeds x partition
seeds and prints, per draw, the shares and the smallest clean p-value, then how many draws
crossed each bound.  Not a speed benchmark: a statistical margin study, run by hand

    .venv/bin/python benchmarks/drift_margins.py --corpus 11,0,3,9,15,21 --models 0,2,5 --parts 8

(144 draws, ~25 min on 2 cores).  Measured at the commit that introduced it: the clean
case crossed a bound in 1 of 144 draws (a view at 2 of 4 vectors), the noisy case in none.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "monitoring"))

import monitoring_helpers as mh  # noqa: E402


def _view_shares(result: Any) -> dict[str, float]:
    flags: dict[str, list[bool]] = {}
    for e in result.embeddings:
        flags.setdefault(e.view, []).append(e.drifted)
    return {view: sum(f) / len(f) for view, f in flags.items()}


def _features(corpus_seed: int, model_seeds: list[int]) -> tuple[pd.DataFrame, dict[int, Any]]:
    """(manifest, {model seed: (clean frame, noisy frame)}) for one synthetic corpus."""
    from corpus.degrade import add_noise, fit_to_range
    from corpus.synth import synthesize
    from extractors import registry
    from extractors.engine import extract_waves
    from nordlid.audio import decode, to_model_input

    root = Path(tempfile.mkdtemp(prefix="drift-margins-"))
    manifest = synthesize(
        root / "corpus",
        per_language=mh.PER_LANGUAGE,
        seed=corpus_seed,
        workers=1,
        voice_set="classic",
    )
    rng = np.random.default_rng(0)
    waves = [to_model_input(decode(str(p))) for p in manifest["path"]]
    noisy = [fit_to_range(add_noise(w, mh.SNR_DB, rng)) for w in waves]
    acoustic = registry.create("acoustic")
    clean_a = mh._prefixed(extract_waves(acoustic, waves), "acoustic")
    noisy_a = mh._prefixed(extract_waves(acoustic, noisy), "acoustic")
    frames: dict[int, Any] = {}
    for seed in model_seeds:
        path = mh._tiny_xlsr(root / f"xlsr-{seed}", seed=seed)
        xlsr = registry.create("xlsr", checkpoint=str(path), device="cpu")
        clean_x = mh._prefixed(extract_waves(xlsr, waves, batch_seconds=20.0), "xlsr")
        noisy_x = mh._prefixed(extract_waves(xlsr, noisy, batch_seconds=20.0), "xlsr")
        frames[seed] = (
            pd.concat([clean_a, clean_x], axis=1),
            pd.concat([noisy_a, noisy_x], axis=1),
        )
    return manifest, frames


def _draw(manifest: pd.DataFrame, clean: pd.DataFrame, noisy: pd.DataFrame, part: int) -> dict:
    from monitoring.drift import compute_drift

    held = mh.current_mask(manifest, mh.CURRENT_SHARE, seed=part)
    reference = clean[~held].reset_index(drop=True)
    c = compute_drift(reference, clean[held].reset_index(drop=True)).result
    n = compute_drift(reference, noisy[held].reset_index(drop=True)).result
    return {
        "clean_share": c.drift_share,
        "clean_views": _view_shares(c),
        "clean_min_p": min(e.p_value for e in c.embeddings if e.p_value is not None),
        "noisy_share": n.drift_share,
        "noisy_views": _view_shares(n),
    }


def _crossed(row: dict) -> tuple[bool, bool]:
    clean = row["clean_share"] > 0.2 or any(v > 0.25 for v in row["clean_views"].values())
    noisy = row["noisy_share"] < 0.45 or any(v < 0.75 for v in row["noisy_views"].values())
    return clean, noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="11,0,3", help="corpus seeds (11: the tests')")
    parser.add_argument("--models", default="0,2", help="tiny XLS-R seeds (0: the tests')")
    parser.add_argument("--parts", type=int, default=4, help="partitions per corpus/model")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    model_seeds = [int(s) for s in args.models.split(",")]
    rows = []
    for corpus_seed in (int(s) for s in args.corpus.split(",")):
        manifest, frames = _features(corpus_seed, model_seeds)
        for model_seed, (clean, noisy) in frames.items():
            for part in range(args.parts):
                row = {"corpus": corpus_seed, "model": model_seed, "part": part}
                row |= _draw(manifest, clean, noisy, part)
                rows.append(row)
                print(json.dumps(row), flush=True)
    crossed = [_crossed(r) for r in rows]
    print(
        f"{len(rows)} draws: clean crossed its bounds in {sum(c for c, _ in crossed)}, "
        f"noisy in {sum(n for _, n in crossed)}"
    )


if __name__ == "__main__":
    main()
