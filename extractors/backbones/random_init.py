"""Full-size backbone architectures with random weights (no download), for benchmarks.

Compute cost does not depend on the weight values, so benchmarks time these instead of the
real checkpoints.  The configurations are written here from the published checkpoints'
``config.json`` / hyperparameter files; ``build_full_size(name)`` wraps the model in the
same extractor class the real checkpoint would use (through each class's ``from_model``).
The same builders, called with small sizes, give the tests their tiny models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from extractors.backbones import catalog
from nordlid.errors import ConfigError

if TYPE_CHECKING:
    from extractors.base import Extractor

_CONV_DIM = (512, 512, 512, 512, 512, 512, 512)
_CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)
_CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)


def wav2vec2_config(
    *,
    hidden: int,
    layers: int,
    heads: int,
    intermediate: int,
    conv_dim: tuple[int, ...] = _CONV_DIM,
    conv_stride: tuple[int, ...] = _CONV_STRIDE,
    conv_kernel: tuple[int, ...] = _CONV_KERNEL,
    pos_conv: tuple[int, int] = (128, 16),
) -> Any:
    """A layer-norm ("stable") wav2vec2 config as XLS-R and MMS use (the full-size
    convolutional feature encoder unless ``conv_*`` say otherwise; ``pos_conv`` = kernel,
    groups of the positional convolution)."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        conv_dim=conv_dim,
        conv_stride=conv_stride,
        conv_kernel=conv_kernel,
        conv_bias=True,
        feat_extract_norm="layer",
        feat_extract_activation="gelu",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=pos_conv[0],
        num_conv_pos_embedding_groups=pos_conv[1],
        hidden_act="gelu",
        layer_norm_eps=1e-5,
    )


def xlsr_config() -> Any:
    """``facebook/wav2vec2-xls-r-300m``: 24 layers × 1024, 16 heads, FFN 4096."""
    return wav2vec2_config(hidden=1024, layers=24, heads=16, intermediate=4096)


def mms_config() -> Any:
    """``facebook/mms-lid-126`` base model (MMS-1B): 48 layers × 1280, 16 heads, FFN 5120."""
    return wav2vec2_config(hidden=1280, layers=48, heads=16, intermediate=5120)


def whisper_encoder(*, d_model: int, layers: int, heads: int, ffn: int) -> Any:
    """A Whisper encoder (80 mel bins, 30 s window = 1500 positions)."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = WhisperConfig(
        d_model=d_model,
        encoder_layers=layers,
        encoder_attention_heads=heads,
        encoder_ffn_dim=ffn,
        num_mel_bins=80,
        max_source_positions=1500,
    )
    return WhisperEncoder(config).eval()


def ecapa_classifier(
    *,
    n_mels: int = 60,
    channels: tuple[int, ...] = (1024, 1024, 1024, 1024, 3072),
    attention_channels: int = 128,
    lin_neurons: int = 256,
    num_languages: int = 107,
    device: str = "cpu",
) -> Any:
    """An ``EncoderClassifier`` laid out as ``speechbrain/lang-id-voxlingua107-ecapa``."""
    import torch
    from speechbrain.inference.classifiers import EncoderClassifier
    from speechbrain.lobes.features import Fbank
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    from speechbrain.lobes.models.Xvector import Classifier
    from speechbrain.processing.features import InputNormalization

    modules = {
        "compute_features": Fbank(n_mels=n_mels, left_frames=0, right_frames=0, deltas=False),
        "mean_var_norm": InputNormalization(norm_type="sentence", std_norm=False),
        "embedding_model": ECAPA_TDNN(
            input_size=n_mels,
            channels=list(channels),
            kernel_sizes=[5, 3, 3, 3, 1],
            dilations=[1, 2, 3, 4, 1],
            attention_channels=attention_channels,
            lin_neurons=lin_neurons,
        ),
        "classifier": Classifier(
            input_shape=[None, None, lin_neurons],
            activation=torch.nn.LeakyReLU,
            lin_blocks=1,
            lin_neurons=512,
            out_neurons=num_languages,
        ),
    }
    return EncoderClassifier(modules=modules, hparams=dict(modules), run_opts={"device": device})


def titanet_config(
    *,
    n_mels: int = 80,
    filters: int = 1024,
    repeat: int = 3,
    kernels: tuple[int, ...] = (3, 7, 11, 15, 1),
    enc_out: int = 3072,
    emb_size: int = 512,
    labels: tuple[str, ...] | None = None,
) -> Any:
    """A TitaNet-style ``EncDecSpeakerLabelModel`` config (separable convs with SE,
    attention pooling).  Defaults: TitaNet-L encoder with a 512-d embedding and 107
    language classes, the layout of NeMo's ``langid_ambernet``."""
    from omegaconf import OmegaConf

    labels = labels or tuple(f"lang{i:03d}" for i in range(107))

    def block(out: int, reps: int, kernel: int, residual: bool) -> dict[str, Any]:
        return {
            "filters": out,
            "repeat": reps,
            "kernel": [kernel],
            "stride": [1],
            "dilation": [1],
            "dropout": 0.0,
            "residual": residual,
            "separable": True,
            "se": True,
            "se_context_size": -1,
        }

    first, *middle, last = kernels
    jasper = [block(filters, 1, first, False)]
    jasper += [block(filters, repeat, k, True) for k in middle]
    jasper.append(block(enc_out, 1, last, False))
    return OmegaConf.create(
        {
            "sample_rate": 16_000,
            "labels": list(labels),
            "preprocessor": {
                "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                "normalize": "per_feature",
                "window_size": 0.025,
                "sample_rate": 16_000,
                "window_stride": 0.01,
                "window": "hann",
                "features": n_mels,
                "n_fft": 512,
                "frame_splicing": 1,
                "dither": 1e-5,
            },
            "encoder": {
                "_target_": "nemo.collections.asr.modules.ConvASREncoder",
                "feat_in": n_mels,
                "activation": "relu",
                "conv_mask": True,
                "jasper": jasper,
            },
            "decoder": {
                "_target_": "nemo.collections.asr.modules.SpeakerDecoder",
                "feat_in": enc_out,
                "num_classes": len(labels),
                "pool_mode": "attention",
                "emb_sizes": emb_size,
            },
            "loss": {
                "_target_": "nemo.collections.asr.losses.angularloss.AngularSoftmaxLoss",
                "scale": 30,
                "margin": 0.2,
            },
        }
    )


