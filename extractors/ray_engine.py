"""The extraction job on a Ray cluster: same plan, same extraction code, same Parquet dataset.

``run_extraction_ray`` is :func:`extractors.engine.run_extraction` with the work spread over
Ray Data instead of one process:

1. The driver reads the manifest (``engine.load_manifest``: same manifest hash) and plans
   the run with the local engine's own :func:`extractors.engine.plan_run` (pending
   length-bucketed batches, fingerprint, missing checkpoint, stale temps, superseded
   versions), so every batch holds exactly the utterances the local engine would put
   together.  The plan becomes a Ray Dataset, one row per planned batch, split into blocks.
2. CPU tasks decode the audio of each planned batch (``engine.decode_batch`` →
   ``nordlid.audio.load_for_model``); unreadable files travel on as per-utterance errors.
3. An actor pool (``num_gpus_per_worker`` GPUs each, or CPU) holds one extractor per actor
   and calls ``engine.extract_waves`` on each planned batch — the single in-memory path
   shared with the local engine and serving — and builds rows with ``store.rows_to_table``.
4. CPU tasks group ``rows_per_part`` rows and write each part with ``store.write_part``
   (temp name, fsync, rename) carrying the lineage JSON, so a killed job leaves only whole
   parts and a rerun (local or Ray) skips what they hold.

Every node needs the nordlid
package installed and the audio paths and the feature directory on a shared filesystem.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from extractors.batching import DEFAULT_BATCH_SECONDS
from extractors.engine import (
    DEFAULT_ROWS_PER_PART,
    ExtractionSummary,
    ExtractorRun,
    check_run_options,
    create_extractor,
    decode_batch,
    extract_waves,
    finish_run,
    load_manifest,
    plan_run,
    run_lineage,
)
from extractors.progress import ExtractionProgress
from extractors.spec import ExtractorSpec
from extractors.store import rows_to_table, write_part
from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import AudioDecodeError, ConfigError
from nordlid.workdir import Workdir

log = logging.getLogger(__name__)

ERROR_COL = "_error"
AUDIO_COL = "_audio_s"
LINEAGE_COL = "_lineage"
_TS = pa.timestamp("us", tz="UTC")
DECODE_TASK_MEMORY = 256 * 1024**2
"""Bytes reserved per decode task (a 120 s batch of 48 kHz stereo decodes to ~50 MB)."""


# --------------------------------------------------------------------------------------
# Stage 0 (driver): the plan as a table, one row per planned batch
# --------------------------------------------------------------------------------------
def plan_table(frame: pd.DataFrame, batches: Sequence[Sequence[int]]) -> pa.Table:
    """One row per planned batch: its utterance ids, audio paths and event timestamps."""
    ids = frame["utterance_id"].astype(str).tolist()
    paths = frame["path"].astype(str).tolist()
    events = pd.to_datetime(frame["event_timestamp"], utc=True).tolist()
    return pa.table(
        {
            "batch": pa.array(range(len(batches)), type=pa.int64()),
            "utterance_id": pa.array(
                [[ids[i] for i in b] for b in batches], type=pa.list_(pa.string())
            ),
            "path": pa.array([[paths[i] for i in b] for b in batches], type=pa.list_(pa.string())),
            "event_timestamp": pa.array(
                [[events[i] for i in b] for b in batches], type=pa.list_(_TS)
            ),
        }
    )


# --------------------------------------------------------------------------------------
# Stage 1 (CPU tasks): decode the audio of each planned batch
# --------------------------------------------------------------------------------------
def decode_plan_rows(table: pa.Table) -> pa.Table:
    """Add ``wave`` (16 kHz mono, null when unreadable) and ``error`` lists to plan rows."""
    waves_col: list[list[np.ndarray | None]] = []
    errors_col: list[list[str | None]] = []
    for paths in table.column("path").to_pylist():
        waves: list[np.ndarray | None] = []
        errors: list[str | None] = []
        for decoded in decode_batch(list(paths)):
            if isinstance(decoded, AudioDecodeError):
                waves.append(None)
                errors.append(str(decoded))
            else:
                waves.append(decoded)
                errors.append(None)
        waves_col.append(waves)
        errors_col.append(errors)
    return table.append_column(
        "wave", pa.array(waves_col, type=pa.list_(pa.list_(pa.float32())))
    ).append_column("error", pa.array(errors_col, type=pa.list_(pa.string())))


def _waves_of(cell: pa.ListScalar) -> list[np.ndarray | None]:
    """The waves of one planned batch (zero-copy float32 views where possible)."""
    values = cell.values
    out: list[np.ndarray | None] = []
    for i in range(len(values)):
        item = values[i]
        out.append(None if not item.is_valid else item.values.to_numpy(zero_copy_only=False))
    return out


def output_schema(spec: ExtractorSpec) -> pa.Schema:
    """Rows leaving the actors: the feature table's schema plus bookkeeping columns."""
    return (
        spec.arrow_schema()
        .append(pa.field(ERROR_COL, pa.string()))
        .append(pa.field(AUDIO_COL, pa.float64()))
        .append(pa.field(LINEAGE_COL, pa.string()))
    )


