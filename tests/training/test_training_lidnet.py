"""lidnet: a tiny config trains for a few steps, registers, and the extractor loads it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from extractors import registry as extractor_registry
from extractors.lidnet import LidnetConfig, lidnet_spec
from nordlid.errors import MissingCheckpointError
from training.lidnet_train import (
    AugmentConfig,
    LabelledAudio,
    LidnetTrainConfig,
    augment,
    train_lidnet,
)
from training.registry import ModelRegistry

SR = 16_000
TINY = LidnetConfig(
    channels=16, embedding_dim=8, n_mels=20, attention_channels=8, se_channels=8, res2net_scale=2
)


def _tiny_corpus(root) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for lang, f0 in (("da", 180.0), ("sv", 320.0)):
        for i in range(6):
            t = np.arange(int(SR * rng.uniform(0.4, 0.7))) / SR
            wave = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)
            path = root / f"{lang}{i}.wav"
            sf.write(path, wave.astype(np.float32), SR)
            rows.append(
                {
                    "utterance_id": f"{lang}{i}",
                    "path": str(path),
                    "language": lang,
                    "split": ["train", "train", "train", "train", "dev", "test"][i],
                    "source": "synthetic",
                    "condition": "clean",
                }
            )
    return pd.DataFrame(rows)


def test_lidnet_trains_registers_and_extractor_gives_declared_shape(workdir, tmp_path):
    with pytest.raises(MissingCheckpointError, match="nordlid train --backbone lidnet"):
        extractor_registry.create("lidnet")
    # nothing trained: the default dim (two members of 128)
    assert lidnet_spec().columns[0].length == LidnetConfig().output_dim == 256

    manifest = _tiny_corpus(tmp_path)
    config = LidnetTrainConfig(model=TINY, epochs=2, batch_size=4, crop_s=0.3, patience=5)
    mv = train_lidnet(workdir, manifest=manifest, config=config, track=False)
    assert mv.ref == "lidnet@1"
    card = ModelRegistry(workdir.models).load_card("lidnet@production")
    assert card.kind == "backbone" and card.labels == ["da", "sv"]
    assert card.cost["backbone_gflops_per_s"] > 0
    assert {"dev", "test"} <= set(card.metrics)
    assert (mv.path / "lidnet.safetensors").exists() and (mv.path / "lidnet.json").exists()
    # the card lists what the version directory holds (no unread classifier file)
    on_disk = sorted(p.name for p in mv.path.iterdir() if p.name != "card.json")
    assert (
        sorted(card.files)
        == on_disk
        == [
            "confusion_dev.png",
            "confusion_test.png",
            "lidnet.json",
            "lidnet.safetensors",
        ]
    )
    assert card.hyperparameters["best_epoch"] >= 1 and card.metrics["dev"]["n"] == 2

    # the registry's spec now follows the production checkpoint (dim and identity)
    spec = lidnet_spec()
    assert spec.columns[0].length == TINY.output_dim == 16  # two members of 8
    assert spec.checkpoint is not None and spec.checkpoint.startswith("lidnet@1:")

    waves = [np.zeros(SR // 2, dtype=np.float32), 0.1 * np.ones(300, dtype=np.float32)]
    for extractor in (
        extractor_registry.create("lidnet"),
        extractor_registry.create("lidnet", checkpoint=str(mv.path)),
    ):
        rows = extractor.extract(waves)
        assert [len(r["embedding"]) for r in rows] == [16, 16]
        assert extractor.spec.columns[0].length == 16
        assert np.isfinite(rows[0]["embedding"]).all()
    with pytest.raises(MissingCheckpointError, match="no lidnet.safetensors"):
        extractor_registry.create("lidnet", checkpoint=str(tmp_path))


def test_augmentation_keeps_length_range_and_peak():
    rng = np.random.default_rng(1)
    wave = (0.5 * np.sin(np.linspace(0, 400, SR))).astype(np.float32)
    cfg = AugmentConfig(noise_prob=1.0, telephone_prob=1.0, gain_prob=1.0, speed_prob=1.0)
    out = augment(wave, rng, cfg)
    assert np.abs(out).max() <= 1.0
    assert 0.85 * SR <= out.size <= 1.15 * SR
    assert not np.allclose(out[: SR // 2], wave[: SR // 2])


def test_ensemble_concatenates_members_and_averages_their_logits():
    import torch

    from extractors.lidnet import build_backbone
    from training.lidnet_train import _fit_member, _mean_logits_classifier, _Member, _predict

    torch.manual_seed(0)
    cfg = TINY.model_copy(update={"members": 3})
    backbone = build_backbone(cfg).eval()
    x = 0.1 * torch.randn(2, SR // 2)
    with torch.no_grad():
        full = backbone(x)
        parts = [backbone.embed_member(k, x) for k in range(3)]
    assert full.shape == (2, cfg.output_dim) == (2, 24)
    assert torch.allclose(full, torch.cat(parts, dim=1), atol=1e-3)

    heads = [torch.nn.Linear(8, 2) for _ in range(3)]
    mean = _mean_logits_classifier([_Member(h, 1, 1, 0.5, []) for h in heads], 8)
    with torch.no_grad():
        expected = torch.stack([h(p) for h, p in zip(heads, parts, strict=True)]).mean(0)
        assert torch.allclose(mean(full), expected, atol=1e-5)

    # training member 1 leaves members 0 and 2 untouched
    waves = [np.asarray(0.1 * torch.randn(SR // 2)) for _ in range(6)]
    data = LabelledAudio(waves=waves, y=np.array([0, 1] * 3), meta=pd.DataFrame())
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    config = LidnetTrainConfig(model=cfg, epochs=1, batch_size=3, crop_s=0.3)
    _fit_member(backbone, 1, data, data, ["da", "sv"], config, 60.0, None)
    after = backbone.state_dict()
    changed = {k.split(".")[1] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"1"}
    probs, embs = _predict(backbone, mean, waves)
    assert probs.shape == (6, 2) and embs.shape == (6, 24)
    assert np.allclose(probs.sum(1), 1.0)


def test_frequency_masking_zeroes_whole_mel_bands_of_chosen_examples_only():
    import torch

    from training.lidnet_train import mask_frequencies

    feats = torch.randn(4, 50, 20) + 5.0
    rng = np.random.default_rng(0)
    assert mask_frequencies(feats, rng, AugmentConfig(freq_mask_prob=0.0)) is feats
    cfg = AugmentConfig(freq_mask_prob=1.0, freq_masks=2, freq_mask_width=3)
    out = mask_frequencies(feats, rng, cfg)
    assert out.shape == feats.shape
    for row in range(4):
        zero_bands = (out[row] == 0).all(dim=0)
        assert 1 <= int(zero_bands.sum()) <= 6  # two masks of 1-3 bands (they may overlap)
        assert torch.equal(out[row][:, ~zero_bands], feats[row][:, ~zero_bands])
    untouched = mask_frequencies(feats, rng, cfg.model_copy(update={"freq_mask_prob": 1e-9}))
    assert torch.equal(untouched, feats)
