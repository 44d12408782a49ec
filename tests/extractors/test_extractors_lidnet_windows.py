"""lidnet on long inputs: the mean over fixed windows; short inputs are embedded whole."""

from __future__ import annotations

import numpy as np
import pytest
from lidnet_tiny import TINY

from extractors.lidnet import (
    WINDOW_HOP_S,
    WINDOW_S,
    WINDOWED_FROM_S,
    LidnetExtractor,
    build_backbone,
    long_input_windows,
    save_checkpoint,
)

SR = 16_000


def test_windows_cover_a_long_input_and_end_at_its_end():
    x = np.arange(int(11.3 * SR), dtype=np.float32)
    w = long_input_windows(x, SR)
    width, hop = int(WINDOW_S * SR), int(WINDOW_HOP_S * SR)
    assert w.shape[1] == width
    assert w[0, 0] == 0 and w[1, 0] == hop  # every hop from the start
    assert w[-1, -1] == x[-1]  # the last window ends where the input does
    assert len(w) == 5  # starts 0, 2, 4, 6 s and 7.3 s
    # up to the threshold the input is one segment, untouched
    short = np.ones(int(WINDOWED_FROM_S * SR), dtype=np.float32)
    assert long_input_windows(short, SR).shape == (1, short.size)


@pytest.fixture(scope="module")
def extractor(tmp_path_factory: pytest.TempPathFactory) -> LidnetExtractor:
    import torch

    torch.manual_seed(0)
    config = TINY.model_copy(update={"labels": ["da", "sv"]})
    backbone = build_backbone(config)
    backbone.eval()
    directory = tmp_path_factory.mktemp("lidnet")
    save_checkpoint(directory, backbone, config)
    return LidnetExtractor(checkpoint=str(directory))


def test_long_input_embedding_is_the_mean_of_its_window_embeddings(extractor):
    import torch

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(int(10 * SR))).astype(np.float32)
    got = extractor.embed(x)
    with torch.no_grad():
        each = [
            extractor.model(torch.from_numpy(np.ascontiguousarray(w))[None])[0].numpy()
            for w in long_input_windows(x, SR)
        ]
    np.testing.assert_allclose(got, np.mean(each, axis=0), rtol=1e-4, atol=1e-5)


def test_short_input_is_embedded_whole(extractor):
    import torch

    x = (0.1 * np.random.default_rng(1).standard_normal(3 * SR)).astype(np.float32)
    with torch.no_grad():
        whole = extractor.model(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(extractor.embed(x), whole, rtol=1e-5, atol=1e-6)
