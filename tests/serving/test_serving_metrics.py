"""ServiceMetrics: each instance counts only what it recorded, whatever else the process did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from serving_toys import metric_value

from serving.metrics import BUCKETS, ServiceMetrics

ROOT = Path(__file__).resolve().parents[2]

# Importing feast first puts prometheus_client in multiprocess mode for the whole process
# (feast.metrics sets PROMETHEUS_MULTIPROC_DIR before importing prometheus_client); that is
# how the full test suite ran the serving tests, and what made two apps share counters.
_TWO_APPS_AFTER_FEAST = """
import json, os
import feast.metrics  # noqa: F401  (sets PROMETHEUS_MULTIPROC_DIR, as any feast import does)
from prometheus_client import values
from serving.metrics import ServiceMetrics

multiprocess = values.ValueClass is not values.MutexValue
first, second = ServiceMetrics(), ServiceMetrics()
for _ in range(9):
    first.record_request("/v1/identify", "POST", 200, "m@1", 0.02)
    first.record_push("acoustic", True)
second.record_request("/v1/identify", "POST", 200, "m@1", 0.02)
second.record_push("acoustic", True)
print(json.dumps({
    "multiprocess": multiprocess,
    "env": bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")),
    "second": second.render().decode(),
}))
"""


def test_apps_in_one_process_never_share_counts_even_in_prometheus_multiprocess_mode() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _TWO_APPS_AFTER_FEAST],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # the precondition that broke the old metrics really holds in that process
    assert out["env"] and out["multiprocess"]
    text = out["second"]
    assert metric_value(text, "nordlid_requests_total", route="/v1/identify") == 1.0, text
    assert metric_value(text, "nordlid_request_latency_seconds_count", model="m@1") == 1.0, text
    assert metric_value(text, "nordlid_online_pushes_total", view="acoustic") == 1.0, text


def test_counters_and_bad_requests() -> None:
    m = ServiceMetrics()
    m.record_request("/v1/identify", "POST", 200, "m@1", 0.01)
    m.record_request("/v1/identify", "POST", 415, "none", 0.001)
    m.record_request("/v1/identify", "POST", 415, "none", 0.001)
    m.record_online_store_error()
    m.record_push("acoustic", False)
    text = m.render().decode()
    assert metric_value(text, "nordlid_requests_total", status="200") == 1.0
    assert metric_value(text, "nordlid_requests_total", status="415", method="POST") == 2.0
    assert metric_value(text, "nordlid_bad_requests_total", status="415") == 2.0
    assert metric_value(text, "nordlid_bad_requests_total", status="200") is None
    assert metric_value(text, "nordlid_online_store_errors_total") == 1.0
    assert metric_value(text, "nordlid_online_push_failures_total", view="acoustic") == 1.0
    assert metric_value(text, "nordlid_online_pushes_total", view="acoustic") is None
    # families without samples still announce themselves
    assert "# TYPE nordlid_online_pushes_total counter" in text


def test_latency_histogram_buckets_are_cumulative_and_inclusive() -> None:
    m = ServiceMetrics()
    for seconds in (BUCKETS[0], 0.3, 0.3, 99.0):  # on a bound, inside, inside, past the last
        m.record_request("/r", "GET", 200, "m@1", seconds)
    text = m.render().decode()

    def bucket(le: str) -> float | None:
        return metric_value(text, "nordlid_request_latency_seconds_bucket", route="/r", le=le)

    assert bucket(str(BUCKETS[0])) == 1.0  # le is inclusive
    assert bucket("0.25") == 1.0
    assert bucket("0.5") == 3.0
    assert bucket("10.0") == 3.0
    assert bucket("+Inf") == 4.0
    assert metric_value(text, "nordlid_request_latency_seconds_count", route="/r") == 4.0
    total = metric_value(text, "nordlid_request_latency_seconds_sum", route="/r")
    assert total == pytest.approx(BUCKETS[0] + 0.6 + 99.0)


def test_escalation_rate() -> None:
    m = ServiceMetrics()
    assert m.escalation_rate() == 0.0
    m.record_prediction("/v1/identify", "mini@1", False)
    m.record_prediction("/v1/identify", "premium@1", True)
    m.record_prediction("/v1/identify", "mini@1", False)
    m.record_prediction("/v1/identify", "premium@1", True)
    text = m.render().decode()
    assert metric_value(text, "nordlid_escalation_rate") == 0.5
    assert metric_value(text, "nordlid_escalations_total") == 2.0
    assert metric_value(text, "nordlid_cascade_decisions_total") == 4.0
    assert metric_value(text, "nordlid_predictions_total", model="premium@1", escalated="true") == 2
    with pytest.raises(ValueError, match="nordlid_requests"):
        m.requests.inc(("/only-one-label",))
