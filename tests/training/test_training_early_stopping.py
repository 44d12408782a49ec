"""The early-stopping helper both torch loops use: patience on dev, best epoch restored."""

from __future__ import annotations

import pytest

from training.early_stopping import EarlyStopping


def test_stops_after_patience_epochs_without_improvement_and_restores_the_best():
    import torch

    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    stopper = EarlyStopping(3, [a, b])
    scores = [0.2, 0.6, 0.6, 0.5, 0.4, 0.9]  # a tie is no improvement
    stopped_at = None
    for epoch, score in enumerate(scores, 1):
        with torch.no_grad():  # each epoch leaves its number in the weights
            a.weight.fill_(epoch)
            b.bias.fill_(-epoch)
        improved = stopper.update(epoch, score)
        assert improved == (epoch in (1, 2))
        if stopper.should_stop:
            stopped_at = epoch
            break
    assert stopped_at == 5 and stopper.stale == 3
    assert (stopper.best_epoch, stopper.best_score) == (2, 0.6)
    stopper.restore()
    assert torch.all(a.weight == 2) and torch.all(b.bias == -2)


def test_snapshot_is_a_copy_and_misuse_fails():
    import torch

    net = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(1, [net])
    with pytest.raises(RuntimeError, match="nothing to restore"):
        stopper.restore()
    with torch.no_grad():
        net.weight.fill_(1.0)
    stopper.update(1, 0.5)
    with torch.no_grad():
        net.weight.fill_(7.0)  # in-place training after the snapshot
    assert not stopper.update(2, 0.5) and stopper.should_stop
    stopper.restore()
    assert float(net.weight.detach()) == 1.0
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(0, [net])
