"""The extraction engine: validated manifest → ``data/features/<extractor>/part-*.parquet``.

One code path computes features: :func:`extract_waves` (inference mode, autocast on CUDA,
row validation against the spec).  The batch job :func:`run_extraction` feeds it
length-bucketed batches of decoded audio; serving feeds it uploaded waves.

Resumability: batches are planned over the *whole* manifest (longest first, ties by
utterance id), then rows already extracted with the same spec fingerprint are dropped.
Parts are written atomically at batch boundaries, so a killed run, restarted, processes the
remaining rows in exactly the batches the uninterrupted run would have used.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from extractors import registry
from extractors.backbones.chunking import check_waves
from extractors.base import Extractor, Row
from extractors.batching import DEFAULT_BATCH_SECONDS, plan_batches
from extractors.lineage import build_lineage, frame_hash
from extractors.progress import ExtractionProgress
from extractors.spec import ExtractorSpec
from extractors.store import (
    FeatureRowError,
    clean_stale_temps,
    done_ids,
    rows_to_table,
    spec_fingerprint,
    supersede_other_versions,
    write_part,
)
from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import AudioDecodeError, ConfigError, MissingCheckpointError, NordlidError
from nordlid.workdir import Workdir

log = logging.getLogger(__name__)

DEFAULT_ROWS_PER_PART = 2048

Status = Literal["extracted", "up-to-date", "missing-checkpoint"]


@dataclass
class ExtractorRun:
    """What one extractor did in a run."""

    name: str
    status: Status
    extracted: int = 0
    skipped: int = 0  # already extracted with the same spec fingerprint
    failed: list[str] = field(default_factory=list)  # "utterance_id: reason" (unreadable audio)
    parts: list[Path] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    message: str = ""

    @property
    def realtime_factor(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


@dataclass
class ExtractionSummary:
    runs: list[ExtractorRun]

    def __getitem__(self, name: str) -> ExtractorRun:
        for run in self.runs:
            if run.name == name:
                return run
        raise KeyError(name)

    @property
    def missing(self) -> list[ExtractorRun]:
        return [r for r in self.runs if r.status == "missing-checkpoint"]


# --------------------------------------------------------------------------------------
# The in-memory path (shared with serving)
# --------------------------------------------------------------------------------------
def resolve_device(device: str | None = "auto") -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; unavailable CUDA is a ConfigError."""
    import torch

    choice = (device or "auto").strip().lower()
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: CUDA is not available on this machine")
        return choice
    if choice != "cpu":
        raise ConfigError(f"--device {device!r}: choose auto, cpu or cuda[:N]")
    return choice


def autocast_name(extractor: Extractor) -> str:
    """The autocast dtype the engine applies to this extractor (``none`` off CUDA)."""
    device = str(getattr(extractor, "device", "cpu"))
    if not device.startswith("cuda") or not getattr(extractor, "engine_autocast", True):
        return "none"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _precision(extractor: Extractor) -> contextlib.AbstractContextManager[Any]:
    name = autocast_name(extractor)
    if name == "none":
        return contextlib.nullcontext()
    import torch

    dtype = torch.bfloat16 if name == "bf16" else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def validate_rows(spec: ExtractorSpec, rows: Sequence[Row], expected: int) -> list[Row]:
    """Rows with exactly the spec's columns; vectors as float32 arrays of declared length."""
    if len(rows) != expected:
        raise FeatureRowError(
            f"extractor {spec.name!r} returned {len(rows)} rows for {expected} waves"
        )
    names = set(spec.feature_names)
    out: list[Row] = []
    for i, row in enumerate(rows):
        if set(row) != names:
            extra, lacking = sorted(set(row) - names), sorted(names - set(row))
            raise FeatureRowError(
                f"extractor {spec.name!r} row {i}: unexpected columns {extra}, missing {lacking}"
            )
        clean: Row = {}
        for col in spec.columns:
            value = row[col.name]
            if col.length is not None:
                arr = np.asarray(value, dtype=np.float32).reshape(-1)
                if arr.shape[0] != col.length:
                    raise FeatureRowError(
                        f"extractor {spec.name!r} column {col.name!r}: length {arr.shape[0]}, "
                        f"declared {col.length}"
                    )
                if not np.isfinite(arr).all():
                    raise FeatureRowError(
                        f"extractor {spec.name!r} column {col.name!r}: NaN or inf"
                    )
                clean[col.name] = arr
            elif value is not None and col.dtype.startswith("float"):
                number = float(value)
                if not np.isfinite(number):
                    raise FeatureRowError(f"extractor {spec.name!r} column {col.name!r}: {number}")
                clean[col.name] = number
            else:
                clean[col.name] = value
        out.append(clean)
    return out


