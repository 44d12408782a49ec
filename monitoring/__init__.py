"""Monitoring: Evidently drift of served features → retraining triggers → gated retraining.

Public API (the CLI and ``nordlid run`` call these):

- :func:`check` (``monitoring.check.run_drift``) — the serving log's recent window
  against the model's training reference: report, verdict and live accuracy;
- :func:`retrain` (``monitoring.continuous.retrain``) — evaluate the triggers and, when
  one fires, train a candidate on a sliding window and promote it only through the gates.

Inside: ``drift`` (pure comparison over DataFrames), ``drift_classifier`` (the stable
embedding test), ``data`` (reading logs and the reference), ``feedback`` (live accuracy),
``triggers``, ``report`` (HTML/JSON), ``simulate`` (a degraded request batch through the
serving cascade), ``continuous`` and the two CLIs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitoring.check import run_drift as check
    from monitoring.continuous import retrain

__all__ = ["check", "retrain"]


def __getattr__(name: str) -> Any:
    """Import on first use: ``import monitoring`` (e.g. by the CLI) loads no pandas."""
    if name == "check":
        from monitoring.check import run_drift

        return run_drift
    if name == "retrain":
        from monitoring.continuous import retrain as retrain_

        return retrain_
    raise AttributeError(f"module 'monitoring' has no attribute {name!r}")