# --------------------------------------------------------------------------------------
# Stage 2 (actor pool): the extractor, one planned batch per call
# --------------------------------------------------------------------------------------
class ExtractActor:
    """Holds one extractor; turns decoded planned batches into feature rows."""

    def __init__(
        self,
        name: str,
        extractor_kwargs: dict[str, Any],
        device: str,
        manifest_hash: str,
        batch_seconds: float,
    ) -> None:
        self.extractor = create_extractor(name, device, extractor_kwargs)
        lineage = run_lineage(
            self.extractor,
            device=device,
            manifest_hash=manifest_hash,
            batch_seconds=batch_seconds,
            runner="ray",
        )
        self.lineage_json = json.dumps(lineage, sort_keys=True, default=str)
        self.schema = output_schema(self.extractor.spec)

    def __call__(self, table: pa.Table) -> pa.Table:
        outputs = [self._one(table.slice(k, 1)) for k in range(table.num_rows)]
        if not outputs:
            return self.schema.empty_table()
        return pa.concat_tables(outputs)

    def _one(self, row: pa.Table) -> pa.Table:
        spec = self.extractor.spec
        ids: list[str] = row.column("utterance_id")[0].as_py()
        events: list[datetime] = row.column("event_timestamp")[0].as_py()
        errors: list[str | None] = row.column("error")[0].as_py()
        waves = _waves_of(row.column("wave")[0])
        ok = [k for k, w in enumerate(waves) if w is not None]
        now = datetime.now(UTC)
        rows = extract_waves(self.extractor, [waves[k] for k in ok]) if ok else []  # type: ignore[misc]
        good = rows_to_table(spec, [ids[k] for k in ok], [events[k] for k in ok], rows, now)
        seconds = [len(waves[k]) / TARGET_SAMPLE_RATE for k in ok]  # type: ignore[arg-type]
        good = _with_bookkeeping(good, [None] * len(ok), seconds, self.lineage_json)
        bad = [k for k in range(len(ids)) if waves[k] is None]
        if not bad:
            return good.cast(self.schema)
        failed = _failed_rows(
            spec,
            [ids[k] for k in bad],
            [events[k] for k in bad],
            now,
            [errors[k] or "unreadable" for k in bad],
            self.lineage_json,
        )
        return pa.concat_tables([good.cast(self.schema), failed.cast(self.schema)])


def _with_bookkeeping(
    table: pa.Table, errors: list[str | None], seconds: list[float], lineage: str
) -> pa.Table:
    n = table.num_rows
    return (
        table.append_column(ERROR_COL, pa.array(errors, type=pa.string()))
        .append_column(AUDIO_COL, pa.array(seconds, type=pa.float64()))
        .append_column(LINEAGE_COL, pa.array([lineage] * n, type=pa.string()))
    )


def _failed_rows(
    spec: ExtractorSpec,
    ids: list[str],
    events: list[datetime],
    now: datetime,
    errors: list[str],
    lineage: str,
) -> pa.Table:
    n = len(ids)
    arrays: list[pa.Array] = [
        pa.array(ids, type=pa.string()),
        pa.array(events, type=_TS),
        pa.array([now] * n, type=_TS),
    ]
    arrays += [pa.nulls(n, type=c.arrow_type()) for c in spec.columns]
    base = pa.Table.from_arrays(arrays, schema=spec.arrow_schema())
    return _with_bookkeeping(base, list(errors), [0.0] * n, lineage)


