"""Heads learn a separable problem, are reproducible and round-trip through safetensors."""

from __future__ import annotations

import numpy as np
import pytest

from training.features import FeatureRef, groups
from training.heads import (
    HEADS,
    LdaConfig,
    LogRegConfig,
    MlpConfig,
    fit_head,
    load_head,
    parse_head_config,
)

from .conftest import separable_problem

LABELS = ["da", "is", "sv"]


@pytest.mark.parametrize("kind", ["logreg", "lda", "mlp", "fusion"])
def test_head_learns_separable_problem_and_round_trips(kind, tmp_path):
    x, y = separable_problem(40, LABELS, dim=6, seed=1)
    rng = np.random.default_rng(5)
    perm = rng.permutation(len(x))
    x, y = x[perm], y[perm]
    xd, yd = x[:30], y[:30]
    xt, yt = x[30:], y[30:]
    feats = [FeatureRef(ref="a__v", length=4), FeatureRef(ref="b__w", length=2)]
    torch_settings = {"max_epochs": 60, "patience": 10, "hidden": 32}
    config = parse_head_config(
        {"kind": kind}
        | (torch_settings if kind in ("mlp", "fusion") else {})
        | ({"proj": 16} if kind == "fusion" else {})
    )
    head, report = fit_head(xt, yt, xd, yd, LABELS, config, groups(feats))
    assert report.dev_macro_f1 > 0.95
    assert (head.predict_proba(xd).argmax(1) == yd).mean() > 0.95
    head.save_pretrained(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    again = load_head(tmp_path)
    np.testing.assert_allclose(again.predict_proba(xd), head.predict_proba(xd), atol=1e-5)


def test_torch_head_is_seeded_and_reproducible():
    x, y = separable_problem(30, LABELS, dim=5, seed=2, spread=1.0)
    feats = [FeatureRef(ref="a__v", length=5)]
    config = MlpConfig(max_epochs=8, patience=8, hidden=16, seed=3)
    a, _ = fit_head(x, y, x, y, LABELS, config, groups(feats))
    b, _ = fit_head(x, y, x, y, LABELS, config, groups(feats))
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))


@pytest.mark.parametrize("kind", ["logreg", "lda"])
def test_class_weighting_keeps_minority_recall(kind):
    rng = np.random.default_rng(0)
    # overlapping classes, 10:1 imbalance: unweighted heads favour the majority
    x = np.concatenate([rng.normal(0, 1, (400, 2)), rng.normal(1.2, 1, (40, 2))]).astype(np.float32)
    y = np.array([0] * 400 + [1] * 40)
    feats = [FeatureRef(ref="a__v", length=2)]
    recalls = {}
    for weighted in (True, False):
        cfg = (
            LogRegConfig(class_weighting=weighted, c_grid=[1.0])
            if kind == "logreg"
            else LdaConfig(class_weighting=weighted, shrinkage_grid=[0.0])
        )
        head, _ = fit_head(x, y, x, y, ["da", "sv"], cfg, groups(feats))
        pred = head.predict_proba(x).argmax(1)
        recalls[weighted] = (pred[y == 1] == 1).mean()
    assert recalls[True] > recalls[False] + 0.3


def test_layer_weighting_learns_the_informative_layer():
    rng = np.random.default_rng(0)
    n, dim = 300, 3
    y = rng.integers(0, 2, n)
    informative = (y[:, None] * 2.0 - 1.0) * 1.5 + rng.normal(0, 1, (n, dim))
    noise = [rng.normal(0, 1, (n, dim)) for _ in range(5)]
    # columns: layer00_mean, layer00_std, layer01_mean, layer01_std, layer02_mean, layer02_std
    x = np.concatenate([noise[0], noise[1], informative, noise[2], noise[3], noise[4]], axis=1)
    feats = [
        FeatureRef(ref=f"ssl__layer{layer:02d}_{stat}", length=dim)
        for layer in range(3)
        for stat in ("mean", "std")
    ]
    g = groups(feats)
    assert g[0].layers is not None and len(g[0].layers) == 3
    cfg = MlpConfig(max_epochs=60, patience=60, hidden=16, lr=1e-2, weight_decay=0.0)
    head, report = fit_head(x.astype(np.float32), y, x.astype(np.float32), y, ["da", "sv"], cfg, g)
    weights = report.chosen["layer_weights"]["ssl"]
    assert np.argmax(weights) == 1


def test_lda_head_gives_the_gaussian_posteriors_and_never_predicts_absent_labels():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(3)
    means = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 1.0], [0.0, 2.0, -1.0]])
    y = rng.integers(0, 3, 300)
    x = (means[y] + rng.normal(0, 1, (300, 3)) @ np.diag([1.0, 3.0, 0.5])).astype(np.float32)
    feats = [FeatureRef(ref="a__v", length=3)]
    labels = ["da", "is", "no", "sv"]  # "no" has no training rows
    y4 = np.array([0, 1, 3])[y]
    cfg = LdaConfig(shrinkage_grid=[0.0])
    head, report = fit_head(x, y4, x, y4, labels, cfg, groups(feats))
    assert report.chosen == {"shrinkage": 0.0}
    # equal priors + shared covariance on standardised features = scikit-learn's posteriors
    ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.0, priors=[1 / 3] * 3)
    ref.fit((x - x.mean(0)) / x.std(0), y4)
    proba = head.predict_proba(x)
    np.testing.assert_allclose(
        proba[:, [0, 1, 3]], ref.predict_proba((x - x.mean(0)) / x.std(0)), atol=1e-4
    )
    assert proba[:, 2].max() < 1e-6 and np.allclose(proba.sum(1), 1.0)

    # two classes: one coefficient row in scikit-learn, still a full softmax here
    two = y4 != 1
    head2, _ = fit_head(x[two], y4[two], x[two], y4[two], labels, cfg, groups(feats))
    p2 = head2.predict_proba(x[two])
    assert p2[:, [1, 2]].max() < 1e-6 and (p2.argmax(1) == y4[two]).mean() > 0.8


