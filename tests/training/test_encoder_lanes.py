"""Parallel lanes for the lidnet encoders: balanced plans, ordered results, prefetching that
keeps a random stream's order, and training that does not depend on thread timing."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from lidnet_tiny import TINY, TINY_MINI

from training.encoder_lanes import Lanes, LaneSettings, plan_lanes, prefetch


def test_plan_balances_costs_and_covers_every_item_once() -> None:
    assert plan_lanes([64, 64, 32], 2) == [[0, 2], [1]]
    assert plan_lanes([32, 64, 64], 2) == [[0, 1], [2]]
    assert plan_lanes([1.0, 1.0], 5) == [[0], [1]]  # never an empty lane
    assert plan_lanes([3, 2, 2, 1], 1) == [[0, 1, 2, 3]]
    assert plan_lanes([], 2) == []
    with pytest.raises(ValueError, match="lanes must be >= 1"):
        plan_lanes([1.0], 0)


def test_lane_settings_split_the_thread_budget() -> None:
    assert LaneSettings.for_budget(3, 2) == LaneSettings(2, 1)  # the 2-core machine
    assert LaneSettings.for_budget(3, 16) == LaneSettings(3, 5)
    assert LaneSettings.for_budget(3, 1) == LaneSettings(1, 1)
    assert LaneSettings.for_budget(1, 8) == LaneSettings(1, 8)
    assert LaneSettings.for_budget(3, 4, parallel=False) == LaneSettings(1, 4)


def test_lanes_return_results_in_item_order_from_separate_threads() -> None:
    seen: dict[int, str] = {}
    both_lanes = threading.Barrier(2, timeout=10)  # passes only if two lanes run at once

    def work(item: int) -> int:
        seen[item] = threading.current_thread().name
        if item in (0, 1):
            both_lanes.wait()
        return item * 10

    with Lanes(2) as lanes:
        assert lanes.map(work, [0, 1, 2], [[0, 2], [1]]) == [0, 10, 20]
    assert seen[0] == seen[2] != seen[1]
    with Lanes(2) as lanes, pytest.raises(ValueError, match="does not cover"):
        lanes.map(work, [0, 1, 2], [[0], [1]])


def test_a_failing_lane_raises_after_the_others_finish() -> None:
    done: list[int] = []

    def work(item: int) -> int:
        if item == 1:
            raise RuntimeError("lane failed")
        done.append(item)
        return item

    with Lanes(2) as lanes, pytest.raises(RuntimeError, match="lane failed"):
        lanes.map(work, [0, 1], [[0], [1]])
    assert done == [0]


def test_prefetch_keeps_the_order_of_a_random_stream_and_raises_its_errors() -> None:
    def draws(rng: np.random.Generator, n: int):  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield rng.integers(0, 1000, size=3)

    plain = list(draws(np.random.default_rng(7), 20))
    fetched = list(prefetch(draws(np.random.default_rng(7), 20)))
    assert all(np.array_equal(a, b) for a, b in zip(plain, fetched, strict=True))

    def broken():  # type: ignore[no-untyped-def]
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetch(broken()))
    # a consumer that stops early does not leave the worker blocked
    early = prefetch(iter(range(100)))
    assert next(early) == 0
    early.close()
    assert not any(t.name == "nordlid-prefetch" for t in threading.enumerate())


def test_training_on_lanes_does_not_depend_on_thread_timing() -> None:
    """Two runs on two lanes give the same weights (each encoder keeps its lane order and
    its random stream), and every encoder is trained."""
    import torch

    from training.field_augment import FieldBank
    from training.lidnet_train import LabelledAudio, LidnetTrainConfig, fit_lidnet

    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(8000)).astype(np.float32) for _ in range(8)]
    data = LabelledAudio(waves=waves, y=np.array([0, 1] * 4), meta=pd.DataFrame())
    config = LidnetTrainConfig(
        model=TINY, mini=TINY_MINI, epochs=2, batch_size=4, crop_s=0.3, min_crop_s=0.2
    )

    def weights() -> list[torch.Tensor]:
        before = torch.get_num_threads()
        torch.set_num_threads(2)  # a budget of two threads: two lanes of one
        try:
            result = fit_lidnet(data, data, ["da", "sv"], config, bank=FieldBank())
        finally:
            torch.set_num_threads(before)
        assert result.mini is not None
        epochs = [(row["member"], row["epoch"]) for row in result.history + result.mini.history]
        assert sorted(epochs) == [(m, e) for m in (-1.0, 0.0, 1.0) for e in (1.0, 2.0)]
        return [p.detach().clone() for p in result.backbone.parameters()] + [
            p.detach().clone() for p in result.mini.backbone.parameters()
        ]

    first, second = weights(), weights()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
