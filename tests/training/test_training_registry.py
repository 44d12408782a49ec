"""Model registry: card round-trip, refs and aliases, promotion gate, feature mismatch."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from extractors import registry as extractor_registry
from extractors.registry import RegistryEntry
from extractors.spec import ExtractorSpec, FeatureColumn
from training.dataset import entity_frame
from training.features import FeatureMismatchError, FeatureRef
from training.heads import LogRegConfig
from training.registry import GateConfig, ModelCard, ModelNotFoundError, ModelRegistry
from training.train import train_model

from .conftest import T0, feast_fetch, make_feast_store


def _card(name: str, version: int, f1: float, recall: dict[str, float]) -> ModelCard:
    return ModelCard(
        name=name,
        version=version,
        head="logreg",
        feature_service="lid_toy",
        features=[FeatureRef(ref="toy__vec", length=3)],
        labels=sorted(recall),
        metrics={"dev": {"accuracy": f1, "macro_f1": f1, "uar": f1, "recall": recall}},
    )


def _register(reg: ModelRegistry, name: str, f1: float, recall: dict[str, float]) -> str:
    version, _ = reg.new_version(name)
    reg.write_card(_card(name, version, f1, recall))
    return f"{name}@{version}"


def test_model_card_round_trips(tmp_path):
    card = _card("m", 1, 0.9, {"da": 0.9, "sv": 0.8})
    card.threshold = 0.82
    card.cost = {"backbone_gflops_per_s": 0.5, "head_latency_ms": 0.1}
    again = ModelCard.from_json(card.to_json())
    assert again == card
    with pytest.raises(ValueError, match="unexpected"):
        ModelCard.model_validate({**card.model_dump(), "unexpected": 1})


def test_refs_versions_and_aliases(tmp_path):
    reg = ModelRegistry(tmp_path)
    a1 = _register(reg, "a", 0.8, {"da": 0.8})
    a2 = _register(reg, "a", 0.9, {"da": 0.9})
    assert (a1, a2) == ("a@1", "a@2")
    assert reg.resolve("a") == ("a", 2)
    assert reg.resolve("a@1") == ("a", 1)
    reg.set_alias("a@1", "mini")
    assert reg.resolve("@mini") == ("a", 1)
    assert reg.resolve("a@mini") == ("a", 1)
    for bad, msg in [
        ("a@7", "no version 7"),
        ("b", "not registered"),
        ("@premium", "not set"),
        ("a@nope", "no alias 'nope'"),
    ]:
        with pytest.raises(ModelNotFoundError, match=msg):
            reg.resolve(bad)


def test_promotion_gate_accepts_and_rejects_the_right_candidates(tmp_path):
    reg = ModelRegistry(tmp_path)
    champ = _register(reg, "m", 0.90, {"da": 0.90, "sv": 0.90})
    first = reg.promote(champ, "production")
    assert first.promoted and reg.resolve("@production") == ("m", 1)

    worse_f1 = _register(reg, "m", 0.89, {"da": 0.95, "sv": 0.95})
    d = reg.promote(worse_f1, "production", GateConfig(max_recall_drop=0.05))
    assert not d.promoted and "macro-F1" in d.reasons[0]

    recall_drop = _register(reg, "m", 0.93, {"da": 0.99, "sv": 0.80})
    d = reg.promote(recall_drop, "production", GateConfig(max_recall_drop=0.05))
    assert not d.promoted
    assert any("recall[sv]" in r for r in d.reasons)
    assert reg.resolve("@production") == ("m", 1)

    small_drop = _register(reg, "m", 0.93, {"da": 0.99, "sv": 0.87})
    d = reg.promote(small_drop, "production", GateConfig(max_recall_drop=0.05))
    assert d.promoted and d.champion == "m@1"
    assert reg.resolve("@production") == ("m", 4)
    # decision and its numbers are recorded next to the version and in the log
    recorded = list((tmp_path / "m" / "4").glob("promotion-production-*.json"))
    assert len(recorded) == 1
    assert len((tmp_path / "promotions.jsonl").read_text().splitlines()) == 4


@pytest.fixture()
def toy_extractor(monkeypatch):
    """Register a toy extractor ``toy`` (scalar + 3-vector) for the duration of a test."""

    def spec(length: int = 3) -> ExtractorSpec:
        return ExtractorSpec(
            name="toy",
            version="1",
            columns=(FeatureColumn("score"), FeatureColumn("vec", length=length)),
        )

    extractor_registry._load_builtin()
    monkeypatch.setitem(
        extractor_registry._ENTRIES,
        "toy",
        RegistryEntry(name="toy", spec=spec, factory="builtins:object", description="test"),
    )
    return spec


def _toy_corpus(n_per_lang: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    langs = ["da", "is", "sv"]
    centres = {lang: rng.normal(0, 3, 4) for lang in langs}
    rows, feats = [], []
    for lang in langs:
        for i in range(n_per_lang):
            uid = f"{lang}-{i}"
            split = ["train", "train", "train", "dev", "test"][i % 5]
            rows.append(
                {
                    "utterance_id": uid,
                    "event_timestamp": T0 + timedelta(days=2),
                    "language": lang,
                    "split": split,
                    "source": "synthetic",
                    "condition": "clean" if i % 2 else "noisy",
                }
            )
            v = centres[lang] + rng.normal(0, 1, 4)
            feats.append(
                {
                    "utterance_id": uid,
                    "event_timestamp": T0 + timedelta(days=1),
                    "created_timestamp": T0 + timedelta(days=1),
                    "score": np.float32(v[0]),
                    "vec": v[1:].astype(np.float32).tolist(),
                }
            )
    return pd.DataFrame(rows), pd.DataFrame(feats)


def test_train_model_registers_and_mismatched_registry_fails_clearly(
    workdir, tmp_path, toy_extractor, monkeypatch
):
    manifest, table = _toy_corpus(20)
    store = make_feast_store(tmp_path, table, vector_length=3)
    features = [FeatureRef(ref="toy__score"), FeatureRef(ref="toy__vec", length=3)]
    mv = train_model(
        workdir,
        "lid_toy",
        "logreg",
        "toy-logreg",
        entity_df=entity_frame(manifest),
        features=features,
        feature_views={"toy": "1"},
        fetch=feast_fetch(store),
        track=False,
        count_cost=False,
        aliases=("mini",),
        config=LogRegConfig(c_grid=[1.0]),
    )
    assert mv.ref == "toy-logreg@1"
    card = mv.card
    assert card.metrics["test"]["accuracy"] > 0.9
    assert set(card.metrics["dev"]["by_condition"]) == {"clean", "noisy"}
    assert (mv.path / "confusion_test.png").exists()
    assert card.hyperparameters["n_train"] == 36

    reg = ModelRegistry(workdir.models)
    loaded = reg.load("@mini")
    frame = table.rename(columns={"score": "toy__score", "vec": "toy__vec"})
    proba = loaded.predict_proba(frame)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)

    # the extractor's vector length changes: loading the old model must say why it fails
    monkeypatch.setitem(
        extractor_registry._ENTRIES,
        "toy",
        RegistryEntry(
            name="toy",
            spec=lambda: toy_extractor(length=4),
            factory="builtins:object",
            description="test",
        ),
    )
    with pytest.raises(FeatureMismatchError, match=r"toy__vec: trained with length 3.*declares 4"):
        reg.load("toy-logreg")
    # a feature missing from the input frame is named too
    with pytest.raises(FeatureMismatchError, match="toy__score"):
        loaded.predict_proba(frame.drop(columns="toy__score"))


def test_model_on_another_backbone_checkpoint_fails_clearly(monkeypatch):
    from training.registry import check_checkpoints

    def spec() -> ExtractorSpec:
        return ExtractorSpec(
            name="toybone",
            version="1",
            columns=(FeatureColumn("embedding", length=4),),
            checkpoint="toybone@2:bbbb",
            needs_weights=True,
        )

    extractor_registry._load_builtin()
    monkeypatch.setitem(
        extractor_registry._ENTRIES,
        "toybone",
        RegistryEntry(name="toybone", spec=spec, factory="builtins:object", description="test"),
    )
    card = _card("m", 1, 0.9, {"da": 0.9})
    card.features = [FeatureRef(ref="toybone__embedding", length=4)]
    card.feature_checkpoints = {"toybone": "toybone@2:bbbb"}
    check_checkpoints(card)  # same checkpoint: fine
    card.feature_checkpoints = {"toybone": "toybone@1:aaaa"}
    with pytest.raises(FeatureMismatchError, match=r"toybone: trained on 'toybone@1:aaaa'"):
        check_checkpoints(card)


def test_drift_reference_adds_the_features_of_further_models(workdir, tmp_path, toy_extractor):
    from monitoring.data import TRAIN_ENTITIES_FILE, load_reference

    manifest, table = _toy_corpus(20)
    store = make_feast_store(tmp_path, table, vector_length=3)
    common = dict(
        entity_df=entity_frame(manifest),
        feature_views={"toy": "1"},
        fetch=feast_fetch(store),
        track=False,
        count_cost=False,
        config=LogRegConfig(c_grid=[1.0]),
    )
    vec = train_model(
        workdir,
        "lid_toy",
        "logreg",
        "toy-vec",
        features=[FeatureRef(ref="toy__vec", length=3)],
        aliases=("production",),
        **common,  # type: ignore[arg-type]
    )
    train_model(
        workdir,
        "lid_toy",
        "logreg",
        "toy-score",
        features=[FeatureRef(ref="toy__score")],
        aliases=("mini",),
        **common,  # type: ignore[arg-type]
    )
    # the entities the champion was trained on (continuous training records them)
    entity_frame(manifest).to_parquet(vec.path / TRAIN_ENTITIES_FILE)
    alone = load_reference(workdir, "@production", fetch=feast_fetch(store))
    both = load_reference(
        workdir, "@production", fetch=feast_fetch(store), with_models=("@mini", "@production")
    )
    assert alone.features == ["toy__vec"]
    assert both.features == ["toy__vec", "toy__score"]  # each feature once
    assert len(both.frame) == len(alone.frame) == 36  # the same training utterances
    assert both.frame["utterance_id"].tolist() == alone.frame["utterance_id"].tolist()
    want = table.set_index("utterance_id").loc[both.frame["utterance_id"], "score"]
    np.testing.assert_allclose(both.frame["toy__score"].to_numpy(), want.to_numpy())
    assert both.model_ref == "toy-vec@1" and len(both.predictions) == len(alone.predictions)
