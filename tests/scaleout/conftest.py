"""Fixtures of the scale-out tests: one local Ray instance for the session, a small corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A local Ray instance with 2 CPUs, shut down when the session ends."""
    import logging

    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def small_manifest(synth_corpus: tuple[Path, pd.DataFrame]) -> pd.DataFrame:
    """Twelve utterances of the synthetic corpus (three per language) plus one unreadable."""
    _, manifest = synth_corpus
    frame = manifest.sort_values("utterance_id").groupby("language").head(3)
    broken = frame.iloc[[0]].copy()
    broken["utterance_id"] = "broken-0001"
    broken["path"] = str(Path(broken["path"].iloc[0]).with_name("does-not-exist.wav"))
    return pd.concat([frame, broken], ignore_index=True)
