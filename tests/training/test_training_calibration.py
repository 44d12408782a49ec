"""Temperature scaling keeps every answer and makes confidences match accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import (
    apply_temperature,
    calibration_error,
    fit_temperature,
    negative_log_likelihood,
)
from training.metrics import expected_calibration_error


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four classes, 80 % right, every answer at ~0.99 confidence."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.8, y, (y + rng.integers(1, 4, n)) % 4)
    logits = rng.normal(0, 0.3, (n, 4))
    logits[np.arange(n), pred] += 6.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return proba, y


def test_fitted_temperature_cools_an_overconfident_head_and_keeps_its_answers() -> None:
    dev, y_dev = _overconfident(2000, 0)
    test, y_test = _overconfident(2000, 1)
    t = fit_temperature(dev, y_dev)
    assert t > 2.0  # over-confident: the fitted temperature softens
    calibrated = apply_temperature(test, t)
    assert (calibrated.argmax(1) == test.argmax(1)).all()
    np.testing.assert_allclose(calibrated.sum(1), 1.0, rtol=1e-6)
    assert negative_log_likelihood(calibrated, y_test) < negative_log_likelihood(test, y_test)
    before = expected_calibration_error(test, y_test)
    after = expected_calibration_error(calibrated, y_test)
    assert before > 0.15 and after < 0.05  # ~0.19 -> ~0.01 measured
    assert calibrated.max(1).mean() == pytest.approx(0.8, abs=0.05)


def test_identity_and_bad_temperatures() -> None:
    proba = np.array([[0.7, 0.2, 0.1]])
    assert apply_temperature(proba, None) is proba
    assert apply_temperature(proba, 1.0) is proba
    with pytest.raises(ValueError, match="temperature must be > 0"):
        apply_temperature(proba, 0.0)
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_calibration_error_from_confidences_matches_the_probability_version() -> None:
    proba, y = _overconfident(500, 2)
    conf, correct = proba.max(1), proba.argmax(1) == y
    assert calibration_error(conf, correct) == pytest.approx(expected_calibration_error(proba, y))
    assert calibration_error(np.array([]), np.array([])) == 0.0


def test_loaded_model_applies_the_cards_temperature(tmp_path) -> None:  # noqa: ANN001
    from training.registry import LoadedModel, ModelCard

    class Fixed:
        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            return np.tile([0.98, 0.01, 0.01], (len(x), 1))

    x = np.zeros((2, 1))
    plain = LoadedModel(ModelCard(name="m", version=1, labels=["a", "b", "c"]), Fixed(), tmp_path)
    assert plain.predict_matrix(x)[0, 0] == pytest.approx(0.98)
    warm = ModelCard(name="m", version=1, labels=["a", "b", "c"], temperature=4.0)
    calibrated = LoadedModel(warm, Fixed(), tmp_path).predict_matrix(x)
    np.testing.assert_allclose(calibrated, apply_temperature(Fixed().predict_proba(x), 4.0))
    assert calibrated[0, 0] < 0.8 and calibrated.argmax(1).tolist() == [0, 0]
