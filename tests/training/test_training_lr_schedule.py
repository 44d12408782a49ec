"""The resizable one-cycle schedule and the epochs a wall-clock budget allows."""

from __future__ import annotations

import pytest

from training.lidnet_train import LidnetTrainConfig, _epochs_that_fit
from training.lr_schedule import OneCycle


def test_one_cycle_warms_up_peaks_and_anneals_to_its_floor():
    cycle = OneCycle(100, pct_start=0.2, div=25.0, final_div=1e4)
    values = [cycle(i) for i in range(101)]
    assert values[0] == pytest.approx(1 / 25)
    assert max(values) == pytest.approx(1.0)
    assert values.index(max(values)) == 20
    assert all(a <= b for a, b in zip(values[:20], values[1:21], strict=True))
    assert all(a >= b for a, b in zip(values[20:-1], values[21:], strict=True))
    assert values[100] == pytest.approx(1e-4)


def test_resizing_keeps_the_steps_taken_and_ends_the_anneal_at_the_new_length():
    cycle = OneCycle(300, pct_start=0.15)
    before = cycle(5)
    cycle.resize(100)
    assert cycle(100) == pytest.approx(1e-4)  # fully annealed at the new end
    assert cycle(5) > before  # a shorter warm-up climbs faster from the same step
    with pytest.raises(ValueError, match="total_steps"):
        cycle.resize(0)


def test_epochs_that_fit_the_budget_count_training_and_later_evaluations():
    cfg = LidnetTrainConfig(epochs=30, max_minutes=5.0, eval_from=0.5)
    # 20 s training + 10 s dev per epoch, dev on half of them: 25 s an epoch → 12 in 300 s
    assert _epochs_that_fit(cfg, 20.0, 10.0) == 12
    assert _epochs_that_fit(cfg, 1.0, 0.0) == 30  # never more than asked for
    assert _epochs_that_fit(cfg, 600.0, 0.0) == 1  # at least one


def test_the_plan_follows_the_recent_epoch_times_up_to_the_first_plan():
    from training.lidnet_train import _replanned_epochs

    cfg = LidnetTrainConfig(epochs=30, max_minutes=5.0, eval_from=0.5)  # 300 s
    # planned 20 from a 14 s first epoch; after epoch 10 at 160 s epochs take 16 s, and
    # evaluations (2 s each) run from epoch 10 of 20: 7 more epochs of 18 s fit the 140 s
    # left, not 10
    assert _replanned_epochs(cfg, 20, 20, 10, 160.0, [14.0] + [16.0] * 9, 2.0) == 17
    # quicker again later: back up, but never past the first epoch's plan
    assert _replanned_epochs(cfg, 17, 20, 12, 170.0, [16.0] * 7 + [8.0] * 5, 1.0) == 20
    # the median of the recent epochs, not one slow outlier
    assert _replanned_epochs(cfg, 20, 20, 10, 140.0, [14.0] * 9 + [40.0], 0.0) == 20
    # no time left: stop after this epoch
    assert _replanned_epochs(cfg, 20, 20, 12, 310.0, [25.0] * 12, 0.0) == 12
