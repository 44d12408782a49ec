"""Training cost: head fitting time per head kind and lidnet throughput per architecture.

Prints two tables; every number is also given as a ratio to a baseline measured in the
same run (logreg for heads, the default lidnet config for backbones), since the machines
are shared and absolute times are noisy.

    .venv/bin/python benchmarks/train.py [--rows 1200] [--steps 3]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np


def bench_heads(rows: int) -> list[tuple[str, float]]:
    from training.features import FeatureRef, groups
    from training.heads import fit_head, parse_head_config

    rng = np.random.default_rng(0)
    labels = ["da", "is", "no", "sv"]
    feats = [
        FeatureRef(ref="acoustic__stats", length=400),
        FeatureRef(ref="lidnet__embedding", length=128),
    ]
    centres = rng.normal(0, 0.5, (len(labels), 528))
    y = rng.integers(0, len(labels), rows)
    x = (centres[y] + rng.normal(0, 1, (rows, 528))).astype(np.float32)
    n_dev = rows // 5
    out = []
    for kind in ("logreg", "mlp", "fusion"):
        start = time.perf_counter()
        config = parse_head_config({"kind": kind})
        fit_head(x[n_dev:], y[n_dev:], x[:n_dev], y[:n_dev], labels, config, groups(feats))
        out.append((kind, time.perf_counter() - start))
    return out


def bench_lidnet(
    steps: int, batch: int = 16, crop_s: float = 2.0
) -> list[tuple[str, float, float]]:
    import torch

    from extractors.lidnet import LidnetConfig, build_backbone
    from training.cost import count_gflops

    configs = {
        "ecapa c64 (default)": LidnetConfig(),
        "xvector c128": LidnetConfig(arch="xvector", channels=128),
        "ecapa c96": LidnetConfig(arch="ecapa", channels=96),
    }
    out = []
    for name, cfg in configs.items():
        torch.manual_seed(0)
        model = build_backbone(cfg)
        head = torch.nn.Linear(cfg.embedding_dim, 4)
        opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()))
        x = torch.randn(batch, int(crop_s * 16_000)) * 0.1
        y = torch.randint(0, 4, (batch,))
        model.eval()
        one_second = torch.randn(1, 16_000)
        gflops = count_gflops(partial(model, one_second))
        model.train()
        start = time.perf_counter()
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(head(model(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        elapsed = time.perf_counter() - start
        out.append((name, batch * crop_s * steps / elapsed, gflops))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1200)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    heads = bench_heads(args.rows)
    base = heads[0][1]
    print(f"\nHead fitting on {args.rows} rows x 528 dims (4 classes)")
    print(f"{'head':<10}{'seconds':>10}{'x logreg':>10}")
    for kind, secs in heads:
        print(f"{kind:<10}{secs:>10.2f}{secs / base:>10.2f}")

    nets = bench_lidnet(args.steps)
    base_tp = nets[0][1]
    print("\nlidnet training throughput (audio seconds per wall second, batch 16 x 2 s crops)")
    print(f"{'config':<22}{'audio s/s':>10}{'x default':>10}{'GFLOPs/1 s':>12}")
    for name, tp, gflops in nets:
        print(f"{name:<22}{tp:>10.1f}{tp / base_tp:>10.2f}{gflops:>12.3f}")


if __name__ == "__main__":
    main()
