"""The extractor registry: the one place that defines names, versions and dimensions.

``all_specs()`` (default parameters) is what the Feast repo, training and serving derive
their feature names and vector lengths from.  ``create(name, ...)`` builds the extractor;
heavy libraries are imported lazily so importing this module is cheap.

OWNER: extractors.  The specs below are the contract; extend, don't fork.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from extractors.base import Extractor
from extractors.spec import ExtractorSpec
from nordlid.errors import ConfigError


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    spec: Callable[..., ExtractorSpec]
    factory: str | Callable[..., Extractor]  # "module:Class" (imported lazily) or a callable
    description: str


_ENTRIES: dict[str, RegistryEntry] = {}


def register(entry: RegistryEntry) -> None:
    """Add an extractor (this is also how a user brings their own backbone)."""
    _ENTRIES[entry.name] = entry


_BUILTIN_MODULES = (
    "extractors.builtin",  # acoustic, quality (owner: extractors engine)
    "extractors.backbones.catalog",  # xlsr, mms, whisper-*, ecapa, titanet (owner: backbones)
    "extractors.lidnet",  # nordlid's own compact backbone trained on the corpus (owner: training)
)
_loaded = False


def _load_builtin() -> None:
    """Import the modules that declare built-in entries (each exposes ``entries()``)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module_name in _BUILTIN_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # not written yet
        for entry in module.entries():
            _ENTRIES.setdefault(entry.name, entry)


def _entry(name: str) -> RegistryEntry:
    _load_builtin()
    try:
        return _ENTRIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown extractor {name!r}; known: {', '.join(sorted(_ENTRIES))}"
        ) from None


def names() -> list[str]:
    _load_builtin()
    return list(_ENTRIES)


def get_spec(name: str, **params: Any) -> ExtractorSpec:
    return _entry(name).spec(**params)


def all_specs() -> list[ExtractorSpec]:
    _load_builtin()
    return [e.spec() for e in _ENTRIES.values()]


def create(name: str, **kwargs: Any) -> Extractor:
    """Build an extractor; raises MissingCheckpointError when its weights are absent."""
    entry = _entry(name)
    if callable(entry.factory):
        extractor: Extractor = entry.factory(**kwargs)
        return extractor
    module_name, _, cls_name = entry.factory.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    extractor = cls(**kwargs)
    return extractor


def unregister(name: str) -> None:
    """Remove an entry (a user-registered one, or a built-in in tests)."""
    _load_builtin()
    _ENTRIES.pop(name, None)
