"""The work directory: every piece of generated state lives under one root.

DESIGN.md: ``NORDLID_WORKDIR`` or ``--workdir``, default the current directory, holding
``data/``, ``models/``, ``reports/`` and ``wandb/``.  Two work directories never interfere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "NORDLID_WORKDIR"


@dataclass(frozen=True)
class Workdir:
    """Paths of one work directory. Creating the object touches nothing on disk."""

    root: Path

    @classmethod
    def from_env(cls, override: str | Path | None = None) -> Workdir:
        raw = override if override is not None else os.environ.get(ENV_VAR, ".")
        return cls(Path(raw).expanduser().resolve())

    # --- top level -------------------------------------------------------------------
    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def wandb(self) -> Path:
        return self.root / "wandb"

    # --- data/ -----------------------------------------------------------------------
    @property
    def corpus_audio(self) -> Path:
        return self.data / "corpus"

    @property
    def manifest(self) -> Path:
        return self.data / "manifest.parquet"

    @property
    def validated_manifest(self) -> Path:
        return self.data / "validated" / "manifest.parquet"

    @property
    def quarantine(self) -> Path:
        return self.data / "quarantine"

    @property
    def features(self) -> Path:
        return self.data / "features"

    def feature_dir(self, extractor: str) -> Path:
        return self.features / extractor

    def superseded_dir(self, extractor: str) -> Path:
        """Parts of older versions of ``extractor``'s features: outside its view directory,
        so no Feast reader (the file offline store reads every folder under a source path)
        can join them."""
        return self.data / "superseded" / extractor

    @property
    def feast(self) -> Path:
        """Feast's registry and embedded online store live here."""
        return self.data / "feast"

    @property
    def serving_log(self) -> Path:
        return self.data / "serving_log"

    @property
    def feedback_log(self) -> Path:
        return self.data / "feedback"

    def ensure(self) -> Workdir:
        for p in (self.data, self.models, self.reports):
            p.mkdir(parents=True, exist_ok=True)
        return self
