"""Metrics on hand-made confusion matrices and predictions."""

from __future__ import annotations

import numpy as np
import pytest

from training.cascade import tune_threshold
from training.metrics import (
    class_weights,
    confusion_matrix,
    evaluate_predictions,
    expected_calibration_error,
    macro_f1,
    metrics_from_confusion,
    plot_confusion,
)


def test_metrics_from_hand_made_confusion_matrix():
    labels = ["da", "no", "sv"]
    cm = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 6]])
    m = metrics_from_confusion(cm, labels)
    assert m["n"] == 20
    assert m["accuracy"] == pytest.approx(17 / 20)
    assert m["recall"] == pytest.approx({"da": 0.8, "no": 0.75, "sv": 1.0})
    assert m["precision"] == pytest.approx({"da": 8 / 9, "no": 0.6, "sv": 1.0})
    assert m["uar"] == pytest.approx((0.8 + 0.75 + 1.0) / 3)
    f1_da = 2 * (8 / 9) * 0.8 / (8 / 9 + 0.8)
    f1_no = 2 * 0.6 * 0.75 / 1.35
    assert m["macro_f1"] == pytest.approx((f1_da + f1_no + 1.0) / 3)


def test_absent_language_is_left_out_of_macro_averages():
    labels = ["da", "fo", "sv"]
    cm = np.array([[5, 0, 0], [0, 0, 0], [1, 0, 4]])
    m = metrics_from_confusion(cm, labels)
    assert set(m["recall"]) == {"da", "sv"}
    assert m["uar"] == pytest.approx((1.0 + 0.8) / 2)


def test_confusion_matrix_counts_and_rejects_unknown_labels():
    cm = confusion_matrix(["da", "da", "sv"], ["da", "sv", "sv"], ["da", "sv"])
    assert cm.tolist() == [[1, 1], [0, 1]]
    with pytest.raises(ValueError, match="'is'"):
        confusion_matrix(["is"], ["da"], ["da", "sv"])