# --------------------------------------------------------------------------------------
# Stage 3 (CPU tasks): atomic part files
# --------------------------------------------------------------------------------------
def write_rows(table: pa.Table, directory: str, schema: pa.Schema) -> pa.Table:
    """Write the extracted rows of ``table`` as one part; report counts and failures."""
    errors = table.column(ERROR_COL)
    good = table.filter(errors.is_null())
    bad = table.filter(errors.is_valid())
    part: str | None = None
    if good.num_rows:
        lineage = json.loads(good.column(LINEAGE_COL)[0].as_py())
        features = good.select(schema.names).cast(schema)
        part = str(write_part(Path(directory), features, lineage))
    failed = [
        f"{uid}: {err}"
        for uid, err in zip(
            bad.column("utterance_id").to_pylist(), bad.column(ERROR_COL).to_pylist(), strict=True
        )
    ]
    audio = float(pc.sum(good.column(AUDIO_COL)).as_py() or 0.0) if good.num_rows else 0.0
    return pa.table(
        {
            "part": pa.array([part], type=pa.string()),
            "rows": pa.array([good.num_rows], type=pa.int64()),
            "audio_seconds": pa.array([audio], type=pa.float64()),
            "failed": pa.array([failed], type=pa.list_(pa.string())),
        }
    )


