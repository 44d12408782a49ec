"""The early-stopping helper both torch loops use: patience on dev, best epoch restored."""

from __future__ import annotations

import numpy as np
import pytest
from lidnet_tiny import TINY

from training.early_stopping import EarlyStopping
from training.metrics import macro_f1


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


def test_torch_head_keeps_its_best_dev_epoch():
    """The fitted MLP is the best epoch's, not the last one's: its dev macro-F1 is the best."""
    from training.features import FeatureRef, groups
    from training.heads import MlpConfig, fit_head

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    x = (rng.normal(0, 1, (120, 4)) + 0.8 * y[:, None]).astype(np.float32)
    labels = ["da", "is", "sv"]
    cfg = MlpConfig(max_epochs=40, patience=4, hidden=8, lr=3e-2)
    head, report = fit_head(
        x[:80], y[:80], x[80:], y[80:], labels, cfg, groups([FeatureRef(ref="a__v", length=4)])
    )
    assert report.chosen["best_epoch"] <= report.chosen["epochs_run"]
    assert report.chosen["epochs_run"] < 40  # patience stopped it
    assert macro_f1(labels, y[80:], head.predict_proba(x[80:])) == report.dev_macro_f1


def test_lidnet_member_keeps_its_best_dev_epoch():
    import pandas as pd
    import torch

    from training.field_augment import FieldBank
    from training.lidnet_train import LabelledAudio, LidnetTrainConfig, _predict, fit_lidnet

    tiny = TINY.model_copy(update={"members": 1})
    rng = np.random.default_rng(0)
    sr = 16_000

    def audio(n: int) -> LabelledAudio:
        t = np.arange(sr // 2) / sr
        waves = [
            (
                0.3 * np.sin(2 * np.pi * (180 + 140 * (i % 2)) * t)
                + 0.05 * rng.standard_normal(t.size)
            ).astype(np.float32)
            for i in range(n)
        ]
        return LabelledAudio(
            waves=waves, y=np.array([i % 2 for i in range(n)]), meta=pd.DataFrame()
        )

    train, dev = audio(6), audio(4)
    torch.manual_seed(0)
    config = LidnetTrainConfig(
        model=tiny,
        mini=None,
        epochs=4,
        batch_size=3,
        crop_s=0.3,
        min_crop_s=0.3,
        patience=1,
        eval_from=0.0,
    )
    member = fit_lidnet(train, dev, ["da", "sv"], config, bank=FieldBank())
    scores = [row["dev_macro_f1"] for row in member.history]
    assert member.best_dev_macro_f1 == max(scores)
    assert member.best_epoch == 1 + scores.index(max(scores))
    proba, _ = _predict(member.backbone, member.classifier, dev.waves)
    assert macro_f1(["da", "sv"], dev.y, proba) == member.best_dev_macro_f1
