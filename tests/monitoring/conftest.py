"""Monitoring fixtures, built once per session (see ``monitoring_helpers``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from monitoring_helpers import MonitoringData, build_monitoring_data  # noqa: E402

from monitoring.drift import DriftOutcome, compute_drift  # noqa: E402


@pytest.fixture(scope="session")
def monitoring_data(tmp_path_factory: pytest.TempPathFactory) -> MonitoringData:
    return build_monitoring_data(tmp_path_factory.mktemp("monitoring"))


@pytest.fixture(scope="session")
def clean_outcome(monitoring_data: MonitoringData) -> DriftOutcome:
    """Clean held-out features vs the training reference."""
    return compute_drift(monitoring_data.reference, monitoring_data.heldout_clean)


@pytest.fixture(scope="session")
def noisy_outcome(monitoring_data: MonitoringData) -> DriftOutcome:
    """The same held-out audio with noise at 10 dB SNR vs the training reference."""
    return compute_drift(monitoring_data.reference, monitoring_data.heldout_noisy)
