"""The validation report: Markdown (``report.md``) rendered to HTML (``report.html``).

Written for a person: the gate summary first (``kept + quarantined == input``), then each
check with its numbers, the quarantined rows with all their reasons, the balance tables
and plots, and links to GE's Data Docs and the Parquet outputs.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation import reasons
from validation.balance import BalanceSummary
from validation.config import ValidationConfig
from validation.duplicates import DuplicateSummary
from validation.expectations import SuiteResult
from validation.leakage import LeakageSummary

MAX_ROWS = 200  # rows listed per table; the Parquet files hold them all


@dataclass
class ReportInputs:
    out_dir: Path
    n_input: int
    n_kept: int
    n_quarantined: int
    n_flagged: int
    reason_counts: dict[str, int]
    flag_counts: dict[str, int]
    suite: SuiteResult
    quarantined: pd.DataFrame
    flagged: pd.DataFrame
    duplicates: DuplicateSummary
    leakage: LeakageSummary
    balance: BalanceSummary
    checks: pd.DataFrame
    config: ValidationConfig
    vad_backend: str | None
    squim_loaded: bool
    warnings: list[str]
    paths: dict[str, Path]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = "" if np.isnan(value) else f"{value:.3g}"
    elif isinstance(value, (list, tuple, np.ndarray)):
        text = ", ".join(str(v) for v in value)
    else:
        text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(frame: pd.DataFrame, limit: int = MAX_ROWS) -> str:
    if frame.empty:
        return "_none_\n"
    shown = frame.head(limit)
    lines = [
        "| " + " | ".join(str(c) for c in shown.columns) + " |",
        "|" + "---|" * len(shown.columns),
    ]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if len(frame) > limit:
        lines.append(f"\n_{len(frame) - limit} more rows in the Parquet file._")
    return "\n".join(lines) + "\n"


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _gate_section(r: ReportInputs) -> list[str]:
    ok = r.n_kept + r.n_quarantined == r.n_input
    out = [
        "## Gate summary",
        "",
        f"- input utterances: **{r.n_input}**",
        f"- kept: **{r.n_kept}** (of which flagged: {r.n_flagged})",
        f"- quarantined: **{r.n_quarantined}**",
        f"- kept + quarantined == input: **{'yes' if ok else 'NO'}** "
        f"({r.n_kept} + {r.n_quarantined} = {r.n_kept + r.n_quarantined})",
        "",
    ]
    rows = [
        {
            "reason code": code,
            "meaning": reasons.describe(code),
            "action": r.config.action(code),
            "quarantined rows": r.reason_counts.get(code, 0),
            "flagged rows": r.flag_counts.get(code, 0),
        }
        for code in sorted(set(r.reason_counts) | set(r.flag_counts))
    ]
    out += ["### Reasons", "", md_table(pd.DataFrame(rows))]
    if r.warnings:
        out += ["### Warnings", ""] + [f"- {w}" for w in r.warnings] + [""]
    return out


def _suite_section(r: ReportInputs) -> list[str]:
    rows = [
        {
            "expectation": o.expectation,
            "column": o.column,
            "reason code": o.code,
            "passed": "yes" if o.success else "no",
            "failing rows": o.unexpected_count,
            "examples": ", ".join(str(v) for v in o.example_values[:3]),
        }
        for o in r.suite.outcomes
    ]
    out = ["## Great Expectations suite on the manifest", ""]
    if r.suite.data_docs_index is not None:
        out.append(
            f"GE Data Docs: [{_rel(r.suite.data_docs_index, r.out_dir)}]"
            f"({_rel(r.suite.data_docs_index, r.out_dir)})"
        )
        out.append("")
    out.append(md_table(pd.DataFrame(rows)))
    return out


def _audio_section(r: ReportInputs) -> list[str]:
    c = r.checks
    readable = int(c["readable"].sum())
    out = [
        "## Audio files",
        "",
        f"- decoded: {readable} of {len(c)}; unreadable: {len(c) - readable}",
        f"- VAD: {r.vad_backend or 'not run'}; minimum speech ratio "
        f"{r.config.quality.min_speech_ratio:g}",
        f"- SQUIM objective: {'scored' if r.squim_loaded else 'not scored (no weights: nulls)'}",
        "",
    ]
    stats = []
    for col in ("decoded_duration_s", "speech_ratio", "rms_dbfs", "stoi", "pesq", "si_sdr"):
        values = pd.to_numeric(c[col], errors="coerce").replace([np.inf, -np.inf], np.nan).dropna()
        if len(values):
            stats.append(
                {
                    "measure": col,
                    "n": len(values),
                    "min": values.min(),
                    "median": values.median(),
                    "max": values.max(),
                }
            )
    out.append(md_table(pd.DataFrame(stats)))
    return out


def _duplicates_section(r: ReportInputs) -> list[str]:
    d = r.duplicates
    cfg = r.config.duplicates
    out = [
        "## Duplicates and split leakage",
        "",
        f"- exact pairs (same audio_sha256): {d.exact_pairs}",
        f"- near pairs (fingerprint cosine ≥ {cfg.near_threshold:g}, durations within "
        f"{cfg.duration_tolerance:.0%}): {d.near_pairs}",
        f"- duplicate groups: {d.groups}; intended augmentation copies (same split, other "
        f"condition): {d.augmented_copies}",
        "",
        md_table(pd.DataFrame(d.examples)),
        "## Speaker leakage",
        "",
    ]
    cov = pd.DataFrame(
        [
            {
                "source": c.source,
                "utterances": c.rows,
                "with speaker id": c.rows_with_speaker,
                "speakers": c.speakers,
                "checked": "yes" if c.checkable else "NO (no speaker ids)",
            }
            for c in r.leakage.coverage
        ]
    )
    out.append(md_table(cov))
    for note in r.leakage.unchecked_notes():
        out.append(f"- **{note}**")
    leaks = pd.DataFrame(r.leakage.leaking_speakers)
    out += ["", f"Speakers found in more than one split: {len(leaks)}", "", md_table(leaks)]
    return out


def _balance_section(r: ReportInputs) -> list[str]:
    b = r.balance
    imb = pd.DataFrame(
        [
            {"split": k, "imbalance ratio (max/min language count)": v}
            for k, v in b.imbalance.items()
        ]
    )
    by_ls = b.by_language_split.reset_index()
    out = [
        "## Balance of the kept utterances",
        "",
        "### Utterances by language and split",
        "",
        md_table(by_ls),
        md_table(imb),
    ]
    if b.missing_languages:
        out.append(f"- label languages with no utterances: {', '.join(b.missing_languages)}")
    if b.confounds:
        out += ["", "### Source–language confounds", ""] + [f"- **{c}**" for c in b.confounds]
    else:
        out += ["", "Source–language confounds: none found."]
    out += [f"- {n}" for n in b.notes]
    out += ["", "### Counts by language × source × gender × split", "", md_table(b.counts)]
    for plot in b.plots:
        out += [f"![{plot.stem}]({_rel(plot, r.out_dir)})", ""]
    return out


def _rows_section(r: ReportInputs) -> list[str]:
    q = r.quarantined
    cols = [
        c
        for c in ("utterance_id", "split", "language", "reasons", "duplicate_of", "details")
        if c in q
    ]
    out = ["## Quarantined utterances", "", md_table(q.loc[:, cols] if len(q) else q)]
    out += ["## Flagged (kept) utterances", "", md_table(r.flagged)]
    return out


def render_markdown(r: ReportInputs) -> str:
    parts: list[str] = ["# nordlid validation report", ""]
    parts += _gate_section(r)
    parts += _suite_section(r)
    parts += _audio_section(r)
    parts += _duplicates_section(r)
    parts += _balance_section(r)
    parts += _rows_section(r)
    parts += ["## Outputs", ""]
    parts += [f"- {name}: `{path}`" for name, path in r.paths.items()]
    parts += ["", "## Configuration", "", "```json", r.config.model_dump_json(indent=2), "```", ""]
    return "\n".join(parts)


def write_report(r: ReportInputs) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``r.out_dir``; returns both paths."""
    r.out_dir.mkdir(parents=True, exist_ok=True)
    text = render_markdown(r)
    md_path = r.out_dir / "report.md"
    md_path.write_text(text, encoding="utf-8")
    try:
        import markdown
    except ImportError:  # the Markdown file is the report; the HTML is a convenience
        body = f"<pre>{html.escape(text)}</pre>"
    else:
        body = markdown.markdown(text, extensions=["tables", "fenced_code"])
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape('nordlid validation report')}</title>"
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:2px 6px}img{max-width:100%}code,pre{background:#f4f4f4}</style>"
        f"</head><body>{body}</body></html>"
    )
    html_path = r.out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return md_path, html_path
