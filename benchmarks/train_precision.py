"""One lidnet training step on CPU, float32 against bfloat16 autocast, in one run.

The default 64-channel ECAPA-TDNN member, a batch of 32 three-second crops (the default
training crop), forward + backward + AdamW, alternating the two precisions so the machine's
load hits both alike; prints the median step time of each and their ratio.  Where the CPU
has no native bfloat16 (``training.precision.BF16_CPU_FLAGS``) the bf16 row is emulated.

    .venv/bin/python benchmarks/train_precision.py [--rounds 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    import torch

    from extractors.lidnet import LidnetConfig, build_backbone
    from training.precision import autocast, cpu_flags, resolve_precision

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = LidnetConfig()
    backbone = build_backbone(cfg)
    with torch.no_grad():
        feats = backbone.features(0.1 * torch.randn(32, 3 * cfg.sample_rate))
    encoder = backbone.encoders[0]
    encoder.train()
    head = torch.nn.Linear(cfg.embedding_dim, 4)
    opt = torch.optim.AdamW(list(encoder.parameters()) + list(head.parameters()), lr=1e-3)
    y = torch.randint(0, 4, (32,))

    def step(precision: str) -> float:
        start = time.perf_counter()
        with autocast(precision):  # type: ignore[arg-type]
            logits = head(backbone.encode(0, feats))
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for precision in times:  # warm-up: oneDNN builds its kernels on first use
        step(precision)
    for _ in range(args.rounds):
        for precision, got in times.items():
            got.append(step(precision))
    fp32, bf16 = (statistics.median(times[p]) for p in ("fp32", "bf16"))
    native = resolve_precision("auto", cpu_flags()) == "bf16"
    print(f"feature batch {tuple(feats.shape)}, {args.threads} threads, native bf16: {native}")
    print(f"fp32 {fp32 * 1e3:.0f} ms   bf16 {bf16 * 1e3:.0f} ms   fp32 / bf16 {fp32 / bf16:.2f}x")


if __name__ == "__main__":
    main()
