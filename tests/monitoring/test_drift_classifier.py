"""The leave-one-out ridge domain classifier (``monitoring.drift_classifier``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from monitoring.drift import DriftConfig, compute_drift
from monitoring.drift_classifier import (
    ClassifierDriftMethod,
    classifier_test,
    leave_one_out_scores,
)


def test_leave_one_out_scores_match_refitting_without_the_row() -> None:
    rng = np.random.default_rng(0)
    for n, d in [(30, 5), (12, 40)]:  # primal and dual form
        x = rng.normal(size=(n, d))
        x -= x.mean(axis=0)
        y = rng.normal(size=(n, 1))
        loo = leave_one_out_scores(x, y, ridge=2.0)[:, 0]
        for i in (0, n // 2, n - 1):
            keep = np.arange(n) != i
            fit = Ridge(alpha=2.0, fit_intercept=False).fit(x[keep], y[keep, 0])
            assert loo[i] == pytest.approx(fit.predict(x[i : i + 1])[0], rel=1e-8, abs=1e-10)


def test_null_is_calibrated_and_a_small_shift_is_found() -> None:
    """Under no drift p < 0.05 about 5 % of the time; a 0.3 sd shift is found every time.

    200 null draws: the false-alarm count is Binomial(200, 0.05) (mean 10, sd 3.1); the
    bounds 2..22 are 2.6 sd and 3.9 sd from it.  Power at 0.3 sd in 32 dimensions with 40
    vs 24 rows is ~1.0 (a 20/20 run measured); 18 of 20 leaves the margin.
    """
    rng = np.random.default_rng(1)
    false_alarms = sum(
        classifier_test(
            rng.normal(size=(40, 32)), rng.normal(size=(24, 32)), seed=i, permutations=200
        ).p_value
        < 0.05
        for i in range(200)
    )
    assert 2 <= false_alarms <= 22
    found = sum(
        classifier_test(
            rng.normal(size=(40, 32)), rng.normal(size=(24, 32)) + 0.3, seed=i, permutations=200
        ).p_value
        < 0.05
        for i in range(20)
    )
    assert found >= 18


def test_verdict_is_stable_under_tiny_input_changes() -> None:
    """Evidently's one-split SGD verdict moved with 1e-7 input noise; this one may not."""
    rng = np.random.default_rng(2)
    ref, cur = rng.normal(size=(28, 32)), rng.normal(size=(12, 32)) + 0.15
    base = classifier_test(ref, cur)
    one_swap = 1 / (28 * 12)  # the AUC step of one reference/current rank swap
    for _ in range(20):
        bumped = classifier_test(ref + 1e-7 * rng.normal(size=ref.shape), cur)
        assert bumped.score == pytest.approx(base.score, abs=one_swap + 1e-9)
        assert bumped.threshold == pytest.approx(base.threshold, abs=1e-9)  # seeded null


def test_compute_drift_reports_the_classifier_verdict_with_p_value() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x__emb": list(rng.normal(size=(60, 16)))})
    same = pd.DataFrame({"x__emb": list(rng.normal(size=(30, 16)))})
    moved = pd.DataFrame({"x__emb": list(rng.normal(size=(30, 16)) + 1.0)})
    calm = compute_drift(ref, same, DriftConfig()).result.embeddings[0]
    drifted = compute_drift(ref, moved, DriftConfig()).result.embeddings[0]
    assert calm.method == "classifier" and calm.p_value is not None
    assert not calm.drifted and calm.p_value > 0.05
    assert drifted.drifted and drifted.p_value == pytest.approx(1 / 501)
    assert drifted.threshold is not None and drifted.score > drifted.threshold


def test_method_plugs_into_evidently_and_caps_rows() -> None:
    rng = np.random.default_rng(4)
    method = ClassifierDriftMethod(permutations=50, max_rows=100)
    ref = pd.DataFrame(rng.normal(size=(500, 4)))
    cur = pd.DataFrame(rng.normal(size=(300, 4)) + 2.0)
    score, drifted, name = method(cur, ref)
    assert name == "classifier" and drifted and score > 0.95
    with pytest.raises(ValueError, match="two rows on each side"):
        classifier_test(np.zeros((1, 3)), np.zeros((5, 3)))


def test_a_vector_with_too_few_rows_is_reported_not_compared_and_the_rest_is_checked() -> None:
    """Premium's embedding exists only for escalated requests: a window with few of them
    still gets its verdict on everything else."""
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"a__x": rng.normal(size=40), "b__emb": list(rng.normal(size=(40, 4)))})
    cur_emb: list[object] = [None] * 30
    for i in range(5):
        cur_emb[i] = rng.normal(size=4) + 3.0
    cur = pd.DataFrame({"a__x": rng.normal(size=30) + 3.0, "b__emb": cur_emb})
    result = compute_drift(ref, cur, DriftConfig()).result
    assert list(result.not_compared) == ["b__emb"]
    assert "5 current vectors" in result.not_compared["b__emb"]
    assert result.embeddings == [] and result.dataset_drift
    assert "not compared (too few rows): b__emb" in result.verdict()
