"""The module `feast apply` discovers: every Feast object, generated from the extractor registry.

Paths resolve under ``NORDLID_WORKDIR`` (the Feast CLI changes into the repo directory before
importing this file, so the current directory cannot stand in for the work directory).
"""

from __future__ import annotations

import os

from extractors.registry import all_specs
from feature_repo.definitions import build_definitions
from nordlid.errors import ConfigError
from nordlid.workdir import ENV_VAR, Workdir

if not os.environ.get(ENV_VAR):
    raise ConfigError(
        f"set {ENV_VAR} to the work directory before running the Feast CLI on this repo "
        f"(e.g. `export {ENV_VAR}=$PWD`); feature_store.yaml and the data sources live under it"
    )

_WORKDIR = Workdir.from_env()
# the SQLite registry and online store of feature_store.yaml live here; Feast opens them next
_WORKDIR.feast.mkdir(parents=True, exist_ok=True)
_DEFS = build_definitions(_WORKDIR, all_specs())

utterance = _DEFS.entity
# Module-level names are what Feast collects; one per generated object.
globals().update({f"source_{k}": v for k, v in _DEFS.sources.items()})
globals().update({f"push_{k}": v for k, v in _DEFS.push_sources.items()})
globals().update({f"view_{k}": v for k, v in _DEFS.views.items()})
globals().update({f"service_{k}": v for k, v in _DEFS.services.items()})
