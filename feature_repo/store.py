"""The feature store of one work directory: apply, materialize, read (offline/online), push.

Every function takes a :class:`~nordlid.workdir.Workdir` (``None``: from the environment).
Settings come from the environment (see :mod:`feature_repo.settings`) and are written to
``<workdir>/data/feast/feature_store.yaml`` so the Feast CLI sees the same configuration.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from extractors.spec import ExtractorSpec
from feature_repo.config import REPO_DIR, write_config
from feature_repo.definitions import (
    JOIN_KEY,
    LABELS_VIEW,
    build_definitions,
    push_source_name,
)
from feature_repo.feast_compat import fix_created_ties
from feature_repo.online import RedisOnlineReader, ViewFields
from feature_repo.settings import ENV_VARS, FeastSettings, settings_from_env
from feature_repo.validate import ViewSchema, check_views, parquet_files
from nordlid.atomic import atomic_path
from nordlid.errors import ConfigError, NordlidError
from nordlid.workdir import Workdir

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView

logger = logging.getLogger(__name__)


class FeatureStoreError(NordlidError):
    """A request the feature store cannot answer (unknown service, bad entity frame, ...)."""


@dataclass
class _Handle:
    store: FeatureStore
    settings: FeastSettings
    readers: dict[str, RedisOnlineReader] = field(default_factory=dict)
    redis_client: Any = None


_HANDLES: dict[tuple[str, FeastSettings], _Handle] = {}
_SETTINGS: dict[tuple[str | None, ...], FeastSettings] = {}
_LOCK = threading.Lock()


def _workdir(workdir: Workdir | None) -> Workdir:
    return workdir if workdir is not None else Workdir.from_env()


def _handle(workdir: Workdir | None) -> _Handle:
    from feast import FeatureStore

    wd = _workdir(workdir)
    env_key = (str(wd.root), *(os.environ.get(v) for v in ENV_VARS))
    settings = _SETTINGS.get(env_key)
    if settings is None:
        settings = _SETTINGS[env_key] = settings_from_env(wd)
    key = (str(wd.root), settings)
    with _LOCK:
        handle = _HANDLES.get(key)
        if handle is None:
            path = write_config(wd, settings)
            store = FeatureStore(repo_path=str(REPO_DIR), fs_yaml_file=path)
            handle = _Handle(store=store, settings=settings)
            _HANDLES[key] = handle
        return handle


def get_store(workdir: Workdir | None = None) -> FeatureStore:
    """The Feast ``FeatureStore`` of this work directory (cached per settings)."""
    return _handle(workdir).store


def close(workdir: Workdir | None = None) -> None:
    """Forget cached stores (all, or those of one work directory)."""
    with _LOCK:
        for key in list(_HANDLES):
            if workdir is None or key[0] == str(workdir.root):
                handle = _HANDLES.pop(key)
                if handle.redis_client is not None:
                    handle.redis_client.close()


# --- apply ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    views: list[str]
    services: list[str]
    deleted: list[str]
    config_path: Path


def apply(workdir: Workdir | None = None, specs: list[ExtractorSpec] | None = None) -> ApplyResult:
    """Register the definitions derived from the extractor registry (like ``feast apply``).

    Objects in the registry that the definitions no longer contain are deleted.
    """
    from extractors.registry import all_specs

    wd = _workdir(workdir)
    wd.feast.mkdir(parents=True, exist_ok=True)
    defs = build_definitions(wd, all_specs() if specs is None else specs)
    handle = _handle(wd)
    store = handle.store
    wanted = {type(o).__name__ + ":" + o.name for o in defs.objects()}
    stale: list[Any] = []
    for listing in (
        store.list_feature_services(),
        store.list_feature_views(),
        store.list_data_sources(),
        store.list_entities(),
    ):
        for obj in listing:
            if obj.name.startswith("__"):
                continue
            if type(obj).__name__ + ":" + obj.name not in wanted:
                stale.append(obj)
    store.apply(defs.objects(), objects_to_delete=stale, partial=False)
    handle.readers.clear()
    deleted = [o.name for o in stale]
    if deleted:
        logger.info("removed from the registry: %s", ", ".join(sorted(deleted)))
    logger.info(
        "applied %d feature views and %d feature services to project %s",
        len(defs.views),
        len(defs.services),
        handle.settings.project,
    )
    return ApplyResult(
        views=sorted(defs.views),
        services=sorted(defs.services),
        deleted=sorted(deleted),
        config_path=wd.feast / "feature_store.yaml",
    )


# --- materialize --------------------------------------------------------------------------


def _source_path(view: FeatureView) -> Path:
    source = view.batch_source
    path = getattr(source, "path", None)
    if not path:
        raise ConfigError(f"feature view {view.name!r} has no file source")
    return Path(str(path))


def view_schema(view: FeatureView) -> ViewSchema:
    """What the registered view expects of its Parquet files."""
    features: dict[str, int | None] = {}
    for f in view.features:
        features[f.name] = int(f.vector_length) if f.vector_length else None
    return ViewSchema(view=view.name, path=_source_path(view), features=features)


def _registered_views(store: FeatureStore) -> list[FeatureView]:
    views = store.list_feature_views()
    if not views:
        raise FeatureStoreError("the feature registry is empty: run `nordlid features apply` first")
    return views


@dataclass(frozen=True)
class MaterializeResult:
    end: datetime
    rows: dict[str, int]
    """rows found in each view's files (0: no data yet, view skipped)."""
    materialized: list[str]


