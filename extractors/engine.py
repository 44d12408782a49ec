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
import contextvars
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


def joint_batches(
    planned: Sequence[list[int]], batch_lists: Sequence[list[list[int]]]
) -> list[tuple[list[int], list[list[int]]]]:
    """One decode schedule for several extractors' pending batches.

    ``planned`` is the plan over the whole manifest that every extractor's batches were cut
    from (:func:`_pending_batches`: each of its batches is a subset of one planned batch).
    Returns, in planned order, ``(rows to decode, [rows of extractor k])``: each row is
    decoded once for all the extractors that still need it, and every extractor sees
    exactly the batches it would have seen on its own.
    """
    where = {i: k for k, batch in enumerate(planned) for i in batch}
    grouped: dict[int, list[list[int]]] = {}
    for k, batches in enumerate(batch_lists):
        for batch in batches:
            slot = grouped.setdefault(where[batch[0]], [[] for _ in batch_lists])
            slot[k] = list(batch)
    out = []
    for g in sorted(grouped):
        members = grouped[g]
        needed = {i for m in members for i in m}
        out.append(([i for i in planned[g] if i in needed], members))
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


def finish_run(
    run: ExtractorRun, started: float, runner: str = "", *, seconds: float | None = None
) -> ExtractorRun:
    """Record the wall time (``seconds``, or the time since ``started``) and log the
    summary line of one extractor's run."""
    run.wall_seconds = time.perf_counter() - started if seconds is None else seconds
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


class _PendingOutput:
    """One pending extractor's side of a joint pass: its rows of each decoded batch go
    through :func:`extract_waves` into buffered parts; ``seconds`` counts its own time."""

    def __init__(
        self,
        plan: RunPlan,
        extractor: Extractor,
        ids: list[str],
        events: list[Any],
        lineage: dict[str, Any],
        rows_per_part: int,
    ) -> None:
        self.plan, self.extractor, self.lineage = plan, extractor, lineage
        self.rows_per_part = rows_per_part
        self.ids, self.events = ids, events  # the manifest's, shared by every output
        self.buffer: tuple[list[str], list[Any], list[Row]] = ([], [], [])
        self.seconds = 0.0

    def take(self, batch: list[int], decoded: dict[int, np.ndarray | AudioDecodeError]) -> float:
        """Extract ``batch`` (manifest rows) from the decoded waves; its audio seconds."""
        started = time.perf_counter()
        run = self.plan.run
        ok: list[tuple[int, np.ndarray]] = []
        for i in batch:
            wave = decoded[i]
            if isinstance(wave, AudioDecodeError):
                log.warning("%s: %s skipped: %s", run.name, self.ids[i], wave)
                run.failed.append(f"{self.ids[i]}: {wave}")
            else:
                ok.append((i, wave))
        rows = extract_waves(self.extractor, [w for _, w in ok]) if ok else []
        audio_seconds = sum(len(w) for _, w in ok) / TARGET_SAMPLE_RATE
        for (i, _), row in zip(ok, rows, strict=True):
            self.buffer[0].append(self.ids[i])
            self.buffer[1].append(self.events[i])
            self.buffer[2].append(row)
        run.extracted += len(ok)
        run.audio_seconds += audio_seconds
        if len(self.buffer[0]) >= self.rows_per_part:
            self.flush()
        self.seconds += time.perf_counter() - started
        return audio_seconds

    def flush(self) -> None:
        if not self.buffer[0]:
            return
        ids, events, rows = self.buffer
        table = rows_to_table(self.extractor.spec, ids, events, rows, datetime.now(UTC))
        self.plan.run.parts.append(write_part(self.plan.directory, table, self.lineage))
        for part in self.buffer:
            part.clear()


