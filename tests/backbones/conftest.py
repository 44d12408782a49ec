"""Tiny randomly initialised backbones saved with each library's own save function.

Each fixture builds a model of the same class as the production checkpoint, saves it to
a temporary directory (session scope: built once) and returns the path; the tests then
load it through the production loading path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SR = 16_000


def tiny_wav2vec2_config(**overrides: Any) -> Any:
    from transformers import Wav2Vec2Config

    kwargs: dict[str, Any] = dict(
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


TINY_ECAPA_YAML = """\
# Tiny ECAPA-TDNN language-id model with the layout of speechbrain/lang-id-voxlingua107-ecapa
pretrained_path: speechbrain/lang-id-voxlingua107-ecapa
n_mels: 20
left_frames: 0
right_frames: 0
deltas: False
out_n_neurons: 5

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
    left_frames: !ref <left_frames>
    right_frames: !ref <right_frames>
    deltas: !ref <deltas>

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    lin_neurons: 12

classifier: !new:speechbrain.lobes.models.Xvector.Classifier
    input_shape: [null, null, 12]
    activation: !name:torch.nn.LeakyReLU
    lin_blocks: 1
    lin_neurons: 8
    out_neurons: !ref <out_n_neurons>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


@pytest.fixture(scope="session")
def tiny_ecapa_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local EncoderClassifier source: hyperparams.yaml + *.ckpt + label_encoder.txt."""
    import torch
    from hyperpyyaml import load_hyperpyyaml
    from speechbrain.utils.checkpoints import torch_save

    torch.manual_seed(4)
    path = tmp_path_factory.mktemp("tiny_ecapa")
    (path / "hyperparams.yaml").write_text(TINY_ECAPA_YAML)
    hparams = load_hyperpyyaml(TINY_ECAPA_YAML)
    model = hparams["embedding_model"]
    # random BatchNorm statistics, so normalisation is not the identity
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    torch_save(model, path / "embedding_model.ckpt")
    torch_save(hparams["classifier"], path / "classifier.ckpt")
    encoder = hparams["label_encoder"]
    encoder.update_from_iterable(["da", "fo", "is", "no", "sv"])
    encoder.save(path / "label_encoder.txt")
    return path


@pytest.fixture(scope="session")
def tiny_titanet_nemo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny TitaNet/AmberNet-style EncDecSpeakerLabelModel saved with ``save_to``."""
    import torch

    from extractors.backbones.random_init import titanet_config, titanet_model

    torch.manual_seed(5)
    config = titanet_config(
        n_mels=16,
        filters=16,
        repeat=2,
        kernels=(3, 7, 1),
        enc_out=48,
        emb_size=12,
        labels=("da", "fo", "is", "no", "sv"),
    )
    model = titanet_model(config)
    path = tmp_path_factory.mktemp("tiny_titanet") / "tiny_ambernet.nemo"
    model.save_to(str(path))
    return path
