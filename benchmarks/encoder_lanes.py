"""lidnet's joint training step: the encoders one after another vs on parallel lanes.

One run, the default architectures (two 64-channel ECAPA-TDNN premium members and the
32-channel lidnet-mini), one batch of 32 random 3 s crops, rounds alternating between:

- ``sequential``: every encoder's step in turn, torch with the whole thread budget;
- ``lanes``: :mod:`training.encoder_lanes` as ``fit_lidnet`` uses it (the budget split over
  lanes, one torch thread each on 2 cores).

The augmentation of the next batch (prefetched on a worker thread in ``fit_lidnet``) is
not part of this step; the run's own epoch times show the whole effect.

Usage: ``python benchmarks/encoder_lanes.py [--rounds 3] [--steps 6]``.  Prints ms per step.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def _encoders(labels: list[str]) -> tuple[Any, list[Any], Any]:
    from extractors.lidnet import build_backbone
    from training import lidnet_train as lt

    cfg = lt.LidnetTrainConfig()
    assert cfg.mini is not None
    big = build_backbone(cfg.model.model_copy(update={"labels": labels}))
    mini = build_backbone(cfg.mini.model_copy(update={"labels": labels}))

    class _Train:
        y = np.array([0, 1, 2, 3] * 8)

    train: Any = _Train()
    encs = [
        lt._start_encoder(lt.NAME, (big, cfg.model), k, k, train, labels, cfg, 10)
        for k in range(cfg.model.members)
    ]
    encs.append(lt._start_encoder(lt.MINI_NAME, (mini, cfg.mini), 0, 100, train, labels, cfg, 10))
    return cfg, encs, big


def main() -> None:
    import torch

    from training.encoder_lanes import Lanes, LaneSettings, plan_lanes
    from validation.speech_quality import torch_threads

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()

    labels = ["da", "is", "no", "sv"]
    cfg, encs, front = _encoders(labels)
    rng = np.random.default_rng(0)
    crops = torch.from_numpy((0.1 * rng.standard_normal((32, 48000))).astype(np.float32))
    with torch.no_grad():
        feats = front.features(crops)
    y = torch.from_numpy(np.array([0, 1, 2, 3] * 8))
    budget = torch.get_num_threads()
    settings = LaneSettings.for_budget(len(encs), budget)
    plan = plan_lanes([e.cost for e in encs], settings.lanes)

    def sequential() -> None:
        for e in encs:
            e.step(feats, y, cfg.augment, "fp32")

    def on_lanes(pool: Lanes) -> None:
        pool.map(lambda e: e.step(feats, y, cfg.augment, "fp32"), encs, plan)

    def timed(fn: Any) -> float:
        fn()  # warm-up
        t = time.perf_counter()
        for _ in range(args.steps):
            fn()
        return (time.perf_counter() - t) / args.steps * 1e3

    print(
        f"thread budget {budget}: lanes {settings.lanes} x {settings.threads_per_lane} "
        f"thread(s), plan {plan}"
    )
    seq_ms, lane_ms = [], []
    with Lanes(settings.lanes) as pool:
        for r in range(args.rounds):
            seq_ms.append(timed(sequential))
            with torch_threads(settings.threads_per_lane):
                lane_ms.append(timed(lambda: on_lanes(pool)))
            print(
                f"round {r}: sequential {seq_ms[-1]:.0f} ms/step, lanes {lane_ms[-1]:.0f} ms/step"
            )
    s, lane = float(np.median(seq_ms)), float(np.median(lane_ms))
    print(f"median: sequential {s:.0f} ms, lanes {lane:.0f} ms per step: {s / lane:.2f}x")


if __name__ == "__main__":
    main()
