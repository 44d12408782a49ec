"""Cost of a drift report over N rows × all acoustic columns, against a scipy baseline.

Frames have exactly the columns of the ``acoustic`` extractor spec (scalars and vectors,
lengths from the registry); values are random (cost does not depend on them), the
current frame is shifted so that drift is found.  Measured in this one process:

- ``scipy KS`` (baselines): ``scipy.stats.ks_2samp`` on the scalar columns only, and on
  every scalar column and every vector component;
- ``evidently columns``: ``monitoring.drift.compute_drift`` over the scalar columns only
  (Evidently's per-column tests + rendering widgets);
- ``evidently full``: ``compute_drift`` over all columns (scalars + one embedding drift
  domain classifier per vector);
- ``report files``: writing index.html / Evidently HTML and JSON.

Usage: ``python benchmarks/drift.py [--rows 200 1000] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


def acoustic_frame(n: int, shift: float, seed: int) -> pd.DataFrame:
    from extractors import registry

    rng = np.random.default_rng(seed)
    spec = registry.get_spec("acoustic")
    data: dict[str, object] = {}
    for col in spec.columns:
        if col.dtype == "string":
            continue
        name = f"acoustic__{col.name}"
        if col.length is None:
            data[name] = rng.normal(shift, 1.0, n)
        else:
            data[name] = list(rng.normal(shift, 1.0, (n, col.length)).astype(np.float32))
    return pd.DataFrame(data)


def ks_baseline(ref: pd.DataFrame, cur: pd.DataFrame) -> int:
    from scipy.stats import ks_2samp

    drifted = 0
    for col in ref.columns:
        if isinstance(ref[col].iloc[0], np.ndarray | list):
            a, b = np.stack(ref[col].to_numpy()), np.stack(cur[col].to_numpy())
            for j in range(a.shape[1]):
                drifted += ks_2samp(a[:, j], b[:, j]).pvalue < 0.05
        else:
            drifted += ks_2samp(ref[col], cur[col]).pvalue < 0.05
    return int(drifted)


def timed(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from monitoring.drift import DriftConfig, compute_drift
    from monitoring.report import write_report

    # warm-up: imports of Evidently/sklearn are not part of the measurement
    warm = acoustic_frame(30, 0.0, 0)
    compute_drift(warm, acoustic_frame(30, 0.0, 1))

    config = DriftConfig()
    table = []
    for n in args.rows:
        ref, cur = acoustic_frame(n, 0.0, 1), acoustic_frame(n, 0.3, 2)
        scalars = [c for c in ref.columns if not isinstance(ref[c].iloc[0], np.ndarray)]
        n_vec = len(ref.columns) - len(scalars)
        dims = sum(len(ref[c].iloc[0]) for c in ref.columns if c not in scalars)
        t_ks_s = timed(lambda: ks_baseline(ref[scalars], cur[scalars]), args.repeat)  # noqa: B023
        t_ks = timed(lambda: ks_baseline(ref, cur), args.repeat)  # noqa: B023
        t_cols = timed(lambda: compute_drift(ref[scalars], cur[scalars], config), args.repeat)  # noqa: B023
        outcome = compute_drift(ref, cur, config)
        t_full = timed(lambda: compute_drift(ref, cur, config), args.repeat)  # noqa: B023
        with tempfile.TemporaryDirectory() as tmp:
            t_write = timed(
                lambda: write_report(outcome, Path(tmp) / "r", {}),  # noqa: B023
                args.repeat,
            )
        table.append((n, len(scalars), n_vec, dims, t_ks_s, t_ks, t_cols, t_full, t_write))

    print(
        f"{'rows':>6} {'scalars':>7} {'vectors':>7} {'dims':>5} | {'KS scalars s':>12} "
        f"{'KS all s':>8} | {'evidently cols s':>16} {'x KS scalars':>12} | "
        f"{'evidently full s':>16} {'x KS all':>8} | {'files s':>7}"
    )
    for n, ns, nv, dims, t_ks_s, t_ks, t_cols, t_full, t_write in table:
        print(
            f"{n:>6} {ns:>7} {nv:>7} {dims:>5} | {t_ks_s:>12.3f} {t_ks:>8.3f} | "
            f"{t_cols:>16.3f} {t_cols / t_ks_s:>12.1f} | {t_full:>16.3f} "
            f"{t_full / t_ks:>8.1f} | {t_write:>7.3f}"
        )


if __name__ == "__main__":
    main()
