"""``run_validation``: manifest in; validated manifest, quarantine and report out.

Stages (each a pure function elsewhere in this package):

1. Great Expectations suite on the manifest (:mod:`validation.expectations`);
2. one audio pass: readability, header consistency, fingerprint, VAD, SQUIM
   (:mod:`validation.audio_scan`);
3. exact/near duplicates and split leakage (:mod:`validation.duplicates`), speaker leakage
   (:mod:`validation.leakage`);
4. gates: every finding has a reason code; the config's action for the code decides
   ``quarantine`` or ``flag``; each quarantined row carries *all* of its reasons;
5. balance of what is kept (:mod:`validation.balance`) and the report
   (:mod:`validation.report`).

``kept + quarantined == input`` is checked before anything is written.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.manifest import COLUMNS, ManifestError, write_manifest
from nordlid.atomic import atomic_path
from nordlid.errors import ConfigError, MissingCheckpointError
from nordlid.workdir import Workdir
from validation import reasons
from validation.audio_scan import AudioScan, scan_audio
from validation.balance import BalanceSummary, summarize_balance, write_plots
from validation.config import ValidationConfig
from validation.duplicates import find_duplicates
from validation.expectations import SuiteResult, run_suite
from validation.leakage import find_speaker_leakage
from validation.reasons import Finding, Findings

log = logging.getLogger(__name__)

QUARANTINE_FILE = "quarantine.parquet"
CHECKS_FILE = "checks.parquet"
REPORT_DIR = "validation"


class InvariantError(RuntimeError):
    """kept + quarantined != input: a bug in validation, never a user mistake."""


@dataclass(frozen=True)
class OutputPaths:
    validated: Path
    quarantine: Path
    checks: Path
    report_dir: Path

    @classmethod
    def for_run(cls, workdir: Workdir, label: str | None) -> OutputPaths:
        if label is None:
            return cls(
                validated=workdir.validated_manifest,
                quarantine=workdir.quarantine / QUARANTINE_FILE,
                checks=workdir.validated_manifest.parent / CHECKS_FILE,
                report_dir=workdir.reports / REPORT_DIR,
            )
        if not label or any(c in label for c in "/\\") or label.startswith("."):
            raise ConfigError(
                f"validation label {label!r}: use a plain name (no '/', no leading '.')"
            )
        base = workdir.validated_manifest.parent / label
        return cls(
            validated=base / "manifest.parquet",
            quarantine=workdir.quarantine / f"{label}.parquet",
            checks=base / CHECKS_FILE,
            report_dir=workdir.reports / REPORT_DIR / label,
        )


@dataclass
class ValidationResult:
    n_input: int
    n_kept: int
    n_quarantined: int
    n_flagged: int
    reason_counts: dict[str, int]  # code -> rows quarantined for it
    flag_counts: dict[str, int]  # code -> kept rows flagged with it
    validated_path: Path
    quarantine_path: Path
    checks_path: Path
    report_path: Path
    report_html: Path
    data_docs_index: Path | None
    kept: pd.DataFrame
    quarantined: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.n_kept + self.n_quarantined == self.n_input

    @property
    def accepted(self) -> pd.DataFrame:
        """The kept rows (the name ``monitoring.continuous`` reads)."""
        return self.kept


@dataclass
class _Decision:
    quarantine: dict[int, list[Finding]]
    flags: dict[int, list[Finding]]


def _require_columns(manifest: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in manifest.columns]
    if missing:
        raise ManifestError(f"manifest: missing columns {missing} (expected {list(COLUMNS)})")
    if manifest.empty:
        raise ManifestError("manifest: no rows to validate")


def _audio_findings(manifest: pd.DataFrame, scan: AudioScan, config: ValidationConfig) -> Findings:
    out = Findings()
    table = scan.table
    q = config.quality
    tol = config.audio.duration_tolerance_s
    declared_dur = pd.to_numeric(manifest["duration_s"], errors="coerce")
    declared_sr = pd.to_numeric(manifest["sample_rate"], errors="coerce")
    for i in range(len(manifest)):
        row = table.iloc[i]
        if not row["readable"]:
            code = reasons.AUDIO_PREFIX + str(row["decode_code"] or "unreadable_audio")
            out.add(i, code, f"{manifest.at[i, 'path']}: {row['decode_reason']}")
            continue
        dur = float(row["decoded_duration_s"])
        if pd.notna(declared_dur.iat[i]) and abs(dur - float(declared_dur.iat[i])) > tol:
            out.add(
                i,
                reasons.DURATION_MISMATCH,
                f"file has {dur:.3f} s, manifest says {float(declared_dur.iat[i]):.3f} s",
            )
        sr = int(row["decoded_sample_rate"])
        if pd.notna(declared_sr.iat[i]) and sr != int(declared_sr.iat[i]):
            out.add(
                i,
                reasons.SAMPLE_RATE_MISMATCH,
                f"file is {sr} Hz, manifest says {int(declared_sr.iat[i])} Hz",
            )
        ratio = row["speech_ratio"]
        if pd.notna(ratio) and float(ratio) < q.min_speech_ratio:
            out.add(
                i,
                reasons.MOSTLY_SILENT,
                f"speech ratio {float(ratio):.2f} < {q.min_speech_ratio:g}",
            )
        for key, limit, code in (
            ("stoi", q.min_stoi, reasons.LOW_STOI),
            ("pesq", q.min_pesq, reasons.LOW_PESQ),
            ("si_sdr", q.min_si_sdr, reasons.LOW_SI_SDR),
        ):
            value = row[key]
            if limit is not None and pd.notna(value) and float(value) < limit:
                out.add(i, code, f"{key} {float(value):.2f} < {limit:g}")
    return out


def _decide(findings: Findings, config: ValidationConfig) -> _Decision:
    quarantine: dict[int, list[Finding]] = {}
    flags: dict[int, list[Finding]] = {}
    for row, items in findings.by_row().items():
        active = [f for f in items if config.action(f.code) != "off"]
        if any(config.action(f.code) == "quarantine" for f in active):
            quarantine[row] = active  # every reason, flags included
        elif active:
            flags[row] = active
    return _Decision(quarantine, flags)


def _load_models(config: ValidationConfig) -> tuple[Any, Any]:
    from validation.speech_quality import load_squim, load_vad

    vad = load_vad() if config.quality.vad else None
    squim = load_squim(config.quality.squim_weights) if config.quality.squim else None
    return vad, squim


def _normalise_kept(kept: pd.DataFrame) -> pd.DataFrame:
    out = kept.loc[:, list(COLUMNS)].copy()
    out["duration_s"] = pd.to_numeric(out["duration_s"]).astype(float)
    for col in ("sample_rate", "num_channels", "file_size"):
        out[col] = pd.to_numeric(out[col]).astype("int64")
    return out.reset_index(drop=True)


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns with mixed types (bad input) become strings so Parquet can hold them."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            try:
                pa.array(out[col].tolist())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                out[col] = [None if v is None or v is pd.NA else str(v) for v in out[col]]
    return out


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(_arrow_safe(frame), preserve_index=False), tmp)


def _quarantine_frame(manifest: pd.DataFrame, decision: _Decision) -> pd.DataFrame:
    rows = sorted(decision.quarantine)
    frame = manifest.loc[rows, [c for c in manifest.columns]].copy()
    frame.insert(0, "row", rows)
    frame["reasons"] = [sorted({f.code for f in decision.quarantine[r]}) for r in rows]
    frame["details"] = [[f"{f.code}: {f.detail}" for f in decision.quarantine[r]] for r in rows]
    frame["duplicate_of"] = [
        next((f.related_id for f in decision.quarantine[r] if f.related_id), None) for r in rows
    ]
    return frame.reset_index(drop=True)


def _checks_frame(manifest: pd.DataFrame, scan: AudioScan, decision: _Decision) -> pd.DataFrame:
    checks = scan.table.copy()
    checks.insert(0, "utterance_id", manifest["utterance_id"].astype(str).to_numpy())
    status = np.array(["kept"] * len(manifest), dtype=object)
    status[sorted(decision.quarantine)] = "quarantined"
    checks["status"] = status
    checks["reasons"] = [
        sorted({f.code for f in decision.quarantine.get(i, decision.flags.get(i, []))})
        for i in range(len(manifest))
    ]
    checks["flagged"] = [i in decision.flags for i in range(len(manifest))]
    return checks


def _voice_leakage(
    manifest: pd.DataFrame,
    workdir: Workdir,
    config: ValidationConfig,
    findings: Findings,
    report_dir: Path,
) -> list[str]:
    """Voice leakage from audio when enabled: findings added, per-split-pair summary written
    to ``voice-leakage.json``; the report notes it returns say what was (not) checked."""
    vc = config.voice_leakage
    if not vc.enabled:
        return ["voice leakage (speaker encoder) not checked: voice_leakage.enabled is off"]
    from validation.voice_leakage import check_voice_leakage

    try:
        found, summary = check_voice_leakage(
            manifest, workdir.root, vc.threshold, vc.partials_per_second
        )
    except MissingCheckpointError as exc:
        log.warning("voice leakage not checked: %s", exc)
        return [f"voice leakage NOT checked: {exc}"]
    findings.extend(found)
    (report_dir / "voice-leakage.json").write_text(json.dumps(summary.as_dict(), indent=2))
    return summary.notes()


def run_validation(
    manifest_df: pd.DataFrame,
    workdir: Workdir,
    config: ValidationConfig | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    label: str | None = None,
) -> ValidationResult:
    """Validate ``manifest_df``; write the validated manifest, quarantine, checks and report.

    Relative audio paths are resolved against ``workdir.root``.  ``progress(1)`` is called
    once per scanned file.  ``label`` (e.g. a retraining window) sends every output to its
    own place — ``data/validated/<label>/``, ``data/quarantine/<label>.parquet``,
    ``reports/validation/<label>/`` — so the corpus's validated manifest is left alone.
    """
    paths = OutputPaths.for_run(workdir, label)
    config = config or ValidationConfig()
    _require_columns(manifest_df)
    manifest = manifest_df.reset_index(drop=True)
    n = len(manifest)
    report_dir = paths.report_dir
    report_dir.mkdir(parents=True, exist_ok=True)
    log.info("validating %d utterances", n)

    ev = _gather_evidence(manifest, workdir, config, report_dir, progress)
    decision = _decide(ev.findings, config)
    quarantined = _quarantine_frame(manifest, decision)
    kept = manifest.loc[[i for i in range(n) if i not in decision.quarantine]]
    if len(kept) + len(quarantined) != n:
        raise InvariantError(
            f"validation lost rows: kept {len(kept)} + quarantined {len(quarantined)} != input {n}"
        )
    kept = _normalise_kept(kept)

    validated_path = write_manifest(kept, paths.validated)
    _write_parquet(quarantined, paths.quarantine)
    checks = _checks_frame(manifest, ev.scan, decision)
    _write_parquet(checks, paths.checks)
    balance = _balance(kept, checks, config, report_dir)
    verdict = _Verdict(
        decision=decision,
        kept=kept,
        quarantined=quarantined,
        checks=checks,
        balance=balance,
        reason_counts=Counter(
            c for fs in decision.quarantine.values() for c in {f.code for f in fs}
        ),
        flag_counts=Counter(c for fs in decision.flags.values() for c in {f.code for f in fs}),
        warnings=_warnings(ev, balance, config),
    )
    report_md, report_html = _write_reports(manifest, ev, verdict, config, paths, validated_path)
    log.info(
        "validation: %d in, %d kept, %d quarantined, %d flagged; report %s",
        n,
        len(kept),
        len(quarantined),
        len(decision.flags),
        report_html,
    )
    return ValidationResult(
        n_input=n,
        n_kept=len(kept),
        n_quarantined=len(quarantined),
        n_flagged=len(decision.flags),
        reason_counts=dict(verdict.reason_counts),
        flag_counts=dict(verdict.flag_counts),
        validated_path=validated_path,
        quarantine_path=paths.quarantine,
        checks_path=paths.checks,
        report_path=report_md,
        report_html=report_html,
        data_docs_index=ev.suite.data_docs_index,
        kept=kept,
        quarantined=quarantined,
        warnings=verdict.warnings,
    )


def _balance(
    kept: pd.DataFrame, checks: pd.DataFrame, config: ValidationConfig, report_dir: Path
) -> BalanceSummary:
    """Language/split/gender balance of the kept rows, with its plots."""
    balance = summarize_balance(
        kept,
        list(config.expectations.languages),
        list(config.expectations.splits),
        config.balance.max_imbalance_ratio,
    )
    balance.plots = write_plots(kept, checks, balance, report_dir)
    return balance


@dataclass
class _Verdict:
    """What the gate decided and what follows from it."""

    decision: _Decision
    kept: pd.DataFrame
    quarantined: pd.DataFrame
    checks: pd.DataFrame
    balance: BalanceSummary
    reason_counts: Counter[str]
    flag_counts: Counter[str]
    warnings: list[str]


def _write_reports(
    manifest: pd.DataFrame,
    ev: _Evidence,
    v: _Verdict,
    config: ValidationConfig,
    paths: OutputPaths,
    validated_path: Path,
) -> tuple[Path, Path]:
    """The Markdown + HTML report and ``summary.json``; returns the two report paths."""
    from validation.report import ReportInputs, write_report

    n = len(manifest)
    report_md, report_html = write_report(
        ReportInputs(
            out_dir=paths.report_dir,
            n_input=n,
            n_kept=len(v.kept),
            n_quarantined=len(v.quarantined),
            n_flagged=len(v.decision.flags),
            reason_counts=dict(v.reason_counts),
            flag_counts=dict(v.flag_counts),
            suite=ev.suite,
            quarantined=v.quarantined,
            flagged=_flag_rows(manifest, v.decision),
            duplicates=ev.duplicates,
            leakage=ev.leakage,
            balance=v.balance,
            checks=v.checks,
            config=config,
            vad_backend=ev.scan.vad_backend,
            squim_loaded=ev.scan.squim_loaded,
            warnings=v.warnings,
            paths={
                "validated manifest": validated_path,
                "quarantine": paths.quarantine,
                "per-utterance checks": paths.checks,
            },
        )
    )
    _write_summary(
        paths.report_dir / "summary.json",
        n,
        len(v.kept),
        len(v.quarantined),
        v.reason_counts,
        v.flag_counts,
        v.warnings,
    )
    return report_md, report_html


@dataclass
class _Evidence:
    """What every check found, before the gate decides."""

    findings: Findings
    suite: SuiteResult
    scan: AudioScan
    duplicates: Any
    leakage: Any
    voice_notes: list[str]


def _gather_evidence(
    manifest: pd.DataFrame,
    workdir: Workdir,
    config: ValidationConfig,
    report_dir: Path,
    progress: Callable[[int], None] | None,
) -> _Evidence:
    """Expectations, the audio scan, duplicates, speaker and voice leakage: all findings."""
    suite: SuiteResult = run_suite(manifest, config.expectations, report_dir / "data_docs")
    vad, squim = _load_models(config)
    scan = scan_audio(
        manifest["path"].tolist(),
        base_dir=workdir.root,
        quality=config.quality,
        vad=vad,
        squim=squim,
        progress=progress,
    )
    findings = Findings()
    findings.extend(suite.findings)
    findings.extend(_audio_findings(manifest, scan, config))
    failing_so_far = set(_decide(findings, config).quarantine)
    speech = scan.table["speech_s"].fillna(0.0).to_numpy(dtype=float)
    usable = scan.table["readable"].to_numpy(dtype=bool) & np.any(scan.vectors, axis=1)
    dup_findings, dup_summary = find_duplicates(
        manifest, scan.vectors, speech, usable, config.duplicates, prefer_not=failing_so_far
    )
    findings.extend(dup_findings)
    spk_findings, leak_summary = find_speaker_leakage(manifest)
    findings.extend(spk_findings)
    voice_notes = _voice_leakage(manifest, workdir, config, findings, report_dir)
    return _Evidence(findings, suite, scan, dup_summary, leak_summary, voice_notes)


def _warnings(ev: _Evidence, balance: BalanceSummary, config: ValidationConfig) -> list[str]:
    """What the report must say was not checked or looks off."""
    warnings = [*balance.warnings, *ev.leakage.unchecked_notes(), *ev.voice_notes]
    if ev.scan.vad_backend is None:
        warnings.append("VAD speech ratio not computed (quality.vad is off)")
    if not config.quality.squim:
        warnings.append("SQUIM scores not computed (quality.squim is off)")
    elif not ev.scan.squim_loaded:
        warnings.append("SQUIM scores are null: no SQUIM weights loaded (see the log line)")
    return warnings


def _flag_rows(manifest: pd.DataFrame, decision: _Decision) -> pd.DataFrame:
    rows = sorted(decision.flags)
    return pd.DataFrame(
        {
            "utterance_id": [str(manifest.at[r, "utterance_id"]) for r in rows],
            "split": [str(manifest.at[r, "split"]) for r in rows],
            "reasons": [", ".join(sorted({f.code for f in decision.flags[r]})) for r in rows],
            "details": ["; ".join(f.detail for f in decision.flags[r]) for r in rows],
        }
    )


def _write_summary(
    path: Path,
    n: int,
    kept: int,
    quarantined: int,
    reason_counts: Counter[str],
    flag_counts: Counter[str],
    warnings: list[str],
) -> None:
    payload = {
        "input": n,
        "kept": kept,
        "quarantined": quarantined,
        "kept_plus_quarantined_equals_input": kept + quarantined == n,
        "quarantine_reasons": dict(sorted(reason_counts.items())),
        "flag_reasons": dict(sorted(flag_counts.items())),
        "warnings": warnings,
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