def _run_pending(
    plans: Sequence[RunPlan],
    frame: pd.DataFrame,
    manifest_hash: str,
    *,
    device: str,
    batch_seconds: float,
    rows_per_part: int,
    show_progress: bool | None,
    parallel: bool = False,
) -> dict[str, float]:
    """Extract every pending plan in one pass over the audio; each one's seconds by name.

    Each planned batch is decoded once (on a worker thread, one batch ahead) and handed to
    every extractor that still needs rows of it, inside one
    :func:`validation.speech_quality.shared_speech_segments` block, so extractors that
    segment speech (``acoustic`` trims silence, ``quality`` measures the speech ratio) run
    the VAD once per wave.  Parts, batches and lineage stay each extractor's own, as if it
    ran alone.  ``parallel``: the extractors of a batch run at the same time, on lanes
    that split torch's intra-op threads (see :func:`_lanes`).
    """
    from validation.speech_quality import shared_speech_segments, torch_threads

    ids = frame["utterance_id"].astype(str).tolist()
    events = frame["event_timestamp"].tolist()
    outputs = [
        _PendingOutput(
            plan,
            plan.extractor,
            ids,
            events,
            run_lineage(
                plan.extractor,
                device=device,
                manifest_hash=manifest_hash,
                batch_seconds=batch_seconds,
            ),
            rows_per_part,
        )
        for plan in plans
        if plan.pending and plan.extractor is not None
    ]
    if not outputs:
        return {}
    planned = plan_batches(frame["duration_s"].astype(float).tolist(), batch_seconds, keys=ids)
    schedule = joint_batches(planned, [out.plan.batches for out in outputs])
    paths = frame["path"].astype(str).tolist()
    total = sum(len(b) for out in outputs for b in out.plan.batches)
    label = "+".join(out.plan.run.name for out in outputs)
    lanes, threads = _lanes(len(outputs) if parallel else 1)
    with (
        ExtractionProgress(label, total, enabled=show_progress) as bar,
        _lane_pool(lanes) as pool,
        torch_threads(threads),
    ):
        decoding = _prefetched([rows for rows, _ in schedule], paths)
        for (rows, waves), (_, members) in zip(decoding, schedule, strict=True):
            decoded = dict(zip(rows, waves, strict=True))
            with shared_speech_segments():
                work = [(out, batch) for out, batch in zip(outputs, members, strict=True) if batch]
                if pool is None:
                    done = [out.take(batch, decoded) for out, batch in work]
                else:  # each lane in a copy of this context: the VAD memo stays visible
                    jobs = [
                        pool.submit(contextvars.copy_context().run, out.take, batch, decoded)
                        for out, batch in work
                    ]
                    done = [job.result() for job in jobs]
                for (_, batch), audio_seconds in zip(work, done, strict=True):
                    bar.advance(len(batch), audio_seconds)
        for out in outputs:
            out.flush()
    return {out.plan.run.name: out.seconds for out in outputs}


@contextlib.contextmanager
def _lane_pool(lanes: int) -> Iterator[ThreadPoolExecutor | None]:
    """Worker threads for ``lanes`` > 1 lanes; None (the caller's thread) for one."""
    if lanes == 1:
        yield None
        return
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="nordlid-lane") as pool:
        yield pool


def _lanes(wanted: int) -> tuple[int, int | None]:
    """``(lanes, torch threads per lane)`` for running ``wanted`` extractors at once.

    Small models gain little from a second intra-op thread (lidnet on a 3 s utterance:
    9.6 ms with two threads, 6.9 ms with one), so on a CPU of ``n`` torch threads up to
    ``n`` extractors run side by side with ``n // lanes`` threads each.  One lane keeps
    torch's setting (``None``).
    """
    import torch

    budget = torch.get_num_threads()
    lanes = max(1, min(wanted, budget))
    return (lanes, None) if lanes == 1 else (lanes, max(1, budget // lanes))


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
    parallel: bool = False,
) -> ExtractionSummary:
    """Extract features for every utterance of the validated manifest not yet extracted.

    ``names``: extractors to run (default: every registered one; those whose checkpoint is
    missing are reported and skipped).  A missing checkpoint never stops the others.  All
    of them share one pass over the audio (each file decoded once, VAD segments shared);
    ``parallel`` runs them side by side on lanes of torch threads.  An extractor's
    ``wall_seconds`` is its own share (planning, extracting, writing), not the decoding.
    """
    selected = check_run_options(
        names, limit=limit, rows_per_part=rows_per_part, batch_seconds=batch_seconds
    )
    resolved = resolve_device(device)
    frame, mhash = load_manifest(workdir, manifest)
    kwargs = extractor_kwargs or {}
    started = time.perf_counter()
    plans: list[RunPlan] = []
    planning: list[float] = []
    for name in selected:
        begun = time.perf_counter()
        plans.append(
            plan_run(
                name,
                workdir,
                frame,
                device=resolved,
                batch_seconds=batch_seconds,
                limit=limit,
                extractor_kwargs=dict(kwargs.get(name, {})),
            )
        )
        planning.append(time.perf_counter() - begun)
    spent = _run_pending(
        plans,
        frame,
        mhash,
        device=resolved,
        batch_seconds=batch_seconds,
        rows_per_part=rows_per_part,
        show_progress=show_progress,
        parallel=parallel,
    )
    for plan, seconds in zip(plans, planning, strict=True):
        if plan.run.name in spent:
            finish_run(plan.run, started, seconds=seconds + spent[plan.run.name])
    log.info("extraction of %s: %.1f s wall", ", ".join(selected), time.perf_counter() - started)
    return ExtractionSummary([plan.run for plan in plans])