def check_feature_files(workdir: Workdir | None = None) -> dict[str, int]:
    """Validate every view's Parquet files against the registry (vector lengths, columns)."""
    wd = _workdir(workdir)
    store = get_store(wd)
    schemas = [view_schema(v) for v in _registered_views(store)]
    return check_views(schemas, cache_dir=wd.feast)


def materialize(
    workdir: Workdir | None = None,
    end: datetime | None = None,
    views: Sequence[str] | None = None,
) -> MaterializeResult:
    """``feast materialize-incremental`` for every view that has data, after validation.

    A view whose files disagree with the registry raises :class:`FeatureTableError` before
    anything is written.  Re-running is idempotent: only newer rows are written again.
    """
    wd = _workdir(workdir)
    store = get_store(wd)
    registered = {v.name: v for v in _registered_views(store)}
    selected = list(registered) if views is None else list(views)
    unknown = [v for v in selected if v not in registered]
    if unknown:
        raise FeatureStoreError(
            f"unknown feature view(s) {', '.join(unknown)}; "
            f"registered: {', '.join(sorted(registered))}"
        )
    rows = check_views([view_schema(registered[v]) for v in selected], cache_dir=wd.feast)
    end_ts = end if end is not None else datetime.now(UTC)
    if end_ts.tzinfo is None:
        end_ts = end_ts.replace(tzinfo=UTC)
    with_data = [v for v in selected if rows.get(v, 0) > 0]
    for v in selected:
        if v not in with_data:
            logger.info(
                "feature view %s has no data yet (%s); skipped", v, _source_path(registered[v])
            )
    if with_data:
        # with Redis the generated configuration selects nordlid's engine and online store
        # plugins (feature_repo.redis_plugin): Parquet views are written by the direct writer
        store.materialize_incremental(end_date=end_ts, feature_views=with_data)
    return MaterializeResult(end=end_ts, rows=rows, materialized=with_data)


def _redis_client(handle: _Handle) -> Any:
    if handle.redis_client is None:
        import redis

        assert handle.settings.redis is not None
        handle.redis_client = redis.Redis(**handle.settings.redis.client_kwargs())  # type: ignore[arg-type]
    return handle.redis_client


# --- reads ---------------------------------------------------------------------------------


def _service_refs(store: FeatureStore, service: str | Sequence[str]) -> tuple[Any, list[str]]:
    """(what Feast accepts as ``features``, full feature names ``view__feature``)."""
    from feast.errors import FeatureServiceNotFoundException

    if isinstance(service, str):
        try:
            fs = store.get_feature_service(service, allow_cache=True)
        except FeatureServiceNotFoundException:
            known = sorted(s.name for s in store.list_feature_services())
            raise FeatureStoreError(
                f"unknown feature service {service!r}; "
                f"known: {', '.join(known) or 'none (run apply)'}"
            ) from None
        names = [
            f"{p.name_to_use()}__{f.name}" for p in fs.feature_view_projections for f in p.features
        ]
        return fs, names
    refs = list(service)
    bad = [r for r in refs if r.count(":") != 1]
    if bad:
        raise FeatureStoreError(f"feature references must look like 'view:feature': {bad}")
    return refs, [r.replace(":", "__") for r in refs]


def _views_of(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(n.split("__", 1)[0] for n in names))


