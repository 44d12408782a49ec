"""The Great Expectations suite on the manifest (reference report Table 3.2, plus labels).

Runs GE 1.x for real — an ephemeral context, a pandas data source with a whole-dataframe
batch definition, an ``ExpectationSuite``, a ``ValidationDefinition`` run through a
``Checkpoint`` with ``result_format=COMPLETE`` — and maps every failed row back to the
manifest (``unexpected_index_list`` holds the row positions) as a reason code.  The
checkpoint's ``UpdateDataDocsAction`` writes GE's HTML Data Docs.

Value-type and null expectations run on the columns as given (object dtype, so GE checks
each value); range expectations run on a numeric copy (``<column>__as_number``), so one
non-numeric value fails its own row instead of the whole expectation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from validation import reasons
from validation.config import ExpectationsConfig
from validation.reasons import Findings

log = logging.getLogger(__name__)

SUITE_NAME = "nordlid_manifest"
NUMERIC_SUFFIX = "__as_number"
FLOAT_TYPES = ["float", "float16", "float32", "float64", "int", "int8", "int16", "int32", "int64"]
INT_TYPES = ["int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
# codes where only the repeats are violations: the first occurrence is kept
# non-nullable schema columns not covered by a more specific expectation
REQUIRED_OTHER = (
    "path",
    "language",
    "source",
    "source_language",
    "split",
    "num_channels",
    "audio_sha256",
    "condition",
    "event_timestamp",
)
UNIQUENESS_CODES = {reasons.PATH_DUPLICATE, reasons.UTTERANCE_ID_DUPLICATE}


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str
    code: str
    success: bool
    unexpected_count: int
    example_values: list[Any]
    error: str | None = None


@dataclass
class SuiteResult:
    success: bool
    findings: Findings
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    data_docs_index: Path | None = None


def _suite_spec(cfg: ExpectationsConfig) -> list[tuple[str, str, dict[str, Any], str]]:
    """(expectation class name, column, kwargs, reason code) in report order."""
    num = NUMERIC_SUFFIX
    return [
        ("ExpectColumnValuesToNotBeNull", "utterance_id", {}, reasons.UTTERANCE_ID_MISSING),
        ("ExpectColumnValuesToBeUnique", "utterance_id", {}, reasons.UTTERANCE_ID_DUPLICATE),
        ("ExpectColumnValuesToBeUnique", "path", {}, reasons.PATH_DUPLICATE),
        ("ExpectColumnValuesToNotBeNull", "duration_s", {}, reasons.DURATION_MISSING),
        (
            "ExpectColumnValuesToBeInTypeList",
            "duration_s",
            {"type_list": FLOAT_TYPES},
            reasons.DURATION_NOT_NUMERIC,
        ),
        (
            "ExpectColumnValuesToBeBetween",
            "duration_s" + num,
            {"min_value": cfg.duration_min_s, "max_value": cfg.duration_max_s},
            reasons.DURATION_OUT_OF_RANGE,
        ),
        ("ExpectColumnValuesToNotBeNull", "sample_rate", {}, reasons.SAMPLE_RATE_MISSING),
        (
            "ExpectColumnValuesToBeInSet",
            "sample_rate",
            {"value_set": list(cfg.allowed_sample_rates)},
            reasons.SAMPLE_RATE_NOT_ALLOWED,
        ),
        ("ExpectColumnValuesToNotBeNull", "file_size", {}, reasons.FILE_SIZE_MISSING),
        (
            "ExpectColumnValuesToBeInTypeList",
            "file_size",
            {"type_list": INT_TYPES},
            reasons.FILE_SIZE_NOT_INTEGER,
        ),
        (
            "ExpectColumnValuesToBeBetween",
            "file_size" + num,
            {"min_value": cfg.file_size_min, "max_value": cfg.file_size_max},
            reasons.FILE_SIZE_OUT_OF_RANGE,
        ),
        (
            "ExpectColumnValuesToBeInSet",
            "language",
            {"value_set": list(cfg.languages)},
            reasons.LANGUAGE_UNKNOWN,
        ),
        (
            "ExpectColumnValuesToBeInSet",
            "split",
            {"value_set": list(cfg.splits)},
            reasons.SPLIT_UNKNOWN,
        ),
        (
            "ExpectColumnValuesToBeInSet",
            "source",
            {"value_set": list(cfg.sources)},
            reasons.SOURCE_UNKNOWN,
        ),
        (
            "ExpectColumnValuesToBeInSet",
            "gender",
            {"value_set": list(cfg.genders)},
            reasons.GENDER_UNKNOWN,
        ),
        *[
            ("ExpectColumnValuesToNotBeNull", col, {}, reasons.REQUIRED_FIELD_MISSING)
            for col in REQUIRED_OTHER
        ],
    ]


def _ge_frame(manifest: pd.DataFrame) -> pd.DataFrame:
    """The columns the suite reads, as objects, plus numeric copies; index = row position."""
    cols = [
        "utterance_id",
        "path",
        "language",
        "split",
        "duration_s",
        "sample_rate",
        "file_size",
        "gender",
        *REQUIRED_OTHER,
    ]
    cols = list(dict.fromkeys(cols))
    frame = pd.DataFrame(index=pd.RangeIndex(len(manifest)))
    for col in cols:
        values = manifest[col].to_numpy(dtype=object) if col in manifest else [None] * len(manifest)
        series = pd.Series(values, index=frame.index, dtype=object)
        frame[col] = series.where(series.notna(), None)
    for col in ("duration_s", "file_size"):
        frame[col + NUMERIC_SUFFIX] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def _quiet_ge_logging() -> None:
    """GE logs its import-time internals at INFO; keep them out unless asked for."""
    ge_log = logging.getLogger("great_expectations")
    if ge_log.level == logging.NOTSET:
        ge_log.setLevel(logging.WARNING)


def _context(docs_dir: Path | None) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites: dict[str, Any] = {}
    if docs_dir is not None:
        sites["nordlid"] = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
        data_docs_sites=sites,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def run_suite(
    manifest: pd.DataFrame, cfg: ExpectationsConfig, docs_dir: Path | None = None
) -> SuiteResult:
    """Validate ``manifest`` (rows addressed by position) and write Data Docs to ``docs_dir``."""
    _quiet_ge_logging()
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction, ValidationAction

    frame = _ge_frame(manifest)
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
    context = _context(docs_dir if cfg.data_docs else None)
    batch_definition = (
        context.data_sources.add_pandas("manifest")
        .add_dataframe_asset("manifest")
        .add_batch_definition_whole_dataframe("whole_manifest")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
    spec = _suite_spec(cfg)
    for cls_name, column, kwargs, code in spec:
        cls = getattr(gx.expectations, cls_name)
        suite.add_expectation(cls(column=column, meta={"reason_code": code}, **kwargs))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="manifest_checks", data=batch_definition, suite=suite)
    )
    actions: list[ValidationAction] = (
        [UpdateDataDocsAction(name="data_docs")] if cfg.data_docs and docs_dir else []
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="nordlid_validate",
            validation_definitions=[definition],
            actions=actions,
            result_format={"result_format": "COMPLETE"},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})

    findings = Findings()
    outcomes: list[ExpectationOutcome] = []
    for run in result.run_results.values():
        for r in run.results:
            outcomes.append(_map_result(r, frame, findings))
    index = None
    if cfg.data_docs and docs_dir is not None and (docs_dir / "index.html").is_file():
        index = docs_dir / "index.html"
    return SuiteResult(bool(result.success), findings, outcomes, index)


def _map_result(r: Any, frame: pd.DataFrame, findings: Findings) -> ExpectationOutcome:
    cfg = r.expectation_config
    column = str(cfg.kwargs.get("column"))
    code = str((cfg.meta or {}).get("reason_code"))
    info = r.exception_info or {}
    error = str(info.get("exception_message")) if info.get("raised_exception") else None
    rows = [int(i) for i in (r.result.get("unexpected_index_list") or [])]
    values = list(r.result.get("partial_unexpected_list") or [])[:5]
    if error:
        log.warning("GE expectation %s on %s raised: %s", cfg.type, column, error)
    if not r.success and not rows and not error:
        # a column-level failure (no row list): every row shares the problem
        rows = list(range(len(frame)))
    source_col = column.removesuffix(NUMERIC_SUFFIX)
    first: dict[Any, str] = {}
    if code in UNIQUENESS_CODES:
        seen = frame.loc[rows, source_col]
        first = {v: str(frame.at[i, "utterance_id"]) for i, v in seen.drop_duplicates().items()}
        rows = [int(i) for i in seen.index[seen.duplicated(keep="first")]]
    for row in rows:
        value = frame.at[row, source_col]
        findings.add(row, code, f"{source_col}={value!r}", first.get(value))
    return ExpectationOutcome(
        expectation=str(cfg.type),
        column=source_col,
        code=code,
        success=bool(r.success),
        unexpected_count=len(rows),
        example_values=[v if isinstance(v, (int, float, str)) else repr(v) for v in values],
        error=error,
    )