def titanet_model(config: Any) -> Any:
    from nemo.collections.asr.models import EncDecSpeakerLabelModel

    return EncDecSpeakerLabelModel(cfg=config).eval()


# -- full-size extractors ----------------------------------------------------------------


def _ssl(name: str, config_fn: Callable[[], Any], device: str) -> Extractor:
    from transformers import Wav2Vec2Model

    from extractors.backbones.ssl import MMSExtractor, XLSRExtractor

    cls = XLSRExtractor if name == "xlsr" else MMSExtractor
    model = Wav2Vec2Model(config_fn())
    return cls.from_model(model, checkpoint=f"random-init:{name}", device=device)


def _whisper(name: str, device: str) -> Extractor:
    from transformers import WhisperFeatureExtractor

    from extractors.backbones.whisper import WhisperBaseExtractor, WhisperTinyExtractor

    if name == "whisper-tiny":
        encoder = whisper_encoder(d_model=384, layers=4, heads=6, ffn=1536)
        return WhisperTinyExtractor.from_model(
            encoder,
            WhisperFeatureExtractor(feature_size=80),
            checkpoint=f"random-init:{name}",
            device=device,
        )
    encoder = whisper_encoder(d_model=512, layers=6, heads=8, ffn=2048)
    return WhisperBaseExtractor.from_model(
        encoder,
        WhisperFeatureExtractor(feature_size=80),
        checkpoint=f"random-init:{name}",
        device=device,
    )


def build_full_size(name: str, device: str = "cpu") -> Extractor:
    """The extractor ``name`` around a full-size architecture with random weights."""
    catalog.info(name)  # unknown names fail with the list of known ones
    if name in ("xlsr", "mms"):
        return _ssl(name, xlsr_config if name == "xlsr" else mms_config, device)
    if name in ("whisper-tiny", "whisper-base"):
        return _whisper(name, device)
    if name == "ecapa":
        from extractors.backbones.ecapa import EcapaExtractor

        return EcapaExtractor.from_model(
            ecapa_classifier(device="cpu"), checkpoint="random-init:ecapa", device=device
        )
    if name == "titanet":
        from extractors.backbones.titanet import TitaNetExtractor

        return TitaNetExtractor.from_model(
            titanet_model(titanet_config()), checkpoint="random-init:titanet", device=device
        )
    raise ConfigError(f"no full-size random architecture for {name!r}")