def extract_waves(
    extractor: Extractor, waves: Sequence[np.ndarray], *, batch_seconds: float | None = None
) -> list[Row]:
    """Features of in-memory 16 kHz mono waves, one row per wave, in input order.

    The single code path of both the batch job and serving: inference mode, autocast on
    CUDA, rows checked against the extractor's spec.  ``batch_seconds`` splits many waves
    into length-bucketed batches.
    """
    import torch

    checked = check_waves(waves)
    if not checked:
        return []
    if batch_seconds is None:
        groups = [list(range(len(checked)))]
    else:
        groups = plan_batches([len(w) / TARGET_SAMPLE_RATE for w in checked], batch_seconds)
    result: list[Row | None] = [None] * len(checked)
    with torch.inference_mode(), _precision(extractor):
        for group in groups:
            rows = extractor.extract([checked[i] for i in group])
            for i, row in zip(group, validate_rows(extractor.spec, rows, len(group)), strict=True):
                result[i] = row
    return [r for r in result if r is not None]


# --------------------------------------------------------------------------------------
# The batch job
# --------------------------------------------------------------------------------------
def load_manifest(
    workdir: Workdir, manifest: pd.DataFrame | str | Path | None
) -> tuple[pd.DataFrame, str]:
    """The validated manifest (or the one given) and its content hash."""
    from corpus.manifest import manifest_hash, read_manifest

    if isinstance(manifest, pd.DataFrame):
        return manifest.reset_index(drop=True), frame_hash(manifest)
    path = Path(manifest) if manifest is not None else workdir.validated_manifest
    if not path.exists():
        raise NordlidError(f"{path}: validated manifest not found (run `nordlid validate` first)")
    return read_manifest(path).reset_index(drop=True), manifest_hash(path)


def load_wave(path: str) -> np.ndarray:
    from nordlid.audio import load_for_model

    return load_for_model(path)


def decode_batch(paths: list[str]) -> list[np.ndarray | AudioDecodeError]:
    """Decoded 16 kHz mono waves; an unreadable file gives its AudioDecodeError in place."""
    out: list[np.ndarray | AudioDecodeError] = []
    for p in paths:
        try:
            out.append(load_wave(p))
        except AudioDecodeError as exc:
            out.append(exc)
    return out


def _prefetched(
    batches: list[list[int]], paths: list[str]
) -> Iterator[tuple[list[int], list[np.ndarray | AudioDecodeError]]]:
    """Decode the next batch on a worker thread while the current one is extracted."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nordlid-decode") as pool:
        pending: Future[list[np.ndarray | AudioDecodeError]] | None = None
        for k, batch in enumerate(batches):
            if pending is None:
                pending = pool.submit(decode_batch, [paths[i] for i in batch])
            waves = pending.result()
            pending = (
                pool.submit(decode_batch, [paths[i] for i in batches[k + 1]])
                if k + 1 < len(batches)
                else None
            )
            yield batch, waves


def _pending_batches(
    ids: list[str], durations: list[float], done: set[str], batch_seconds: float, limit: int | None
) -> list[list[int]]:
    planned = plan_batches(durations, batch_seconds, keys=ids)
    out: list[list[int]] = []
    budget = limit if limit is not None else len(ids)
    for batch in planned:
        todo = [i for i in batch if ids[i] not in done]
        if not todo or budget <= 0:
            continue
        out.append(todo[:budget])
        budget -= len(out[-1])
    return out


def create_extractor(name: str, device: str, kwargs: dict[str, Any]) -> Extractor:
    """The registry's extractor ``name`` built with ``kwargs`` and moved to ``device``."""
    extractor = registry.create(name, **kwargs)
    return extractor.to(device)