def _fit_small(kind: str):
    x, y = separable_problem(20, LABELS, dim=6, seed=4)
    feats = [FeatureRef(ref="a__v", length=4), FeatureRef(ref="b__w", length=2)]
    small = {"max_epochs": 5, "patience": 5, "hidden": 8} if kind in ("mlp", "fusion") else {}
    head, report = fit_head(
        x, y, x, y, LABELS, parse_head_config({"kind": kind} | small), groups(feats)
    )
    return head, report, x


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_every_head_kind_round_trips_through_save_and_from_pretrained(kind, tmp_path):
    import json

    head, _, x = _fit_small(kind)
    assert type(head) is HEADS[kind] and head.kind == kind == head.config.kind
    files = head.save_pretrained(tmp_path)
    assert sorted(files) == ["head.json", "weights.safetensors"]
    meta = json.loads((tmp_path / "head.json").read_text())
    assert meta["kind"] == kind and meta["config"] == head.config.model_dump()
    for again in (HEADS[kind].from_pretrained(tmp_path), load_head(tmp_path)):
        assert type(again) is HEADS[kind]
        assert again.labels == LABELS and again.config == head.config
        np.testing.assert_allclose(again.predict_proba(x), head.predict_proba(x), atol=1e-6)
    other = next(cls for k, cls in HEADS.items() if k != kind)
    with pytest.raises(ValueError, match=f"a '{kind}' head"):
        other.from_pretrained(tmp_path)


@pytest.mark.parametrize("kind", ["logreg", "mlp"])
def test_head_saved_with_the_old_flat_config_still_loads(kind, tmp_path):
    """Models registered before the config union stored every kind's fields in head.json."""
    import json

    head, _, x = _fit_small(kind)
    head.save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "head.json").read_text())
    flat = {
        "kind": kind,
        "seed": 0,
        "class_weighting": True,
        "c_grid": [0.01, 0.1, 1.0],
        "max_iter": 1000,
        "shrinkage_grid": [0.0, 0.1, 0.5],
        "hidden": 128,
        "proj": 64,
        "dropout": 0.2,
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "batch_size": 64,
        "max_epochs": 150,
        "patience": 15,
    } | head.config.model_dump()
    del meta["format"]
    (tmp_path / "head.json").write_text(json.dumps(meta | {"config": flat}))
    again = load_head(tmp_path)
    assert again.config == head.config
    np.testing.assert_allclose(again.predict_proba(x), head.predict_proba(x), atol=1e-6)


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_config_union_rejects_unknown_fields_of_every_kind(kind):
    from pydantic import ValidationError

    assert parse_head_config({"kind": kind}).kind == kind
    with pytest.raises(ValidationError, match="bogus"):
        parse_head_config({"kind": kind, "bogus": 1})
    with pytest.raises(ValidationError, match="bogus"):  # lenient drops only real settings
        parse_head_config({"kind": kind, "bogus": 1}, lenient=True)
    with pytest.raises(ValidationError):
        HEADS[kind].config_type(bogus=1)


def test_config_union_rejects_unknown_kinds_and_other_kinds_settings():
    from pydantic import ValidationError

    assert isinstance(parse_head_config({}), LogRegConfig)  # the default kind
    with pytest.raises(ValidationError, match="svm"):
        parse_head_config({"kind": "svm"})
    with pytest.raises(ValidationError, match="hidden"):
        parse_head_config({"kind": "logreg", "hidden": 64})
    with pytest.raises(ValidationError, match="proj"):
        parse_head_config({"kind": "mlp", "proj": 8})  # only fusion projects each view
    with pytest.raises(ValidationError, match="patience"):
        parse_head_config({"kind": "mlp", "patience": 0})
    # a sweep grid crosses the kind with the torch settings: lenient drops what logreg lacks
    cfg = parse_head_config({"kind": "logreg", "hidden": 64, "seed": 2}, lenient=True)
    assert cfg == LogRegConfig(seed=2)


def test_config_for_kind_carries_the_shared_settings_over():
    from training.heads import FusionConfig, config_for_kind

    assert config_for_kind(LogRegConfig(seed=3, c_grid=[1.0]), "lda") == LdaConfig(seed=3)
    mlp = MlpConfig(hidden=16, seed=1)
    assert config_for_kind(mlp, "fusion") == FusionConfig(hidden=16, seed=1)
    assert config_for_kind(mlp, "mlp") == mlp
    with pytest.raises(ValueError, match="unknown head kind"):
        config_for_kind(mlp, "svm")


def test_sweep_points_drop_other_kinds_settings_and_reject_unknown_names():
    from nordlid.errors import ConfigError
    from training.sweep import head_config

    assert head_config({"head": "logreg", "hidden": 64}) == LogRegConfig()
    assert head_config({"head": "mlp", "hidden": 64}) == MlpConfig(hidden=64)
    assert head_config({"lr": 0.1}, MlpConfig(seed=4)) == MlpConfig(seed=4, lr=0.1)
    with pytest.raises(ConfigError, match="bogus"):
        head_config({"head": "mlp", "bogus": 1})