def historical_features(
    workdir: Workdir | None,
    service: str | Sequence[str],
    entity_df: pd.DataFrame,
) -> pd.DataFrame:
    """Point-in-time join of ``entity_df`` (``utterance_id``, ``event_timestamp``, extra
    columns kept) with the service's features, as ``view__feature`` columns.

    Rows keep the order of ``entity_df``; ``found`` is False where a view had no row at or
    before the entity timestamp (its features are then null, never filled in).
    """
    for column in (JOIN_KEY, "event_timestamp"):
        if column not in entity_df.columns:
            raise FeatureStoreError(f"entity_df has no column {column!r}")
    store = get_store(workdir)
    features, names = _service_refs(store, service)
    frame = entity_df.copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame[_ROW] = np.arange(len(frame))
    result = _join(store, frame, features)
    if len(result) != len(frame):
        # Feast's file (dask) offline store drops an entity row whose utterance has feature
        # rows, but only later than the entity timestamp.  Join view by view and put every
        # entity row back, so one view's gap never loses another view's values.
        result = frame
        for view in _views_of(names):
            refs = [n.replace("__", ":", 1) for n in names if n.startswith(f"{view}__")]
            part = _join(store, frame[[JOIN_KEY, "event_timestamp", _ROW]], refs)
            part = part.drop(columns=[JOIN_KEY, "event_timestamp"])
            result = result.merge(part, on=_ROW, how="left")
    result = result.sort_values(_ROW, kind="stable").reset_index(drop=True).drop(columns=[_ROW])
    for view in _views_of(names):
        cols = [n for n in names if n.startswith(f"{view}__")]
        _fix_created_ties(store, view, result, cols)
    found = np.ones(len(result), dtype=bool)
    for view in _views_of(names):
        cols = [n for n in names if n.startswith(f"{view}__")]
        found &= result[cols].notna().any(axis=1).to_numpy()
    result["found"] = found
    return result


_ROW = "__nordlid_row"


def _fix_created_ties(
    store: FeatureStore, view: str, result: pd.DataFrame, cols: list[str]
) -> None:
    """The latest ``created_timestamp`` wins among rows of one event time (see
    :func:`feature_repo.feast_compat.fix_created_ties`)."""
    from feast.errors import FeatureViewNotFoundException

    try:
        fv = store.get_feature_view(view, allow_registry_cache=True)
    except FeatureViewNotFoundException:
        return
    created = getattr(fv.batch_source, "created_timestamp_column", "")
    fix_created_ties(result, parquet_files(_source_path(fv)), created, cols, JOIN_KEY)


def _join(store: FeatureStore, frame: pd.DataFrame, features: Any) -> pd.DataFrame:
    job = store.get_historical_features(entity_df=frame, features=features, full_feature_names=True)
    return job.to_df()


def _reader(handle: _Handle, service: str | Sequence[str]) -> RedisOnlineReader:
    key = service if isinstance(service, str) else "\x00".join(service)
    reader = handle.readers.get(key)
    if reader is not None:
        return reader
    store = handle.store
    _, names = _service_refs(store, service)
    registered = {v.name: v for v in store.list_feature_views(allow_cache=True)}
    view_fields: list[ViewFields] = []
    for view in _views_of(names):
        fv = registered[view]
        lengths = {f.name: (int(f.vector_length) if f.vector_length else None) for f in fv.features}
        feats = tuple(
            (n.split("__", 1)[1], lengths[n.split("__", 1)[1]])
            for n in names
            if n.startswith(f"{view}__")
        )
        view_fields.append(ViewFields(view=view, features=feats))
    reader = RedisOnlineReader(
        _redis_client(handle),
        handle.settings.project,
        view_fields,
        join_key=JOIN_KEY,
        entity_key_serialization_version=store.config.entity_key_serialization_version,
    )
    handle.readers[key] = reader
    return reader


def _to_vector(value: Any) -> Any:
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    return value


def _online_via_feast(
    store: FeatureStore, service: str | Sequence[str], utterance_ids: Sequence[str]
) -> dict[str, list[Any]]:
    from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

    features, names = _service_refs(store, service)
    response = store.get_online_features(
        features=features,
        entity_rows=[{JOIN_KEY: uid} for uid in utterance_ids],
        full_feature_names=True,
    )
    data = response.to_dict()
    out: dict[str, list[Any]] = {JOIN_KEY: list(utterance_ids)}
    statuses = dict(
        zip(response.proto.metadata.feature_names.val, response.proto.results, strict=True)
    )
    missing: list[list[str]] = [[] for _ in utterance_ids]
    for view in _views_of(names):
        cols = [n for n in names if n.startswith(f"{view}__")]
        for i in range(len(utterance_ids)):
            # Feast's Redis store reports a missing entity as PRESENT with an empty value and
            # no event timestamp; SQLite reports NOT_FOUND.  Either way: no row for this view.
            if not any(
                statuses[c].statuses[i] == FieldStatus.PRESENT
                and statuses[c].event_timestamps[i].ToNanoseconds() != 0
                for c in cols
            ):
                missing[i].append(view)
    for n in names:
        values = [_to_vector(v) for v in data[n]]
        for i, miss in enumerate(missing):
            if n.split("__", 1)[0] in miss:
                values[i] = None
        out[n] = values
    out["found"] = [not m for m in missing]
    out["missing_views"] = missing
    return out


