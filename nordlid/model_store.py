"""Where model versions live on disk: ``models/<name>/<version>/``, aliases, references.

The storage layer of the model registry, shared by every package that loads or publishes
a model (``extractors`` loads a trained backbone, ``training`` publishes heads and
backbones, ``serving`` loads heads).  A reference is ``name`` (latest), ``name@3``,
``name@alias`` or ``@alias`` (a global alias).  A version counts once its ``card.json``
exists (the card itself is :class:`training.registry.ModelCard`).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Literal

from nordlid.atomic import atomic_write_text
from nordlid.errors import NordlidError

log = logging.getLogger(__name__)

CARD_FILE = "card.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ModelNotFoundError(NordlidError):
    """A model reference does not resolve to a registered version."""


class ModelStore:
    """Versions and aliases of every model under one ``models/`` directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ paths & listing
    def model_dir(self, name: str) -> Path:
        return self.root / name

    def version_dir(self, name: str, version: int) -> Path:
        return self.root / name / str(version)

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        d = self.model_dir(name)
        if not d.exists():
            return []
        return sorted(
            int(p.name) for p in d.iterdir() if p.name.isdigit() and (p / CARD_FILE).exists()
        )

    # ------------------------------------------------------------------ writing
    def new_version(self, name: str) -> tuple[int, Path]:
        """Reserve the next version directory (safe against concurrent writers)."""
        if not NAME_RE.match(name):
            raise NordlidError(f"model name {name!r}: use letters, digits, '-', '_' or '.'")
        self.model_dir(name).mkdir(parents=True, exist_ok=True)
        existing = [int(p.name) for p in self.model_dir(name).iterdir() if p.name.isdigit()]
        version = max(existing, default=0) + 1
        while True:
            path = self.version_dir(name, version)
            try:
                path.mkdir()
                return version, path
            except FileExistsError:
                version += 1

    # ------------------------------------------------------------------ aliases
    def _global_path(self) -> Path:
        return self.root / "aliases.json"

    def _model_alias_path(self, name: str) -> Path:
        return self.model_dir(name) / "aliases.json"

    def global_aliases(self) -> dict[str, str]:
        p = self._global_path()
        return json.loads(p.read_text()) if p.exists() else {}

    def model_aliases(self, name: str) -> dict[str, int]:
        p = self._model_alias_path(name)
        return {k: int(v) for k, v in json.loads(p.read_text()).items()} if p.exists() else {}

    def set_alias(
        self, ref: str, alias: str, *, scope: Literal["global", "model"] = "global"
    ) -> str:
        """Point ``alias`` at ``ref``; global aliases also set the model's own alias."""
        if not NAME_RE.match(alias) or alias.isdigit():
            raise NordlidError(f"alias {alias!r}: use letters, digits, '-', '_' (not only digits)")
        name, version = self.resolve(ref)
        own = self.model_aliases(name)
        own[alias] = version
        atomic_write_text(self._model_alias_path(name), json.dumps(own, indent=2, sort_keys=True))
        if scope == "global":
            aliases = self.global_aliases()
            aliases[alias] = f"{name}@{version}"
            atomic_write_text(self._global_path(), json.dumps(aliases, indent=2, sort_keys=True))
        log.info("alias %s → %s@%d", alias, name, version)
        return f"{name}@{version}"

    # ------------------------------------------------------------------ resolving
    def resolve(self, ref: str) -> tuple[str, int]:
        """``name`` | ``name@3`` | ``name@alias`` | ``@alias`` → (name, version)."""
        name, sep, tag = ref.strip().partition("@")
        if not name:
            if not tag:
                raise ModelNotFoundError(f"model reference {ref!r} is empty")
            target = self.global_aliases().get(tag)
            if target is None:
                known = ", ".join(sorted(self.global_aliases())) or "none set"
                raise ModelNotFoundError(f"global alias @{tag} is not set (set: {known})")
            return self.resolve(target)
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise ModelNotFoundError(f"model {name!r} is not registered (registered: {known})")
        if not sep:
            return name, versions[-1]
        if tag.isdigit():
            if int(tag) not in versions:
                raise ModelNotFoundError(
                    f"model {name!r} has no version {tag} (versions: {versions})"
                )
            return name, int(tag)
        own = self.model_aliases(name)
        if tag in own:
            return name, own[tag]
        target = self.global_aliases().get(tag, "")
        if target.partition("@")[0] == name:
            return self.resolve(target)
        raise ModelNotFoundError(
            f"model {name!r} has no alias {tag!r} (aliases: {', '.join(sorted(own)) or 'none'})"
        )

    def path(self, ref: str) -> Path:
        return self.version_dir(*self.resolve(ref))
