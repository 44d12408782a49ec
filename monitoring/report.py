"""Drift report files: ``reports/drift/<timestamp>/`` with HTML a person reads and JSON.

- ``index.html``: the verdict, the drifted features, a table per kind (columns,
  embeddings, predictions, confidence) and a link to Evidently's own interactive page;
- ``evidently-features.html|json`` and ``evidently-predictions.html|json``: Evidently's
  snapshots (feature columns; language and confidence);
- ``drift.json``: :class:`~monitoring.drift.DriftResult` plus the verdict and metadata.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from monitoring.drift import ColumnDrift, DriftOutcome, DriftResult

log = logging.getLogger(__name__)


def report_dir(reports_root: Path, now: datetime | None = None) -> Path:
    """A fresh ``<reports_root>/drift/<UTC timestamp>/`` (suffixed if it already exists)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = reports_root / "drift" / stamp
    out, i = base, 1
    while out.exists():
        out = base.with_name(f"{stamp}-{i}")
        i += 1
    out.mkdir(parents=True)
    return out


def write_report(outcome: DriftOutcome, out_dir: Path, meta: dict[str, Any] | None = None) -> Path:
    """Write the four report files into ``out_dir``; returns the path of ``index.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = outcome.result
    for kind, snapshot in outcome.snapshots.items():
        snapshot.save_html(str(out_dir / f"evidently-{kind}.html"))
        snapshot.save_json(str(out_dir / f"evidently-{kind}.json"))
    summary = summary_dict(result, meta)
    (out_dir / "drift.json").write_text(json.dumps(summary, indent=2, default=str))
    index = out_dir / "index.html"
    index.write_text(render_html(result, meta or {}, list(outcome.snapshots)))
    log.info("drift report written to %s", out_dir)
    return index


def links_html(kinds: list[str]) -> str:
    links = [
        f'<a href="evidently-{escape(k)}.html">Evidently report: {escape(k)}</a>' for k in kinds
    ]
    return " · ".join([*links, '<a href="drift.json">drift.json</a>'])


def summary_dict(result: DriftResult, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "verdict": result.verdict(),
        "drift_detected": result.drift_detected,
        "drifted_features": result.drifted_features,
        "drifted_columns": result.drifted_columns,
        "meta": meta or {},
        **result.model_dump(mode="json"),
    }


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.4g}"


def _column_rows(columns: list[ColumnDrift]) -> str:
    rows = []
    for c in sorted(columns, key=lambda c: (not c.drifted, c.column)):
        cls = "drift" if c.drifted else "ok"
        rows.append(
            f'<tr class="{cls}"><td>{escape(c.column)}</td><td>{escape(c.feature)}</td>'
            f"<td>{escape(c.method)}</td><td>{_fmt(c.score)}</td><td>{_fmt(c.threshold)}</td>"
            f"<td>{'drift' if c.drifted else 'ok'}</td></tr>"
        )
    return "\n".join(rows)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
tr.drift td { background: #fde2e2; }
.verdict { font-size: 1.2em; font-weight: bold; }
"""


def render_html(result: DriftResult, meta: dict[str, Any], kinds: list[str] | None = None) -> str:
    """A self-contained, readable summary page (no JavaScript)."""
    drifted = result.drifted_features
    meta_rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in meta.items()
    )
    emb_rows = "".join(
        f'<tr class="{"drift" if e.drifted else "ok"}"><td>{escape(e.feature)}</td>'
        f"<td>{escape(e.view)}</td><td>{e.dim}</td>"
        f"<td>{escape(e.method)}</td><td>{_fmt(e.score)}</td><td>{_fmt(e.threshold)}</td>"
        f"<td>{e.n_reference}</td><td>{e.n_current}</td>"
        f"<td>{'drift' if e.drifted else 'ok'}</td></tr>"
        for e in result.embeddings
    )
    pred_rows = ""
    for label, c in (
        ("prediction (language)", result.prediction),
        ("confidence", result.confidence),
    ):
        if c is not None:
            pred_rows += (
                f'<tr class="{"drift" if c.drifted else "ok"}"><td>{label}</td>'
                f"<td>{escape(c.method)}</td><td>{_fmt(c.score)}</td><td>{_fmt(c.threshold)}</td>"
                f"<td>{'drift' if c.drifted else 'ok'}</td></tr>"
            )
    dist = result.language_distribution
    langs = sorted({k for d in dist.values() for k in d})
    dist_rows = "".join(
        f"<tr><td>{escape(lang)}</td>"
        + "".join(f"<td>{dist[side].get(lang, 0.0):.1%}</td>" for side in ("reference", "current"))
        + "</tr>"
        for lang in langs
    )
    conf = result.confidence_mean
    conf_line = (
        f"<p>Mean confidence: reference {conf['reference']:.3f}, current {conf['current']:.3f}</p>"
        if conf
        else ""
    )
    drifted_list = (
        "<ul>" + "".join(f"<li>{escape(f)}</li>" for f in drifted) + "</ul>"
        if drifted
        else "<p>None.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>nordlid drift report</title><style>{_STYLE}</style></head>
<body>
<h1>nordlid drift report</h1>
<p class="verdict">{escape(result.verdict())}</p>
<table>{meta_rows}</table>
<h2>Drifted features</h2>
{drifted_list}
<h2>Scalar feature columns (Evidently per-column tests)</h2>
<p>{result.n_drifted_columns} of {len(result.columns)} columns drifted
({result.drift_share:.1%}; dataset drift at {result.drift_share_threshold:.0%}).</p>
<table>
<tr><th>column</th><th>feature</th><th>method</th><th>score</th><th>threshold</th><th>status</th></tr>
{_column_rows(result.columns)}
</table>
<h2>Vector features (Evidently embedding drift)</h2>
<p>Views with drifted embeddings: {escape(", ".join(result.drifted_views) or "none")}.</p>
<table>
<tr><th>feature</th><th>view</th><th>dim</th><th>method</th><th>score</th><th>threshold</th>
<th>reference rows</th><th>current rows</th><th>status</th></tr>
{emb_rows}
</table>
<h2>Predictions</h2>
<table>
<tr><th>signal</th><th>method</th><th>score</th><th>threshold</th><th>status</th></tr>
{pred_rows}
</table>
<table><tr><th>language</th><th>reference</th><th>current</th></tr>{dist_rows}</table>
{conf_line}
<p>{links_html(kinds or [])}</p>
</body>
</html>
"""
