"""Fixtures of the extractor tests: a small validated manifest of test signals."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from extractors_testlib import MANIFEST_SPECS, make_manifest  # noqa: E402

from corpus.manifest import write_manifest  # noqa: E402
from nordlid.workdir import Workdir  # noqa: E402


@pytest.fixture()
def signal_manifest(workdir: Workdir) -> pd.DataFrame:
    """A validated manifest of ten short test signals (mixed rates, some stereo)."""
    frame = make_manifest(workdir.data / "audio", MANIFEST_SPECS)
    write_manifest(frame, workdir.validated_manifest)
    return frame
