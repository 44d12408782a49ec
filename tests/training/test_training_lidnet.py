"""lidnet: a tiny config trains for a few steps, registers, and the extractor loads it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from lidnet_tiny import TINY, TINY_MINI

from extractors import registry as extractor_registry
from extractors.lidnet import MINI_NAME, LidnetConfig, lidnet_spec
from nordlid.errors import MissingCheckpointError
from training.field_augment import FieldBank
from training.lidnet_train import (
    AugmentConfig,
    LabelledAudio,
    LidnetTrainConfig,
    augment,
    train_lidnet,
)
from training.registry import ModelRegistry

SR = 16_000
# a small field bank: two rooms, one babble clip per non-target language
SMALL_BANK = AugmentConfig(rirs=2, babble_per_language=1)


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
    config = LidnetTrainConfig(
        model=TINY,
        mini=TINY_MINI,
        augment=SMALL_BANK,
        epochs=2,
        batch_size=4,
        crop_s=0.3,
        min_crop_s=0.2,
        patience=5,
    )
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

    # the mini backbone trained in the same loop is its own model and extractor
    mini_card = ModelRegistry(workdir.models).load_card(f"{MINI_NAME}@production")
    assert mini_card.kind == "backbone" and {"dev", "test"} <= set(mini_card.metrics)
    assert mini_card.cost["backbone_gflops_per_s"] < card.cost["backbone_gflops_per_s"]
    mini = extractor_registry.create(MINI_NAME)
    assert mini.spec.name == MINI_NAME and mini.spec.columns[0].length == 4
    assert [len(r["embedding"]) for r in mini.extract(waves)] == [4, 4]


def test_augmentation_keeps_length_range_and_peak():
    rng = np.random.default_rng(1)
    wave = (0.5 * np.sin(np.linspace(0, 400, SR))).astype(np.float32)
    cfg = AugmentConfig(noise_prob=1.0, telephone_prob=1.0, gain_prob=1.0, speed_prob=1.0)
    out = augment(wave, rng, cfg)
    assert np.abs(out).max() <= 1.0
    assert SR / 1.2 - 1 <= out.size <= SR / 0.85 + 1  # the speed range
    assert not np.allclose(out[: SR // 2], wave[: SR // 2])


def test_ensemble_concatenates_members_and_averages_their_logits():
    import torch

    from extractors.lidnet import build_backbone
    from training.lidnet_train import _mean_logits_classifier, _predict, fit_lidnet

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
    mean = _mean_logits_classifier(heads, 8)
    with torch.no_grad():
        expected = torch.stack([h(p) for h, p in zip(heads, parts, strict=True)]).mean(0)
        assert torch.allclose(mean(full), expected, atol=1e-5)

    # one loop trains every member and the mini encoder on the same batches
    waves = [np.asarray(0.1 * torch.randn(SR // 2)) for _ in range(6)]
    data = LabelledAudio(waves=waves, y=np.array([0, 1] * 3), meta=pd.DataFrame())
    config = LidnetTrainConfig(
        model=cfg, mini=TINY_MINI, epochs=2, batch_size=3, crop_s=0.3, min_crop_s=0.2
    )
    result = fit_lidnet(data, data, ["da", "sv"], config, bank=FieldBank())
    assert result.mini is not None and result.mini.config.model == TINY_MINI.model_copy(
        update={"labels": ["da", "sv"]}
    )
    assert {row["member"] for row in result.history} == {0.0, 1.0, 2.0}
    assert {row["member"] for row in result.mini.history} == {-1.0}
    probs, embs = _predict(result.backbone, result.classifier, waves)
    assert probs.shape == (6, 2) and embs.shape == (6, 24)
    assert np.allclose(probs.sum(1), 1.0)
    mini_probs, mini_embs = _predict(result.mini.backbone, result.mini.classifier, waves)
    assert mini_embs.shape == (6, 4) and np.allclose(mini_probs.sum(1), 1.0)


def test_augmentation_uses_rooms_and_babble_from_the_bank():
    from training.field_augment import FieldBank

    rng = np.random.default_rng(3)
    wave = (0.5 * np.sin(np.linspace(0, 400, SR))).astype(np.float32)
    rir = np.zeros(800, dtype=np.float32)
    rir[0], rir[400] = 1.0, 0.7  # a direct path and one echo 25 ms later
    talker = (0.2 * np.random.default_rng(0).standard_normal(SR // 3)).astype(np.float32)
    bank = FieldBank(rirs=[rir], talkers=[talker])
    only_room = AugmentConfig(
        noise_prob=0, telephone_prob=0, gain_prob=0, speed_prob=0, reverb_prob=1, babble_prob=0
    )
    out = augment(wave, rng, only_room, bank)
    expected = wave.astype(np.float64).copy()
    expected[400:] += 0.7 * wave[:-400]
    expected *= np.sqrt(np.mean(wave.astype(np.float64) ** 2) / np.mean(expected**2))
    assert out.size == wave.size and np.allclose(out, expected, atol=1e-4)
    only_babble = only_room.model_copy(
        update={"reverb_prob": 0, "babble_prob": 1, "babble_snr_db": (5.0, 5.0)}
    )
    quiet = 0.1 * wave  # the mix stays below full scale (no peak normalisation)
    mixed = augment(quiet, rng, only_babble, bank)
    added = mixed.astype(np.float64) - quiet
    snr = 10 * np.log10(np.mean(quiet.astype(np.float64) ** 2) / np.mean(added**2))
    assert snr == pytest.approx(5.0, abs=0.05)
    # no bank: no rooms, no babble (the chain is otherwise the same)
    assert np.array_equal(augment(wave, np.random.default_rng(3), only_room), wave)


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
