"""train_recipes joins each (service, entity frame) once: training and cascade tuning share it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nordlid.workdir import Workdir
from training.recipes import memoized_fetch


def test_each_service_and_entity_frame_is_joined_once(tmp_path: Path) -> None:
    calls: list[str] = []

    def base(workdir: Workdir, service: str, entity_df: pd.DataFrame) -> pd.DataFrame:
        calls.append(service)
        return entity_df.assign(feature=[float(len(calls))] * len(entity_df))

    fetch = memoized_fetch(base)
    wd = Workdir(tmp_path)
    frame = pd.DataFrame({"utterance_id": ["a", "b"], "_row": [0, 1]})
    first = fetch(wd, "lid_mini", frame)
    first.loc[0, "feature"] = -1.0  # callers get copies: the cache is not changed
    again = fetch(wd, "lid_mini", frame.copy())
    other = fetch(wd, "lid_premium", frame)
    changed = fetch(wd, "lid_mini", frame.assign(utterance_id=["a", "c"]))
    assert calls == ["lid_mini", "lid_premium", "lid_mini"]
    assert again["feature"].tolist() == [1.0, 1.0]
    assert other["feature"].tolist() == [2.0, 2.0]
    assert changed["feature"].tolist() == [3.0, 3.0]


def test_memoizing_a_memoized_fetch_keeps_one_cache(tmp_path: Path) -> None:
    calls: list[str] = []

    def base(workdir: Workdir, service: str, entity_df: pd.DataFrame) -> pd.DataFrame:
        calls.append(service)
        return entity_df.assign(feature=1.0)

    outer = memoized_fetch(base)
    inner = memoized_fetch(outer)  # what train_recipes does with the pipeline's fetch
    assert inner is outer
    frame = pd.DataFrame({"utterance_id": ["a"], "_row": [0]})
    outer(Workdir(tmp_path), "lid_mini", frame)
    inner(Workdir(tmp_path), "lid_mini", frame)
    assert calls == ["lid_mini"]