@dataclass
class RunPlan:
    """One extractor's work in a run, decided before anything is extracted.

    ``run.status`` is ``extracted`` when ``batches`` (manifest row indices, in the planner's
    order) remain to be done; then ``extractor`` is built and the feature directory is ready
    for new parts.  Otherwise (``up-to-date``, ``missing-checkpoint``) there is nothing to do.
    """

    run: ExtractorRun
    directory: Path
    fingerprint: str = ""
    batches: list[list[int]] = field(default_factory=list)
    extractor: Extractor | None = None

    @property
    def pending(self) -> bool:
        return self.run.status == "extracted"


def plan_run(
    name: str,
    workdir: Workdir,
    frame: pd.DataFrame,
    *,
    device: str,
    batch_seconds: float,
    limit: int | None,
    extractor_kwargs: dict[str, Any],
) -> RunPlan:
    """Plan one extractor's run, the same for every runner (local engine, Ray).

    Batches are planned over the whole manifest (longest first), then rows already
    extracted with the extractor's spec fingerprint are dropped.  The extractor is built on
    ``device`` (a missing checkpoint is reported, not raised; non-default parameters change
    the fingerprint); when work remains, stale temp files are removed and parts of other
    fingerprints are moved to ``data/superseded/`` — parts are then written with
    :func:`extractors.store.write_part` carrying :func:`run_lineage`.
    """
    directory = workdir.feature_dir(name)
    ids = frame["utterance_id"].astype(str).tolist()
    durations = frame["duration_s"].astype(float).tolist()

    fingerprint = spec_fingerprint(registry.get_spec(name))
    done = done_ids(directory, fingerprint)
    batches = _pending_batches(ids, durations, done, batch_seconds, limit)
    if not batches and not extractor_kwargs:
        return RunPlan(ExtractorRun(name, "up-to-date", skipped=len(set(ids) & done)), directory)

    try:
        extractor = create_extractor(name, device, extractor_kwargs)
    except MissingCheckpointError as exc:
        log.error("%s — skipping %r, the other extractors continue", exc, name)
        return RunPlan(ExtractorRun(name, "missing-checkpoint", message=str(exc)), directory)

    if spec_fingerprint(extractor.spec) != fingerprint:  # non-default parameters
        fingerprint = spec_fingerprint(extractor.spec)
        done = done_ids(directory, fingerprint)
        batches = _pending_batches(ids, durations, done, batch_seconds, limit)
    run = ExtractorRun(name, "extracted", skipped=len(set(ids) & done))
    if not batches:
        run.status = "up-to-date"
        return RunPlan(run, directory, fingerprint)

    if directory.exists():
        clean_stale_temps(directory)
    archive = workdir.superseded_dir(name)
    moved = supersede_other_versions(directory, fingerprint, archive)
    if moved:
        log.info("%s: moved %d part(s) of an older version to %s", name, len(moved), archive)
    return RunPlan(run, directory, fingerprint, batches, extractor)


def run_lineage(
    extractor: Extractor,
    *,
    device: str,
    manifest_hash: str,
    batch_seconds: float,
    **engine_params: Any,
) -> dict[str, Any]:
    """The lineage every part of this run carries (``engine_params`` adds runner facts)."""
    return build_lineage(
        extractor,
        manifest_hash=manifest_hash,
        engine_params={
            "device": str(getattr(extractor, "device", device)),
            "autocast": autocast_name(extractor),
            "batch_seconds": batch_seconds,
            **engine_params,
        },
    )


def finish_run(run: ExtractorRun, started: float, runner: str = "") -> ExtractorRun:
    """Record the wall time and log the summary line of one extractor's run."""
    run.wall_seconds = time.perf_counter() - started
    log.info(
        "%s%s: %d extracted, %d already done, %d unreadable — %.1f audio-s/s (%.0f× real time)",
        run.name,
        runner,
        run.extracted,
        run.skipped,
        len(run.failed),
        run.realtime_factor,
        run.realtime_factor,
    )
    return run


