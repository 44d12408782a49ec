"""Training sets come from Feast's point-in-time join (a re-extracted utterance → right row)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from training.dataset import build_training_set, entity_frame, fetch_training_frame
from training.features import FeatureMismatchError, FeatureRef, flatten

from .conftest import T0, feast_fetch, make_feast_store


def _manifest(ids: list[str], when: list, splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "utterance_id": ids,
            "event_timestamp": when,
            "language": ["da", "sv", "is"][: len(ids)],
            "split": splits,
            "source": "synthetic",
            "condition": "clean",
        }
    )


def test_point_in_time_join_picks_feature_version_valid_at_entity_time(workdir, tmp_path):
    day = timedelta(days=1)
    # u1 extracted on day 1 (v1) and re-extracted on day 10 (v2); u2 only once;
    # u3 extracted twice with the same event time: the later created row wins.
    table = pd.DataFrame(
        {
            "utterance_id": ["u1", "u1", "u2", "u3", "u3"],
            "event_timestamp": [T0 + day, T0 + 10 * day, T0 + day, T0 + day, T0 + day],
            "created_timestamp": [T0 + day, T0 + 10 * day, T0 + day, T0 + day, T0 + 2 * day],
            "score": np.array([1.0, 2.0, 5.0, 7.0, 8.0], dtype=np.float32),
            "vec": [np.full(3, v, dtype=np.float32).tolist() for v in (1.0, 2.0, 5.0, 7.0, 8.0)],
        }
    )
    store = make_feast_store(tmp_path, table, vector_length=3)
    fetch = feast_fetch(store)
    features = [FeatureRef(ref="toy__score"), FeatureRef(ref="toy__vec", length=3)]
    ids = ["u1", "u2", "u3"]

    early = entity_frame(_manifest(ids, [T0 + 5 * day] * 3, ["train"] * 3))
    joined = fetch_training_frame(workdir, "lid_toy", early, fetch=fetch)
    assert joined["utterance_id"].tolist() == ids  # row order kept
    assert joined["toy__score"].tolist() == [1.0, 5.0, 8.0]

    late = entity_frame(_manifest(ids, [T0 + 20 * day] * 3, ["train"] * 3))
    joined = fetch_training_frame(workdir, "lid_toy", late, fetch=fetch)
    assert joined["toy__score"].tolist() == [2.0, 5.0, 8.0]
    x = flatten(joined, features)
    np.testing.assert_allclose(x[0], [2.0, 2.0, 2.0, 2.0])

    # before any extraction: no features → the row is left out of the training set
    mixed = entity_frame(_manifest(ids, [T0, T0 + 20 * day, T0 + 20 * day], ["train"] * 3))
    joined = fetch_training_frame(workdir, "lid_toy", mixed, fetch=fetch)
    ts = build_training_set(joined, features, ["da", "is", "sv"])
    assert ts.dropped == 1
    assert ts.split("train").meta["utterance_id"].tolist() == ["u2", "u3"]


def test_entity_frame_as_of_overrides_every_timestamp():
    m = _manifest(["a", "b"], [T0, T0 + timedelta(days=3)], ["train", "dev"])
    frame = entity_frame(m, as_of=T0 + timedelta(days=9))
    assert (frame["event_timestamp"] == pd.Timestamp(T0 + timedelta(days=9))).all()
    assert list(frame.columns[:4]) == ["utterance_id", "event_timestamp", "language", "split"]


def test_flatten_names_the_bad_feature():
    frame = pd.DataFrame({"v__x": [[1.0, 2.0], [1.0]]})
    with pytest.raises(FeatureMismatchError, match=r"v__x row 1 has length 1, expected 2"):
        flatten(frame, [FeatureRef(ref="v__x", length=2)])
    with pytest.raises(FeatureMismatchError, match=r"missing feature columns \['v__y'\]"):
        flatten(frame, [FeatureRef(ref="v__y")])
