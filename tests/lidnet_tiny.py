"""The tiny randomly initialised lidnet architectures the tests train and load (the real
ECAPA-TDNN lobes at a few channels, so a test step takes milliseconds)."""

from __future__ import annotations

from extractors.lidnet import LidnetConfig

TINY = LidnetConfig(
    channels=16, embedding_dim=8, n_mels=20, attention_channels=8, se_channels=8, res2net_scale=2
)
TINY_MINI = TINY.model_copy(update={"channels": 8, "embedding_dim": 4, "members": 1})