def _run_one(
    name: str,
    workdir: Workdir,
    frame: pd.DataFrame,
    manifest_hash: str,
    *,
    device: str,
    batch_seconds: float,
    limit: int | None,
    rows_per_part: int,
    extractor_kwargs: dict[str, Any],
    show_progress: bool | None,
) -> ExtractorRun:
    started = time.perf_counter()
    plan = plan_run(
        name,
        workdir,
        frame,
        device=device,
        batch_seconds=batch_seconds,
        limit=limit,
        extractor_kwargs=extractor_kwargs,
    )
    if not plan.pending or plan.extractor is None:
        return plan.run
    run, extractor, batches = plan.run, plan.extractor, plan.batches
    lineage = run_lineage(
        extractor, device=device, manifest_hash=manifest_hash, batch_seconds=batch_seconds
    )
    ids = frame["utterance_id"].astype(str).tolist()
    events = frame["event_timestamp"].tolist()
    paths = frame["path"].astype(str).tolist()
    buffer: tuple[list[str], list[Any], list[Row]] = ([], [], [])

    def flush() -> None:
        if not buffer[0]:
            return
        table = rows_to_table(extractor.spec, buffer[0], buffer[1], buffer[2], datetime.now(UTC))
        run.parts.append(write_part(plan.directory, table, lineage))
        for part in buffer:
            part.clear()

    total = sum(len(b) for b in batches)
    with ExtractionProgress(name, total, enabled=show_progress) as bar:
        for batch, decoded in _prefetched(batches, paths):
            ok = [(i, w) for i, w in zip(batch, decoded, strict=True) if isinstance(w, np.ndarray)]
            for i, w in zip(batch, decoded, strict=True):
                if isinstance(w, AudioDecodeError):
                    log.warning("%s: %s skipped: %s", name, ids[i], w)
                    run.failed.append(f"{ids[i]}: {w}")
            rows = extract_waves(extractor, [w for _, w in ok]) if ok else []
            seconds = sum(len(w) for _, w in ok) / TARGET_SAMPLE_RATE
            for (i, _), row in zip(ok, rows, strict=True):
                buffer[0].append(ids[i])
                buffer[1].append(events[i])
                buffer[2].append(row)
            run.extracted += len(ok)
            run.audio_seconds += seconds
            bar.advance(len(batch), seconds)
            if len(buffer[0]) >= rows_per_part:
                flush()
        flush()
    return finish_run(run, started)


def check_run_options(
    names: Sequence[str] | None, *, limit: int | None, rows_per_part: int, batch_seconds: float
) -> list[str]:
    """Validate the options every runner shares; the selected extractor names (default:
    every registered one), in order, without repeats."""
    if limit is not None and limit < 0:
        raise ConfigError(f"--limit must be >= 0, got {limit}")
    if rows_per_part < 1:
        raise ConfigError(f"rows per part must be >= 1, got {rows_per_part}")
    if batch_seconds <= 0:
        raise ConfigError(f"--batch-seconds must be positive, got {batch_seconds}")
    selected = list(dict.fromkeys(names)) if names else registry.names()
    known = set(registry.names())
    unknown = [n for n in selected if n not in known]
    if unknown:
        raise ConfigError(f"unknown extractor(s) {unknown}; known: {', '.join(sorted(known))}")
    return selected


def run_extraction(
    workdir: Workdir,
    names: Sequence[str] | None = None,
    *,
    device: str = "auto",
    batch_seconds: float = DEFAULT_BATCH_SECONDS,
    limit: int | None = None,
    manifest: pd.DataFrame | str | Path | None = None,
    rows_per_part: int = DEFAULT_ROWS_PER_PART,
    extractor_kwargs: dict[str, dict[str, Any]] | None = None,
    show_progress: bool | None = None,
) -> ExtractionSummary:
    """Extract features for every utterance of the validated manifest not yet extracted.

    ``names``: extractors to run (default: every registered one; those whose checkpoint is
    missing are reported and skipped).  A missing checkpoint never stops the others.
    """
    selected = check_run_options(
        names, limit=limit, rows_per_part=rows_per_part, batch_seconds=batch_seconds
    )
    resolved = resolve_device(device)
    frame, mhash = load_manifest(workdir, manifest)
    kwargs = extractor_kwargs or {}
    runs = [
        _run_one(
            name,
            workdir,
            frame,
            mhash,
            device=resolved,
            batch_seconds=batch_seconds,
            limit=limit,
            rows_per_part=rows_per_part,
            extractor_kwargs=dict(kwargs.get(name, {})),
            show_progress=show_progress,
        )
        for name in selected
    ]
    return ExtractionSummary(runs)
