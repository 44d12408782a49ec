"""Heads learn a separable problem, are reproducible and round-trip through safetensors."""

from __future__ import annotations

import numpy as np
import pytest

from training.features import FeatureRef, groups
from training.heads import HeadConfig, fit_head, load_head

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
    config = HeadConfig(kind=kind, max_epochs=60, patience=10, hidden=32, proj=16)
    head, report = fit_head(xt, yt, xd, yd, LABELS, config, groups(feats))
    assert report.dev_macro_f1 > 0.95
    assert (head.predict_proba(xd).argmax(1) == yd).mean() > 0.95
    head.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    again = load_head(tmp_path)
    np.testing.assert_allclose(again.predict_proba(xd), head.predict_proba(xd), atol=1e-5)


def test_torch_head_is_seeded_and_reproducible():
    x, y = separable_problem(30, LABELS, dim=5, seed=2, spread=1.0)
    feats = [FeatureRef(ref="a__v", length=5)]
    config = HeadConfig(kind="mlp", max_epochs=8, patience=8, hidden=16, seed=3)
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
        cfg = HeadConfig(kind=kind, class_weighting=weighted, c_grid=[1.0], shrinkage_grid=[0.0])
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
    cfg = HeadConfig(kind="mlp", max_epochs=60, patience=60, hidden=16, lr=1e-2, weight_decay=0.0)
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
    cfg = HeadConfig(kind="lda", shrinkage_grid=[0.0])
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
