"""Pure pieces of monitoring: windows, durations, feedback, triggers, sliding window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from monitoring_helpers import drift_result
from pydantic import ValidationError

from monitoring.continuous import (
    RetrainConfig,
    RetrainError,
    WindowConfig,
    check_balance,
    sliding_window,
)
from monitoring.data import parse_duration, select_window
from monitoring.drift import (
    DriftConfig,
    DriftDataError,
    feature_layout,
    null_auc_threshold,
    vector_matrix,
)
from monitoring.feedback import live_accuracy
from monitoring.triggers import TriggerConfig, evaluate_triggers
from nordlid.errors import ConfigError

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_parse_duration() -> None:
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5w") == timedelta(weeks=1.5)
    with pytest.raises(ConfigError, match="--since 'yesterday'"):
        parse_duration("yesterday")


def _log(n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "timestamp": [T0 + timedelta(minutes=i) for i in range(n)],
            "language": ["da"] * n,
        }
    )
    return frame.iloc[::-1]  # parts are not in time order


def test_select_window_last_n_and_since() -> None:
    log_df = _log(10)
    last3 = select_window(log_df, window=3)
    assert list(last3["request_id"]) == ["r7", "r8", "r9"]  # newest, oldest first
    recent = select_window(log_df, since=timedelta(minutes=4), now=T0 + timedelta(minutes=9))
    assert list(recent["request_id"]) == ["r5", "r6", "r7", "r8", "r9"]
    both = select_window(
        log_df, window=2, since=timedelta(minutes=4), now=T0 + timedelta(minutes=9)
    )
    assert list(both["request_id"]) == ["r8", "r9"]
    with pytest.raises(ConfigError):
        select_window(log_df, window=0)


def test_feature_layout_and_vector_checks() -> None:
    frame = pd.DataFrame(
        {
            "request_id": ["a", "b"],
            "acoustic__rms_mean": [0.1, 0.2],
            "acoustic__mfcc_mean": [np.zeros(3), np.ones(3)],
            "ecapa__embedding": [None, [1.0, 2.0]],
        }
    )
    layout = feature_layout(frame)
    assert layout.scalars == ["acoustic__rms_mean"]
    assert layout.vectors == {"acoustic__mfcc_mean": 3, "ecapa__embedding": 2}
    m = vector_matrix(frame, "ecapa__embedding", 2)
    assert np.isnan(m[0]).all() and list(m[1]) == [1.0, 2.0]
    with pytest.raises(DriftDataError, match="length 3, expected 4"):
        vector_matrix(frame, "acoustic__mfcc_mean", 4)
    with pytest.raises(DriftDataError, match="missing"):
        feature_layout(frame, ["acoustic__nope"])


def test_null_auc_threshold_shrinks_with_more_rows() -> None:
    small = null_auc_threshold(20, 20, 0.95)
    large = null_auc_threshold(2000, 2000, 0.95)
    assert 0.5 < large < small < 0.8
    assert null_auc_threshold(20, 20, 0.99) > small


def test_drift_config_forbids_unknown_settings() -> None:
    with pytest.raises(ValidationError):
        DriftConfig(drift_shares=0.2)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        RetrainConfig.model_validate({"window": {"max_utterance": 5}})


def test_live_accuracy_joins_feedback_by_request_id() -> None:
    served = pd.DataFrame(
        {"request_id": ["a", "b", "c", "d", "e"], "language": ["da", "da", "sv", "sv", "is"]}
    )
    feedback = pd.DataFrame(
        {
            "request_id": ["a", "b", "c", "c", "zz"],
            "language": ["da", "sv", "no", "sv", "da"],  # "c" corrected later to sv
            "timestamp": [T0, T0, T0, T0 + timedelta(seconds=5), T0],
        }
    )
    live = live_accuracy(served, feedback)
    assert live.n == 3  # d, e: no feedback; zz: not served
    assert live.accuracy == pytest.approx(2 / 3)
    assert live.per_language["da"].recall == 1.0
    assert live.per_language["sv"].n == 2 and live.per_language["sv"].recall == 0.5


def test_triggers_fire_with_reasons() -> None:
    config = TriggerConfig(drift_share=0.3, accuracy_drop=0.1, min_feedback=2, schedule_days=7)
    assert evaluate_triggers(config, drift=drift_result(0.1, [])) == []
    fired = evaluate_triggers(config, drift=drift_result(0.5, ["ecapa"]))
    assert [f.trigger for f in fired] == ["drift_share", "embedding_drift"]
    assert "5/10 feature columns drifted" in fired[0].reason
    assert "ecapa" in fired[1].reason

    served = pd.DataFrame({"request_id": list("abcd"), "language": ["da", "da", "da", "da"]})
    feedback = pd.DataFrame({"request_id": list("abcd"), "language": ["da", "da", "sv", "sv"]})
    live = live_accuracy(served, feedback)
    dev = {"accuracy": 0.95, "recall": {"da": 1.0, "sv": 0.9}}
    fired = evaluate_triggers(config, live=live, champion_dev=dev)
    reasons = [f.reason for f in fired]
    assert any("live accuracy 0.500" in r for r in reasons)
    assert any("recall[sv] 0.000" in r for r in reasons)
    assert not any("recall[da]" in r for r in reasons)
    # too little feedback: no accuracy trigger
    strict = config.model_copy(update={"min_feedback": 10})
    assert evaluate_triggers(strict, live=live, champion_dev=dev) == []

    fired = evaluate_triggers(config, champion_created_at=T0, now=T0 + timedelta(days=8))
    assert [f.trigger for f in fired] == ["schedule"]
    assert evaluate_triggers(config, champion_created_at=T0, now=T0 + timedelta(days=6)) == []
    off = TriggerConfig(drift_share=None, embedding_drift=False)
    assert evaluate_triggers(off, drift=drift_result(0.9, ["ecapa"])) == []


def _pool() -> pd.DataFrame:
    rows = []
    for day in range(10):
        for lang in ("da", "sv"):
            for split in ("train", "dev"):
                rows.append(
                    {
                        "utterance_id": f"{lang}-{split}-{day}",
                        "event_timestamp": T0 + timedelta(days=day),
                        "language": lang,
                        "split": split,
                    }
                )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)


def test_sliding_window_keeps_the_most_recent_rows() -> None:
    pool = _pool()
    w = sliding_window(pool, WindowConfig(max_utterances=6, dev_utterances=4))
    assert len(w.train) == 6 and len(w.dev) == 4
    assert set(w.train["utterance_id"]) == {
        f"{lang}-train-{d}" for lang in ("da", "sv") for d in (7, 8, 9)
    }
    assert w.left_out_old == 14
    days = sliding_window(pool, WindowConfig(max_utterances=None, max_days=2))
    assert sorted(set(days.train["event_timestamp"].dt.day)) == [8, 9, 10]
    check_balance(w, ["da", "sv"], 3)
    with pytest.raises(RetrainError, match="unbalanced.*'no': 0"):
        check_balance(w, ["da", "no", "sv"], 3)


def test_simulated_requests_are_answered_and_logged_by_the_serving_cascade() -> None:
    import json

    from monitoring.simulate import SimulationConfig, simulate_rows
    from serving.predictor import Predictor

    asked: list[tuple[list[str], float]] = []

    class Computer:
        def compute(self, views, waves):  # noqa: ANN001, ANN202
            asked.append((list(views), float(np.abs(waves[0]).max())))
            rows = {
                "lidnet": [{"embedding": [float(len(w)), 0.0]} for w in waves],
                "acoustic": [{"speech_ratio": 0.5, "pitch_hz": float(len(w))} for w in waves],
            }
            return {v: rows[v] for v in views}

    class Mini:  # sure of long requests only
        card = {
            "name": "mini",
            "version": 1,
            "labels": ["da", "sv"],
            "threshold": 0.7,
            "features": [{"ref": "acoustic__pitch_hz"}, {"ref": "acoustic__speech_ratio"}],
        }

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            assert list(frame.columns) == ["acoustic__pitch_hz", "acoustic__speech_ratio"]
            sure = frame["acoustic__pitch_hz"].to_numpy() >= 16_000
            return np.where(sure[:, None], [0.9, 0.1], [0.6, 0.4])

    class Premium:
        card = {
            "name": "premium",
            "version": 2,
            "labels": ["da", "sv"],
            "features": [{"ref": "lidnet__embedding"}],
        }

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            assert list(frame.columns) == ["lidnet__embedding"]
            return np.tile([0.2, 0.8], (len(frame), 1))

    waves = [0.5 * np.ones(16_000, np.float32), 0.5 * np.ones(8_000, np.float32)]
    config = SimulationConfig(gain_db=-6.0, feedback=False)
    predictor = Predictor(Mini(), Premium(), Computer())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = simulate_rows(waves, ["da", "sv"], predictor, config, now=now)

    # the sure request stays with mini; the unsure one escalates and computes lidnet too
    assert [r["model"] for r in rows] == ["mini@1", "premium@2"]
    assert [r["escalated"] for r in rows] == [False, True]
    assert [r["language"] for r in rows] == ["da", "sv"]
    assert [a[0] for a in asked] == [["acoustic"], ["acoustic"], ["lidnet"]]
    assert all(peak < 0.5 for _, peak in asked)  # the cascade hears the degraded audio
    # every feature the cascade computed is logged, and only those
    assert rows[0]["acoustic__pitch_hz"] == 16_000.0 and "lidnet__embedding" not in rows[0]
    assert rows[1]["lidnet__embedding"] == [8_000.0, 0.0]
    assert rows[1]["acoustic__speech_ratio"] == 0.5
    assert json.loads(rows[1]["probabilities"]) == {"da": 0.2, "sv": 0.8}
    assert [r["true_language"] for r in rows] == ["da", "sv"]
    assert [r["route"] for r in rows] == ["simulate:gain-6dB"] * 2
    assert rows[0]["timestamp"] == now and rows[1]["timestamp"] > now
    assert [r["duration_s"] for r in rows] == [1.0, 0.5]
    assert "premium_model_ms" in json.loads(rows[1]["timings"])

    # mini alone (no premium): nothing escalates
    alone = simulate_rows(waves, ["da", "sv"], Predictor(Mini(), None, Computer()), config)
    assert [r["model"] for r in alone] == ["mini@1", "mini@1"]
    assert not any(r["escalated"] for r in alone)


def test_verdict_without_scalar_columns_says_so_instead_of_zero_of_zero():
    from monitoring.drift import DriftResult

    result = DriftResult(
        n_reference=100,
        n_current=60,
        columns=[],
        n_drifted_columns=0,
        drift_share=0.0,
        drift_share_threshold=0.3,
        dataset_drift=False,
        embeddings=[],
        drifted_views=[],
        embedding_drift=False,
    )
    verdict = result.verdict()
    assert verdict.startswith("no drift: no scalar feature columns")
    assert "0/0" not in verdict.split(";")[0]
