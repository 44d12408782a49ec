"""Pure helpers: chunking never drops samples, batches respect the budget, moments merge."""

from __future__ import annotations

import numpy as np
import pytest

from extractors.backbones.chunking import pad_batch, plan_batches, split_chunks
from extractors.backbones.common import env_var, resolve_checkpoint
from extractors.backbones.pooling import Moments, masked_moments, merge_all
from extractors.backbones.specs import default_layers


def test_split_chunks_covers_every_sample() -> None:
    waves = [np.arange(n, dtype=np.float32) for n in (5, 1000, 2500, 3001)]
    chunks = split_chunks(waves, max_samples=1000, min_samples=10)
    for utt, wave in enumerate(waves):
        mine = [c for c in chunks if c.utt == utt]
        assert all(c.length <= 1000 for c in mine)
        if len(wave) >= 10:
            np.testing.assert_array_equal(np.concatenate([c.wave for c in mine]), wave)
    short = [c for c in chunks if c.utt == 0]
    assert len(short) == 1 and short[0].length == 10  # padded up to the receptive field
    assert sorted(c.length for c in chunks if c.utt == 3) == [750, 750, 750, 751]


def test_plan_batches_budget_and_equal_lengths() -> None:
    lengths = [100, 400, 300, 400, 100, 50]
    batches = plan_batches(lengths, max_batch_samples=800)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert max(lengths[i] for i in batch) * len(batch) <= 800
    exact = plan_batches(lengths, max_batch_samples=10_000, equal_lengths_only=True)
    for batch in exact:
        assert len({lengths[i] for i in batch}) == 1
    assert sorted(len(b) for b in exact) == [1, 1, 2, 2]
    assert plan_batches([5000], max_batch_samples=10) == [[0]]  # oversize item alone
    # at most 10 % padding: 100 joins 100, 95 joins them (waste 1.7 %), 50 does not
    lean = plan_batches([100, 50, 100, 95], max_batch_samples=10_000, max_pad_fraction=0.1)
    assert lean == [[0, 2, 3], [1]]


def test_moments_merge_equals_pooling_all_frames() -> None:
    import torch

    rng = np.random.default_rng(0)
    frames = rng.standard_normal((37, 6)) * 3 + 1
    parts = [frames[:5], frames[5:20], frames[20:]]
    stats = []
    for part in parts:
        padded = np.zeros((1, 25, 6))
        padded[0, : len(part)] = part
        mask = torch.zeros(1, 25, dtype=torch.bool)
        mask[0, : len(part)] = True
        stats += masked_moments(torch.from_numpy(padded), mask)
    total = merge_all(stats)
    assert total.count == 37
    np.testing.assert_allclose(total.mean, frames.mean(0), rtol=1e-12)
    np.testing.assert_allclose(total.std, frames.std(0), rtol=1e-12)
    empty = Moments(0, np.zeros(6), np.zeros(6))
    assert empty.merge(total) is total


def test_pad_batch_and_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    batch, lengths = pad_batch([np.ones(3, np.float32), np.ones(5, np.float32)])
    assert batch.shape == (2, 5) and lengths.tolist() == [3, 5]
    assert batch[0, 3:].tolist() == [0.0, 0.0]
    assert default_layers(24) == (6, 12, 18, 24)
    assert default_layers(48) == (12, 24, 36, 48)
    assert default_layers(4, 2) == (2, 4)
    assert env_var("whisper-tiny") == "NORDLID_WHISPER_TINY_CHECKPOINT"
    monkeypatch.setenv("NORDLID_ECAPA_CHECKPOINT", "/models/ecapa")
    assert resolve_checkpoint("ecapa", "hub/id", None) == "/models/ecapa"
    assert resolve_checkpoint("ecapa", "hub/id", "/other") == "/other"