def test_ece_of_perfectly_calibrated_and_overconfident_predictions():
    # 4 predictions at confidence 0.75, 3 right: calibrated → ECE 0
    proba = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(proba, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    # confidence 1.0 but half wrong → ECE 0.5
    proba = np.array([[1.0, 0.0]] * 4)
    assert expected_calibration_error(proba, np.array([0, 1, 0, 1])) == pytest.approx(0.5)


def test_breakdown_per_source_shows_channel_shortcut(tmp_path):
    labels = ["da", "sv"]
    y = np.array(["da", "sv", "da", "sv"], dtype=object)
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])  # wrong on source b
    m = evaluate_predictions(proba, y, labels, groups={"source": ["a", "a", "b", "b"]})
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["by_source"]["a"]["accuracy"] == 1.0
    assert m["by_source"]["b"]["accuracy"] == 0.0
    png = plot_confusion(m["confusion"], labels, tmp_path / "cm.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cascade_threshold_is_cheapest_that_meets_target():
    y = np.array([0, 1, 0, 1])
    # mini: right & confident on rows 0,1; wrong & unsure on rows 2,3
    mini = np.array([[0.95, 0.05], [0.1, 0.9], [0.45, 0.55], [0.6, 0.4]])
    premium = np.eye(2)[y]
    choice = tune_threshold(mini, premium, y, mini_cost=1.0, premium_cost=10.0, target_accuracy=1.0)
    assert choice.met_target
    assert choice.accuracy == 1.0
    assert choice.escalation_rate == 0.5  # only the two unsure rows escalate
    assert 0.6 < choice.threshold <= 0.9
    low = tune_threshold(mini, premium, y, mini_cost=1.0, premium_cost=10.0, target_accuracy=0.5)
    assert low.escalation_rate == 0.0


def test_unreachable_target_takes_the_most_accurate_threshold_escalating_most():
    y = np.array([0, 1, 0, 1])
    # mini: right & confident on rows 0,1; wrong on rows 2,3; premium wrong on row 3 only
    mini = np.array([[0.95, 0.05], [0.1, 0.9], [0.45, 0.55], [0.6, 0.4]])
    premium = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    choice = tune_threshold(mini, premium, y, mini_cost=1.0, premium_cost=10.0, target_accuracy=1.0)
    assert not choice.met_target
    # escalating the unsure half or everything both give 0.75 on dev: everything is chosen
    assert choice.accuracy == 0.75
    assert choice.escalation_rate == 1.0


def test_unreachable_target_ignores_dev_gains_within_one_standard_error():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    rows = np.arange(n)
    # mini: confident and right on the first 40 rows, unsure and wrong elsewhere
    conf = np.where(rows < 40, 0.99, 0.6)
    mini_pred = np.where(rows < 40, y, 1 - y)
    mini = np.where(np.eye(2)[mini_pred] == 1, conf[:, None], 1 - conf[:, None])

    def premium_wrong(wrong: np.ndarray) -> np.ndarray:
        return np.eye(2)[np.where(wrong, 1 - y, y)]

    # premium is wrong on 34 rows, 2 of them among mini's confident ones: keeping mini's
    # answers gains 0.5 dev points (1 SE ~ 1.4): dev cannot tell, so everything escalates
    small = tune_threshold(
        mini,
        premium_wrong((rows >= 38) & (rows < 72)),
        y,
        mini_cost=1.0,
        premium_cost=10.0,
        target_accuracy=0.99,
    )
    assert not small.met_target
    assert small.escalation_rate == 1.0 and small.accuracy == pytest.approx(1 - 34 / 400)
    # premium wrong on all 40 confident rows: mini's answers gain 10 points, they are kept
    big = tune_threshold(
        mini,
        premium_wrong((rows < 40) | ((rows >= 100) & (rows < 120))),
        y,
        mini_cost=1.0,
        premium_cost=10.0,
        target_accuracy=0.99,
    )
    assert not big.met_target
    assert big.escalation_rate == pytest.approx(0.9) and big.accuracy == pytest.approx(0.95)


def test_macro_f1_of_probabilities_and_inverse_frequency_class_weights():
    labels = ["da", "no", "sv"]
    y = np.array([0, 0, 1, 2])
    proba = np.eye(3)[[0, 1, 1, 2]]  # one "da" predicted as "no"
    cm = confusion_matrix(np.asarray(labels)[y], np.asarray(labels)[[0, 1, 1, 2]], labels)
    assert macro_f1(labels, y, proba) == metrics_from_confusion(cm, labels)["macro_f1"]
    np.testing.assert_allclose(class_weights(np.array([0, 0, 0, 2]), 3), [4 / 6, 0.0, 4 / 2])


def test_the_cheapest_threshold_also_keeps_mini_in_agreement_with_premium():
    n = 400
    y = np.arange(n) % 2
    rows = np.arange(n)
    conf = np.linspace(0.999, 0.55, n)  # mini keeps rows 0..k-1 at threshold conf[k-1]
    # mini is wrong on eight rows among its confident ones and on every row from 300 on;
    # premium is right except on rows 380-399
    spread = np.isin(rows, [110, 120, 130, 140, 150, 160, 170, 180])
    mini_pred = np.where(spread | (rows >= 300), 1 - y, y)
    mini = np.where(np.eye(2)[mini_pred] == 1, conf[:, None], 1 - conf[:, None])
    premium = np.eye(2)[np.where(rows >= 380, 1 - y, y)]
    kw = {"mini_cost": 1.0, "premium_cost": 10.0, "target_accuracy": 0.92}
    free = tune_threshold(mini, premium, y, **kw)
    bound = tune_threshold(mini, premium, y, max_disagreement=0.02, **kw)
    # accuracy alone: mini keeps rows 0-303 (8 + 4 + 20 errors = 0.92), changing 12 answers
    assert free.met_target and free.escalation_rate == pytest.approx(96 / 400)
    assert free.disagreement == pytest.approx(12 / 304)
    # at most 2 % changed: rows 0-129 (rows 110 and 120 differ, 1.5 %)
    assert bound.met_target and bound.escalation_rate == pytest.approx(270 / 400)
    assert bound.disagreement == pytest.approx(2 / 130) and bound.max_disagreement == 0.02
    assert bound.accuracy == pytest.approx(1 - 22 / 400)
    with pytest.raises(ValueError, match="max_disagreement"):
        tune_threshold(mini, premium, y, max_disagreement=1.5, **kw)
