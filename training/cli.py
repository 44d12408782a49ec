"""`nordlid train|evaluate` — parse options, call the stage, print the outcome.

- ``nordlid train --feature-service lid_mini --head logreg --name my-model --alias staging``
- ``nordlid train --backbone lidnet`` trains nordlid's own backbone (then extract its
  features and `features apply` before a head uses ``lid_premium``)
- ``nordlid train --recipes`` trains ``mini`` and ``premium`` and tunes the cascade threshold
- ``nordlid train --feature-service lid_premium --sweep training/sweep.yaml`` runs a sweep
- ``nordlid evaluate --model lid-mini@mini`` re-evaluates one model and prints the table
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from nordlid.errors import ConfigError

if TYPE_CHECKING:
    from nordlid.workdir import Workdir


def train(
    feature_service: str | None = typer.Option(
        None,
        "--feature-service",
        "-s",
        help="Feast feature service (lid_mini, lid_premium, lid_<view>).",
    ),
    head: str = typer.Option("logreg", "--head", help="logreg, lda, mlp or fusion."),
    name: str | None = typer.Option(
        None, "--name", help="Registry name (default: <service>-<head>)."
    ),
    alias: list[str] = typer.Option(
        [], "--alias", help="Aliases to set (production, staging, ...)."
    ),
    backbone: str | None = typer.Option(
        None, "--backbone", help="Train nordlid's own backbone first ('lidnet')."
    ),
    recipes: bool = typer.Option(
        False, "--recipes", help="Train the mini and premium recipes and tune the cascade."
    ),
    target_accuracy: float | None = typer.Option(
        None,
        "--target-accuracy",
        help="Cascade target accuracy on dev (with --recipes); default premium's dev "
        "accuracy minus 0.5 points.",
    ),
    sweep: Path | None = typer.Option(None, "--sweep", help="Run a W&B sweep file locally."),
    params: str | None = typer.Option(
        None, "--params", help="Head settings as JSON (what `wandb agent` passes)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Wall-clock budget of backbone training (default: 12)."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Backbone training epochs (default: the recipe's, 30)."
    ),
    track: bool = typer.Option(
        True, "--track/--no-track", help="Log a W&B run (offline by default)."
    ),
) -> None:
    """Train an LID head from a Feast feature service (and optionally the lidnet backbone)."""
    from nordlid.workdir import Workdir
    from training.heads import head_kinds

    workdir = Workdir.from_env().ensure()
    kinds = head_kinds()
    if head not in kinds:
        raise ConfigError(f"--head {head!r}: choose {', '.join(kinds[:-1])} or {kinds[-1]}")
    if not (feature_service or backbone or recipes):
        raise ConfigError("give --feature-service, --backbone lidnet or --recipes")
    if backbone is not None:
        _train_backbone(workdir, backbone, seed, max_minutes, epochs, track)
        if recipes or feature_service:
            from training.recipes import refresh_backbone_features

            refresh_backbone_features(workdir, backbone)
    if recipes:
        _train_recipes(workdir, target_accuracy, track)
    if feature_service is None:
        return
    if sweep is not None:
        _run_sweep(workdir, feature_service, sweep, name, track)
    else:
        _train_head(workdir, feature_service, head, name, tuple(alias), seed, params, track)


def _train_backbone(
    workdir: Workdir,
    backbone: str,
    seed: int,
    max_minutes: float | None,
    epochs: int | None,
    track: bool,
) -> None:
    """``--backbone lidnet``: train and register nordlid's own backbone."""
    if backbone != "lidnet":
        raise ConfigError(f"--backbone {backbone!r}: the only trainable backbone is 'lidnet'")
    from training.lidnet_train import LidnetTrainConfig, train_lidnet

    overrides: dict[str, Any] = {"seed": seed}
    if max_minutes is not None:
        overrides["max_minutes"] = max_minutes
    if epochs is not None:
        overrides["epochs"] = epochs
    mv = train_lidnet(workdir, config=LidnetTrainConfig(**overrides), track=track)
    typer.echo(f"trained backbone {mv.ref} → {mv.path}")


def _train_recipes(workdir: Workdir, target_accuracy: float | None, track: bool) -> None:
    """``--recipes``: mini + premium and the cascade threshold."""
    from training.recipes import train_recipes

    result = train_recipes(workdir, target_accuracy=target_accuracy, track=track)
    for mv in (result.mini, result.premium):
        if mv is not None:
            typer.echo(_summary(mv.card))
    if result.cascade is not None:
        c = result.cascade
        typer.echo(
            f"cascade threshold {c.threshold:.4f}: dev accuracy {100 * c.accuracy:.1f}% "
            f"with {100 * c.escalation_rate:.0f}% escalated"
            + ("" if c.met_target else f" (target {100 * c.target_accuracy:.1f}% not met)")
        )


def _run_sweep(
    workdir: Workdir, feature_service: str, sweep: Path, name: str | None, track: bool
) -> None:
    """``--sweep FILE``: every point of a W&B sweep file, best dev macro-F1 first."""
    from training.sweep import run_local_sweep

    points = run_local_sweep(workdir, feature_service, sweep, name=name, track=track)
    typer.echo("dev macro-F1  test acc  model  params")
    for p in points:
        test = "—" if p.test_accuracy is None else f"{100 * p.test_accuracy:.1f}%"
        typer.echo(f"{100 * p.dev_macro_f1:10.1f}%  {test:>8}  {p.ref}  {json.dumps(p.params)}")


def _train_head(
    workdir: Workdir,
    feature_service: str,
    head: str,
    name: str | None,
    aliases: tuple[str, ...],
    seed: int,
    params: str | None,
    track: bool,
) -> None:
    """``--feature-service S [--head K] [--params JSON]``: one head."""
    from training.heads import parse_head_config
    from training.sweep import head_config
    from training.train import train_model

    config = parse_head_config({"kind": head, "seed": seed})
    if params:
        try:
            overrides = json.loads(params)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--params is not valid JSON: {exc}") from exc
        config = head_config(overrides, config)
    mv = train_model(
        workdir, feature_service, config.kind, name, config=config, aliases=aliases, track=track
    )
    typer.echo(_summary(mv.card))


def _summary(card: object) -> str:
    from training.registry import ModelCard

    assert isinstance(card, ModelCard)
    test = card.metrics.get("test", {})
    acc = f"{100 * test['accuracy']:.1f}%" if test else "n/a"
    return (
        f"{card.ref}: {card.head} on {card.feature_service}, test accuracy {acc}, "
        f"trained in {card.training_time_s or 0:.1f} s → models/{card.name}/{card.version}"
    )


def evaluate(
    model: str | None = typer.Option(
        None, "--model", "-m", help="NAME, NAME@VERSION, NAME@alias or @alias (omit: table only)."
    ),
) -> None:
    """Evaluate a registered model on dev and test; print the comparison of all models."""
    from nordlid.workdir import Workdir
    from training.evaluate import comparison_table, evaluate_model, metrics_report
    from training.registry import ModelRegistry

    workdir = Workdir.from_env()
    registry = ModelRegistry(workdir.models)
    if model is not None:
        card, metrics, out = evaluate_model(workdir, model)
        typer.echo(metrics_report(card, metrics))
        typer.echo(f"\nreport: {out}\n")
    typer.echo(comparison_table(registry))
