"""Feast objects derived from the extractor registry (never hand-duplicated).

``build_definitions(workdir, specs)`` builds, without side effects: one entity, one labels
view, and per extractor one FileSource (``data/features/<extractor>/``), one PushSource
backed by it, one FeatureView (``spec.view_name``) and one FeatureService ``lid_<view>``;
plus the recipe services of :mod:`feature_repo.recipes` (which look at which feature
directories hold parts: the mini recipe needs an extracted ``lidnet-mini``).  Adding an
extractor to the registry adds its view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from extractors.spec import ExtractorSpec, FeatureColumn
from extractors.store import part_files
from feature_repo.recipes import recipe_views
from nordlid.workdir import Workdir

if TYPE_CHECKING:
    from feast import Entity, FeatureService, FeatureView, FileSource, PushSource

ENTITY_NAME = "utterance"
JOIN_KEY = "utterance_id"
LABELS_VIEW = "utterance_labels"
LABEL_COLUMNS: dict[str, str] = {
    "language": "string",
    "split": "string",
    "source": "string",
    "speaker_id": "string",
    "gender": "string",
    "duration_s": "float64",
}
# Features describe an utterance for good: no expiry in practice (Feast's ttl=0 would make
# `materialize-incremental` start only one year back on its first run).
FEATURE_TTL = timedelta(days=365 * 100)


def service_name(view: str) -> str:
    return f"lid_{view}"


def push_source_name(view: str) -> str:
    return f"{view}_push"


def _feast_dtype(column: FeatureColumn) -> Any:
    from feast.types import Array, Float32, Float64, Int64, String

    if column.length is not None:
        return Array(Float32)
    return {"float32": Float32, "float64": Float64, "int64": Int64, "string": String}[column.dtype]


def _field(column: FeatureColumn) -> Any:
    from feast import Field

    return Field(
        name=column.name,
        dtype=_feast_dtype(column),
        vector_length=column.length or 0,
        description=column.description,
    )


@dataclass
class Definitions:
    """Every Feast object of the repo, by name."""

    entity: Entity
    sources: dict[str, FileSource] = field(default_factory=dict)
    push_sources: dict[str, PushSource] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    specs: dict[str, ExtractorSpec] = field(default_factory=dict)
    """view name → the extractor spec it was derived from."""

    def objects(self) -> list[Any]:
        return [
            self.entity,
            *self.sources.values(),
            *self.push_sources.values(),
            *self.views.values(),
            *self.services.values(),
        ]


def _labels_view(workdir: Workdir, entity: Entity) -> tuple[FileSource, FeatureView]:
    from feast import FeatureView, FileSource

    source = FileSource(
        name=f"{LABELS_VIEW}_source",
        path=str(workdir.validated_manifest),
        timestamp_field="event_timestamp",
        description="validated manifest (data/validated/manifest.parquet)",
    )
    view = FeatureView(
        name=LABELS_VIEW,
        entities=[entity],
        ttl=FEATURE_TTL,
        schema=[_field(FeatureColumn(n, dtype=t)) for n, t in LABEL_COLUMNS.items()],  # type: ignore[arg-type]
        source=source,
        online=True,
        description="labels and metadata of each utterance",
        tags={"kind": "labels"},
    )
    return source, view


def _extractor_view(
    workdir: Workdir, spec: ExtractorSpec, entity: Entity
) -> tuple[FileSource, PushSource, FeatureView]:
    from feast import FeatureView, FileSource, PushSource

    view_name = spec.view_name
    source = FileSource(
        name=f"{view_name}_source",
        path=str(workdir.feature_dir(spec.name)),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        description=f"Parquet dataset written by extractor {spec.name!r}",
    )
    push = PushSource(
        name=push_source_name(view_name),
        batch_source=source,
        description=f"features computed at serve time by extractor {spec.name!r}",
    )
    tags = {
        "kind": "extractor",
        "extractor": spec.name,
        "extractor_version": spec.version,
        "vector_lengths": ",".join(f"{c.name}={c.length}" for c in spec.columns if c.length),
    }
    if spec.checkpoint:
        tags["checkpoint"] = spec.checkpoint
    view = FeatureView(
        name=view_name,
        entities=[entity],
        ttl=FEATURE_TTL,
        schema=[_field(c) for c in spec.columns],
        source=push,
        online=True,
        description=spec.description or f"features of extractor {spec.name!r}",
        tags=tags,
    )
    return source, push, view


def build_definitions(workdir: Workdir, specs: list[ExtractorSpec]) -> Definitions:
    """All Feast objects for ``specs`` with data paths under ``workdir``."""
    from feast import Entity, FeatureService, ValueType

    entity = Entity(
        name=ENTITY_NAME,
        join_keys=[JOIN_KEY],
        value_type=ValueType.STRING,
        description="one utterance (manifest utterance_id)",
    )
    defs = Definitions(entity=entity)
    labels_source, labels_view = _labels_view(workdir, entity)
    defs.sources[labels_source.name] = labels_source
    defs.views[LABELS_VIEW] = labels_view

    for spec in specs:
        view_name = spec.view_name
        if view_name in defs.views:
            raise ValueError(f"two extractors map to the same feature view name {view_name!r}")
        source, push, view = _extractor_view(workdir, spec, entity)
        defs.sources[source.name] = source
        defs.push_sources[push.name] = push
        defs.views[view_name] = view
        defs.specs[view_name] = spec
        name = service_name(view_name)
        defs.services[name] = FeatureService(
            name=name,
            features=[view],
            description=f"all features of extractor {spec.name!r}",
            tags={"kind": "extractor"},
        )

    extracted = [v for v, spec in defs.specs.items() if part_files(workdir.feature_dir(spec.name))]
    for recipe, views in recipe_views(defs.specs, extracted).items():
        defs.services[recipe] = FeatureService(
            name=recipe,
            features=[defs.views[v] for v in views],
            description=f"model recipe {recipe}: {', '.join(views)}",
            tags={"kind": "recipe", "views": ",".join(views)},
        )
    return defs
