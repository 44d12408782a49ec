"""Tiny randomly initialised backbones saved with each library's own save function.

Each fixture builds a model of the same class as the production checkpoint, saves it to
a temporary directory (session scope: built once) and returns the path; the tests then
load it through the production loading path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SR = 16_000


def tiny_wav2vec2_config(**overrides: object):  # noqa: ANN201 - transformers config
    from transformers import Wav2Vec2Config

    kwargs: dict[str, object] = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16, 16),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
    )
    kwargs.update(overrides)
    return Wav2Vec2Config(**kwargs)


def _save_feature_extractor(path: Path, *, attention_mask: bool) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SR,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=attention_mask,
    ).save_pretrained(path)


@pytest.fixture(scope="session")
def tiny_xlsr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny layer-norm Wav2Vec2Model (XLS-R architecture) saved with save_pretrained."""
    import torch
    from transformers import Wav2Vec2Model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_xlsr")
    Wav2Vec2Model(tiny_wav2vec2_config()).save_pretrained(path)
    _save_feature_extractor(path, attention_mask=True)
    return path


@pytest.fixture(scope="session")
def tiny_mms_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Wav2Vec2ForSequenceClassification (the MMS-LID checkpoint class, with head)."""
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("tiny_mms")
    config = tiny_wav2vec2_config(num_hidden_layers=3, num_labels=5, classifier_proj_size=8)
    Wav2Vec2ForSequenceClassification(config).save_pretrained(path)
    _save_feature_extractor(path, attention_mask=True)
    return path


@pytest.fixture(scope="session")
def tiny_groupnorm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny wav2vec2-base-style model: group-norm feature encoder, no attention mask."""
    import torch
    from transformers import Wav2Vec2Model

    torch.manual_seed(2)
    path = tmp_path_factory.mktemp("tiny_w2v_group")
    config = tiny_wav2vec2_config(feat_extract_norm="group", do_stable_layer_norm=False)
    Wav2Vec2Model(config).save_pretrained(path)
    _save_feature_extractor(path, attention_mask=False)
    return path


def make_waves(lengths_s: list[float], seed: int = 0) -> list[np.ndarray]:
    """Speech-like test signals: harmonic tones with noise, each of the given duration."""
    rng = np.random.default_rng(seed)
    waves = []
    for k, seconds in enumerate(lengths_s):
        n = int(seconds * SR)
        t = np.arange(n) / SR
        f0 = 110.0 + 30.0 * k
        wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
        wave = 0.3 * wave + 0.05 * rng.standard_normal(n)
        waves.append(wave.astype(np.float32))
    return waves


def assert_rows_close(a: dict, b: dict, rtol: float = 1e-4) -> None:
    """Row ``a`` equals row ``b`` within ``rtol`` relative to each vector's scale."""
    assert a.keys() == b.keys()
    for key in a:
        va = np.asarray(a[key], dtype=np.float64)
        vb = np.asarray(b[key], dtype=np.float64)
        scale = max(np.abs(vb).max(), 1e-6)
        err = np.abs(va - vb).max() / scale
        assert err <= rtol, f"{key}: relative difference {err:.2e} > {rtol:g}"


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny WhisperModel (30 s window, 80 mel bins) + its WhisperFeatureExtractor."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("tiny_whisper")
    config = WhisperConfig(
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=37,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=37,
        num_mel_bins=80,
        vocab_size=64,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )
    WhisperModel(config).save_pretrained(path)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(path)
    return path