def online_features(
    workdir: Workdir | None,
    service: str | Sequence[str],
    utterance_ids: Sequence[str],
) -> pd.DataFrame:
    """Latest values of a service's features for ``utterance_ids`` (one row each, in order).

    Columns: ``utterance_id``, ``view__feature`` (vectors as float32 arrays), ``found`` (all
    views present) and ``missing_views``.  Features of a missing view are None — never zeros.
    """
    handle = _handle(workdir)
    ids = [str(u) for u in utterance_ids]
    if handle.settings.online == "redis":
        return _reader(handle, service).read_frame(ids)
    return pd.DataFrame(_online_via_feast(handle.store, service, ids))


# --- push ------------------------------------------------------------------------------------


PushTarget = Literal["online", "online_and_offline"]


def push(
    workdir: Workdir | None,
    view: str,
    rows_df: pd.DataFrame,
    to: PushTarget = "online",
) -> int:
    """Write features computed at serve time through the view's PushSource.

    ``rows_df`` has ``utterance_id``, ``event_timestamp`` (and optionally
    ``created_timestamp``) and the view's features.  ``online_and_offline`` also appends
    the rows as a new part file to the view's Parquet dataset (so training sees them).
    Returns the number of rows pushed.
    """
    from feast.data_source import PushMode

    wd = _workdir(workdir)
    store = get_store(wd)
    if view == LABELS_VIEW:
        raise FeatureStoreError(
            f"{LABELS_VIEW!r} comes from the validated manifest; it has no push source"
        )
    from feast.errors import FeatureViewNotFoundException

    try:
        fv = store.get_feature_view(view, allow_registry_cache=True)
    except FeatureViewNotFoundException:
        known = ", ".join(sorted(v.name for v in store.list_feature_views()))
        raise FeatureStoreError(f"unknown feature view {view!r}; known: {known}") from None
    schema = view_schema(fv)
    frame = _push_frame(schema, rows_df)
    if to not in ("online", "online_and_offline"):
        raise FeatureStoreError(f"push target {to!r}: expected 'online' or 'online_and_offline'")
    if to == "online_and_offline":
        _append_part(schema, frame)
    store.push(push_source_name(view), frame, to=PushMode.ONLINE)
    return len(frame)


def _push_frame(schema: ViewSchema, rows_df: pd.DataFrame) -> pd.DataFrame:
    needed = [JOIN_KEY, "event_timestamp", *schema.features]
    missing = [c for c in needed if c not in rows_df.columns]
    if missing:
        raise FeatureStoreError(f"push to {schema.view!r}: missing columns {missing}")
    frame = rows_df[needed].copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    if "created_timestamp" in rows_df.columns:
        frame["created_timestamp"] = pd.to_datetime(rows_df["created_timestamp"], utc=True)
    else:
        frame["created_timestamp"] = pd.Timestamp.now(tz="UTC")
    for name, length in schema.features.items():
        if length is None:
            continue
        vectors = [np.asarray(v, dtype=np.float32) for v in frame[name]]
        for i, vec in enumerate(vectors):
            if vec.shape != (length,):
                raise FeatureStoreError(
                    f"push to view {schema.view!r}: feature {name!r} row {i} has length "
                    f"{vec.size}, but the registry declares vector_length {length}"
                )
        frame[name] = vectors
    return frame


def _append_part(schema: ViewSchema, frame: pd.DataFrame) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [JOIN_KEY, "event_timestamp", "created_timestamp", *schema.features]
    existing = parquet_files(schema.path)
    if existing:
        arrow_schema = pq.read_schema(existing[0])
        table = pa.Table.from_pandas(frame[columns], preserve_index=False).select(
            [n for n in arrow_schema.names if n in columns]
        )
        table = table.cast(pa.schema([arrow_schema.field(n) for n in table.column_names]))
    else:
        table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    schema.path.mkdir(parents=True, exist_ok=True)
    final = schema.path / f"part-push-{uuid.uuid4().hex}.parquet"
    with atomic_path(final) as tmp:
        pq.write_table(table, tmp)
    logger.debug("appended %d pushed rows to %s", len(frame), final)
    return final
