"""Declarations shared by every consumer of features (the single source of truth).

An :class:`ExtractorSpec` names an extractor, its version and its output columns with
fixed vector lengths.  The Feast repo, training and serving derive from these specs; no
other module hard-codes a feature name or dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

DType = Literal["float32", "float64", "int64", "string"]

KEY_COLUMNS: tuple[str, ...] = ("utterance_id", "event_timestamp", "created_timestamp")


@dataclass(frozen=True)
class FeatureColumn:
    """One output column. ``length`` set → ``list<float32>`` of exactly that length."""

    name: str
    dtype: DType = "float32"
    length: int | None = None
    description: str = ""

    @property
    def is_vector(self) -> bool:
        return self.length is not None

    def arrow_type(self) -> pa.DataType:
        if self.length is not None:
            return pa.list_(pa.float32())
        return {
            "float32": pa.float32(),
            "float64": pa.float64(),
            "int64": pa.int64(),
            "string": pa.string(),
        }[self.dtype]


@dataclass(frozen=True)
class ExtractorSpec:
    """Name, version and output schema of one extractor."""

    name: str
    version: str
    columns: tuple[FeatureColumn, ...]
    description: str = ""
    checkpoint: str | None = None
    needs_weights: bool = False
    params: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def view_name(self) -> str:
        """Feast-safe identifier (``whisper-tiny`` → ``whisper_tiny``)."""
        return self.name.replace("-", "_")

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> FeatureColumn:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"extractor {self.name!r} has no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        fields = [
            pa.field("utterance_id", pa.string(), nullable=False),
            pa.field("event_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("created_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        ]
        fields += [pa.field(c.name, c.arrow_type()) for c in self.columns]
        return pa.schema(fields)

    @property
    def total_dim(self) -> int:
        return sum(c.length or 1 for c in self.columns if c.dtype != "string")
