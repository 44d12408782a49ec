"""A local runner for W&B sweep files (grid or random), for when no W&B server is configured.

The same ``training/sweep.yaml`` drives ``wandb agent`` (online) and this runner (offline):
each point of the search space trains one head (tracked as its own W&B run) and the
runner reports dev macro-F1 per point, best first.  Parameters that are not head settings
(``head``) select the head kind; the rest must be settings of some head kind
(:data:`training.heads.HeadConfig`); a point drops the settings its kind does not have
(``hidden`` for ``logreg``).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nordlid.errors import ConfigError
from nordlid.workdir import Workdir
from training.heads import (
    HeadConfig,
    HeadConfigBase,
    LogRegConfig,
    head_config_fields,
    parse_head_config,
)

log = logging.getLogger(__name__)


@dataclass
class SweepPoint:
    params: dict[str, Any]
    ref: str
    dev_macro_f1: float
    test_accuracy: float | None


def load_sweep(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"--sweep {path}: file not found")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"--sweep {path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
        raise ConfigError(f"--sweep {path}: needs a 'parameters' mapping")
    method = doc.get("method", "grid")
    if method not in ("grid", "random"):
        raise ConfigError(f"--sweep {path}: method {method!r} not supported locally (grid, random)")
    allowed = head_config_fields() | {"head"}
    for name, spec in doc["parameters"].items():
        if name not in allowed:
            raise ConfigError(
                f"--sweep {path}: parameter {name!r} is not a head setting "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        if not isinstance(spec, dict) or not ("values" in spec or "value" in spec):
            raise ConfigError(f"--sweep {path}: parameter {name!r} needs 'values' or 'value'")
    return doc


def sweep_points(
    doc: dict[str, Any], *, max_runs: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    names = list(doc["parameters"])
    choices = [
        list(spec["values"]) if "values" in spec else [spec["value"]]
        for spec in doc["parameters"].values()
    ]
    grid = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]
    if doc.get("method", "grid") == "random":
        rng = np.random.default_rng(seed)
        grid = [grid[i] for i in rng.permutation(len(grid))]
    cap = max_runs or doc.get("run_cap")
    return grid[: int(cap)] if cap else grid


def head_config(params: dict[str, Any], base: HeadConfigBase | None = None) -> HeadConfig:
    """``base`` (default: logreg's defaults) updated with one sweep point; ``head`` picks
    the kind.  A grid crosses the kind with other kinds' settings, so those are dropped
    (logged); names that are no head setting at all fail."""
    values = {**(base or LogRegConfig()).model_dump(), **params}
    if "head" in values:
        values["kind"] = values.pop("head")
    try:
        return parse_head_config(values, lenient=True)
    except ValueError as exc:
        raise ConfigError(f"head parameters {params}: {exc}") from exc


def run_local_sweep(
    workdir: Workdir,
    feature_service: str,
    path: Path,
    *,
    name: str | None = None,
    max_runs: int | None = None,
    track: bool = True,
) -> list[SweepPoint]:
    """Train every point of the sweep; returns them best dev macro-F1 first."""
    from training.train import train_model

    doc = load_sweep(path)
    points = sweep_points(doc, max_runs=max_runs)
    name = name or f"{feature_service}-sweep".replace("_", "-")
    results: list[SweepPoint] = []
    for i, params in enumerate(points, 1):
        config = head_config(params)
        log.info("sweep %d/%d: %s", i, len(points), params)
        mv = train_model(
            workdir,
            feature_service,
            config.kind,
            name,
            config=config,
            track=track,
            count_cost=False,
        )
        dev = mv.card.metrics.get("dev", {})
        test = mv.card.metrics.get("test", {})
        results.append(
            SweepPoint(params, mv.ref, float(dev.get("macro_f1", 0.0)), test.get("accuracy"))
        )
    results.sort(key=lambda p: -p.dev_macro_f1)
    return results