# --------------------------------------------------------------------------------------
# Ray session and the job
# --------------------------------------------------------------------------------------
@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[None]:
    """Use the Ray instance already initialised in this process, or connect/start one.

    ``address`` (``auto``, ``ray://host:10001``, ``host:6379``) joins an existing cluster;
    without it a local instance with ``num_cpus`` CPUs is started and shut down afterwards.
    """
    import ray

    if address is not None and num_cpus is not None:
        raise ConfigError("--num-cpus applies to a local Ray instance; omit it with --address")
    if num_cpus is not None and num_cpus < 1:
        raise ConfigError(f"--num-cpus must be >= 1, got {num_cpus}")
    if ray.is_initialized():
        yield
        return
    try:
        ray.init(
            address=address,
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except ConnectionError as exc:
        raise ConfigError(f"--address {address!r}: cannot connect to Ray ({exc})") from None
    try:
        yield
    finally:
        ray.shutdown()


def _default_workers(num_gpus_per_worker: float) -> int:
    import ray

    resources = ray.cluster_resources()
    if num_gpus_per_worker > 0:
        gpus = float(resources.get("GPU", 0.0))
        if gpus < num_gpus_per_worker:
            raise ConfigError(
                f"--num-gpus-per-worker {num_gpus_per_worker}: the Ray cluster has {gpus:g} GPU(s)"
            )
        return max(1, int(gpus // num_gpus_per_worker))
    return max(1, int(float(resources.get("CPU", 1.0)) // 2))


def _run_one_ray(
    name: str,
    workdir: Workdir,
    frame: pd.DataFrame,
    manifest_hash: str,
    *,
    num_gpus_per_worker: float,
    num_workers: int | None,
    batch_seconds: float,
    limit: int | None,
    rows_per_part: int,
    extractor_kwargs: dict[str, Any],
    show_progress: bool | None,
) -> ExtractorRun:

    started = time.perf_counter()
    # Built once on the driver (CPU), as the local engine does: a missing checkpoint is
    # reported before any worker starts, and non-default parameters give the fingerprint.
    plan = plan_run(
        name,
        workdir,
        frame,
        device="cpu",
        batch_seconds=batch_seconds,
        limit=limit,
        extractor_kwargs=extractor_kwargs,
    )
    if not plan.pending or plan.extractor is None:
        return plan.run
    run, directory, batches = plan.run, plan.directory, plan.batches
    spec = plan.extractor.spec
    plan.extractor = None  # the actors build their own
    directory.mkdir(parents=True, exist_ok=True)

    workers = num_workers if num_workers is not None else _default_workers(num_gpus_per_worker)
    if workers < 1:
        raise ConfigError(f"--num-workers must be >= 1, got {workers}")
    device = "cuda" if num_gpus_per_worker > 0 else "cpu"
    dataset = _dataset(
        plan_table(frame, batches),
        min(len(batches), 4 * workers + 4),
        actor_kwargs={
            "name": name,
            "extractor_kwargs": extractor_kwargs,
            "device": device,
            "manifest_hash": manifest_hash,
            "batch_seconds": batch_seconds,
        },
        workers=workers,
        num_gpus_per_worker=num_gpus_per_worker,
        writer=functools.partial(write_rows, directory=str(directory), schema=spec.arrow_schema()),
        rows_per_part=rows_per_part,
    )
    _collect(dataset, run, name, sum(len(b) for b in batches), show_progress)
    run.parts.sort()
    return finish_run(run, started, f" on Ray ({workers} worker(s), {device})")


def _dataset(
    table: pa.Table,
    blocks: int,
    *,
    actor_kwargs: dict[str, Any],
    workers: int,
    num_gpus_per_worker: float,
    writer: Any,
    rows_per_part: int,
) -> Any:
    """decode (CPU tasks) → extract (an actor pool) → write part files, as one Ray Dataset."""
    import ray

    return (
        ray.data.from_arrow(table, override_num_blocks=max(1, blocks))
        .map_batches(
            decode_plan_rows,
            batch_size=1,
            batch_format="pyarrow",
            num_cpus=1,
            # a memory request of their own also keeps decoding in separate CPU tasks (Ray
            # Data fuses stages with equal resource requests into the actors, which would
            # then decode and extract in turn instead of overlapping the two)
            memory=DECODE_TASK_MEMORY,
        )
        .map_batches(
            ExtractActor,
            fn_constructor_kwargs=actor_kwargs,
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_gpus=num_gpus_per_worker if num_gpus_per_worker > 0 else None,
            num_cpus=1,
        )
        .map_batches(writer, batch_size=rows_per_part, batch_format="pyarrow", num_cpus=1)
    )


def _collect(
    dataset: Any, run: ExtractorRun, name: str, total: int, show_progress: bool | None
) -> None:
    """Drain the dataset's per-part summaries into ``run`` (failures logged, not lost)."""
    with ExtractionProgress(name, total, enabled=show_progress) as bar:
        for summary in dataset.iter_rows():
            failed = list(summary["failed"] or [])
            for line in failed:
                log.warning("%s: %s skipped", name, line)
            run.failed.extend(failed)
            if summary["part"]:
                run.parts.append(Path(summary["part"]))
            run.extracted += int(summary["rows"])
            run.audio_seconds += float(summary["audio_seconds"])
            bar.advance(int(summary["rows"]) + len(failed), float(summary["audio_seconds"]))


def run_extraction_ray(
    workdir: Workdir,
    names: Sequence[str] | None = None,
    *,
    address: str | None = None,
    num_gpus_per_worker: float = 0.0,
    num_cpus: int | None = None,
    num_workers: int | None = None,
    batch_seconds: float = DEFAULT_BATCH_SECONDS,
    limit: int | None = None,
    manifest: pd.DataFrame | str | Path | None = None,
    rows_per_part: int = DEFAULT_ROWS_PER_PART,
    extractor_kwargs: dict[str, dict[str, Any]] | None = None,
    show_progress: bool | None = None,
) -> ExtractionSummary:
    """:func:`extractors.engine.run_extraction` on Ray: same rows, same files, same resume.

    ``address``: an existing Ray cluster (default: the instance already initialised in this
    process, else a local one with ``num_cpus`` CPUs).  ``num_gpus_per_worker`` > 0 puts the
    extractor actors on GPUs (fractions share a GPU); ``num_workers`` sizes the actor pool
    (default: GPUs / ``num_gpus_per_worker``, or half the cluster's CPUs).
    """
    selected = check_run_options(
        names, limit=limit, rows_per_part=rows_per_part, batch_seconds=batch_seconds
    )
    if num_gpus_per_worker < 0:
        raise ConfigError(f"--num-gpus-per-worker must be >= 0, got {num_gpus_per_worker}")
    frame, mhash = load_manifest(workdir, manifest)
    kwargs = extractor_kwargs or {}
    with ray_session(address, num_cpus):
        runs = [
            _run_one_ray(
                name,
                workdir,
                frame,
                mhash,
                num_gpus_per_worker=num_gpus_per_worker,
                num_workers=num_workers,
                batch_seconds=batch_seconds,
                limit=limit,
                rows_per_part=rows_per_part,
                extractor_kwargs=dict(kwargs.get(name, {})),
                show_progress=show_progress,
            )
            for name in selected
        ]
    return ExtractionSummary(runs)
