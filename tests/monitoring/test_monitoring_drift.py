"""Drift on real features: same-population clean audio vs the reference, and 10 dB noise.

Reference and clean current rows are a random partition of the same clean corpus
(``monitoring_helpers``), so "no drift" is the truth there; the noisy current rows are
the same audio at 10 dB SNR.  Both verdicts are asserted with a margin on the statistic
the rule reads, not one draw against its threshold: the product drifts a view when half
of its vectors drift and the data set when 30 % of its columns drift; the clean case must
stay at or below a quarter of a view's vectors and 20 % of the columns, the noisy case at
or above three quarters and 45 %.  Over 144 draws (6 corpus seeds x 3 tiny-model seeds x 8
partitions) the clean case crossed its bounds once (a view at 2 of 4 vectors) and never
reached 0.1875 of the columns; the noisy case never fell below its bounds.
``corpus.synth.synthesize_holdout`` audio is deliberately *unlike* the corpus (other
voices and prosody), so drift is rightly reported on it.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from monitoring.drift import DriftConfig, DriftOutcome, compute_drift
from monitoring.report import report_dir, write_report


def _view_shares(outcome: DriftOutcome) -> dict[str, float]:
    flags: dict[str, list[bool]] = {}
    for e in outcome.result.embeddings:
        flags.setdefault(e.view, []).append(e.drifted)
    return {view: sum(f) / len(f) for view, f in flags.items()}


def test_clean_held_out_audio_shows_no_drift(clean_outcome: DriftOutcome) -> None:
    r = clean_outcome.result
    assert not r.drift_detected, r.verdict()
    assert r.drift_share <= 0.2 < r.drift_share_threshold, r.verdict()
    shares = _view_shares(clean_outcome)
    assert set(shares) == {"acoustic", "xlsr"}
    assert all(share <= 0.25 for share in shares.values()), shares
    assert r.drifted_views == []
    assert r.verdict().startswith("no drift")


def test_noise_at_10db_drifts_acoustic_features_and_embedding(noisy_outcome: DriftOutcome) -> None:
    r = noisy_outcome.result
    assert r.drift_detected, r.verdict()
    assert r.drift_share >= 1.5 * r.drift_share_threshold, r.verdict()
    shares = _view_shares(noisy_outcome)
    assert all(share >= 0.75 for share in shares.values()), shares
    drifted = set(r.drifted_columns)
    # noise raises the energy floor and flattens the spectrum: these must move
    assert {"acoustic__rms_mean", "acoustic__zcr_mean"} <= drifted, drifted
    assert "acoustic" in r.drifted_views
    assert "xlsr" in r.drifted_views, [e.model_dump() for e in r.embeddings if e.view == "xlsr"]
    assert any(e.drifted and e.feature.startswith("xlsr__") for e in r.embeddings)
    assert r.verdict().startswith("DRIFT")


def test_per_column_results_come_from_evidently_tests(noisy_outcome: DriftOutcome) -> None:
    r = noisy_outcome.result
    names = {c.column for c in r.columns}
    assert "acoustic__spectral_centroid_mean" in names
    assert not any(c.column.startswith("xlsr__") for c in r.columns)  # vectors: embedding drift
    for c in r.columns:
        assert c.method.startswith("K-S")  # Evidently's choice for small numeric samples
        assert c.drifted == (c.score < c.threshold)
    assert r.n_drifted_columns == sum(c.drifted for c in r.columns)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_html_is_readable_and_names_drifted_features(
    noisy_outcome: DriftOutcome, tmp_path: Path
) -> None:
    out = report_dir(tmp_path / "reports")
    index = write_report(noisy_outcome, out, {"model": "test@1"})
    assert out.parent.name == "drift"
    parser = _Text()
    parser.feed(index.read_text())
    parser.close()
    text = " ".join(parser.text)
    assert {"html", "table", "h1"} <= set(parser.tags)
    assert noisy_outcome.result.verdict() in text
    for feature in noisy_outcome.result.drifted_features:
        assert feature in text
    summary = json.loads((out / "drift.json").read_text())
    assert summary["drift_detected"] is True
    assert summary["drifted_features"] == noisy_outcome.result.drifted_features
    evidently_html = (out / "evidently-features.html").read_text()
    assert "acoustic__rms_mean" in evidently_html
    evidently_json = json.loads((out / "evidently-features.json").read_text())
    assert evidently_json["metrics"]


def test_prediction_and_confidence_drift(monitoring_data) -> None:  # noqa: ANN001
    ref = monitoring_data.reference.iloc[:, :3].copy()
    n = len(ref)
    ref["language"] = (["da", "is", "no", "sv"] * n)[:n]
    ref["confidence"] = [0.9 + 0.001 * (i % 50) for i in range(n)]
    cur = ref.copy()
    cur["language"] = "da"  # everything predicted as Danish
    cur["confidence"] = [0.4 + 0.001 * (i % 50) for i in range(n)]
    r = compute_drift(ref, cur, DriftConfig()).result
    assert r.prediction is not None and r.prediction.drifted
    assert r.confidence is not None and r.confidence.drifted
    assert r.language_distribution["current"] == {"da": 1.0}
    assert r.confidence_mean["current"] < r.confidence_mean["reference"]
    same = compute_drift(ref, ref.copy(), DriftConfig()).result
    assert same.prediction is not None and not same.prediction.drifted
    assert same.confidence is not None and not same.confidence.drifted
