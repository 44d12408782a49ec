"""publish(): the registering steps heads and the lidnet backbone share, and the one
W&B logging function they use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.publish import Evaluation, publish
from training.registry import ModelRegistry

METRICS = {
    "accuracy": 0.5,
    "macro_f1": 0.4,
    "uar": 0.5,
    "ece": 0.1,
    "recall": {"da": 1.0, "sv": 0.0},
    "precision": {"da": 0.5},
    "by_condition": {"clean": {"accuracy": 0.5}},
    "confusion": [[1, 0], [1, 0]],
}


class FakeTracker:
    runs: list[FakeTracker] = []

    def __init__(self, workdir: Any, *, name: str, job_type: str, config: dict, tags: list) -> None:
        self.name, self.job_type, self.config, self.tags = name, job_type, config, tags
        self.logged: list[dict[str, Any]] = []
        self.summaries: dict[str, Any] = {}
        self.artifacts: list[tuple[str, dict[str, Any]]] = []
        self.confusions: list[str] = []
        self.id = f"run{len(FakeTracker.runs)}"
        FakeTracker.runs.append(self)

    def __enter__(self) -> FakeTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def log(self, values: dict[str, Any]) -> None:
        self.logged.append(values)

    def summary(self, values: dict[str, Any]) -> None:
        self.summaries.update(values)

    def confusion(self, key: str, labels: list[str], cm: Any, png: Path | None) -> None:
        self.confusions.append(key)

    def artifact(self, name: str, kind: str, directory: Path, metadata: dict[str, Any]) -> None:
        self.artifacts.append((name, metadata))


@pytest.fixture
def fake_tracker(monkeypatch):
    import training.tracking

    FakeTracker.runs = []
    monkeypatch.setattr(training.tracking, "Tracker", FakeTracker)
    return FakeTracker


def _publish(workdir, name: str, steps: list[str], **kwargs: Any):
    def save(path: Path) -> list[str]:
        steps.append(f"save {path.name}")
        (path / "w.bin").write_bytes(b"0")
        return ["w.bin"]

    def evaluate(path: Path, ref: str) -> Evaluation:
        steps.append(f"evaluate {ref}")
        (path / "confusion_dev.png").write_bytes(b"")
        return Evaluation({"dev": METRICS}, ["confusion_dev.png"])

    def cost() -> dict[str, float]:
        steps.append("cost")
        return {"backbone_gflops_per_s": 1.5}

    return publish(workdir, name, save=save, evaluate=evaluate, cost=cost, **kwargs)


def test_publish_saves_evaluates_writes_the_card_tracks_and_sets_aliases(workdir, fake_tracker):
    steps: list[str] = []
    card = {"head": "logreg", "labels": ["da", "sv"], "hyperparameters": {"seed": 0}}
    mv = _publish(workdir, "toy", steps, card=card, aliases=("staging",))
    assert mv.ref == "toy@1" and steps == ["save 1", "evaluate toy@1", "cost"]
    registry = ModelRegistry(workdir.models)
    stored = registry.load_card("toy@staging")
    assert stored == mv.card and stored.wandb_run_id == "run0"
    assert stored.files == ["w.bin", "confusion_dev.png"]
    assert stored.metrics == {"dev": METRICS} and stored.cost == {"backbone_gflops_per_s": 1.5}
    assert stored.git_sha is not None and stored.data_version is None  # no manifest here
    assert registry.global_aliases() == {"staging": "toy@1"}

    (run,) = fake_tracker.runs
    assert run.job_type == "train" and run.config["hyperparameters"] == {"seed": 0}
    flat = run.logged[-1]
    assert flat["dev/macro_f1"] == 0.4 and flat["dev/recall_sv"] == 0.0
    assert flat["dev/condition/clean/accuracy"] == 0.5 and flat["backbone_gflops_per_s"] == 1.5
    assert run.confusions == ["dev"] and run.artifacts[0][0] == "toy"


def test_publish_backbone_with_model_scoped_alias_logs_its_history(workdir, fake_tracker):
    history = [{"member": 0.0, "epoch": 1.0, "dev_macro_f1": 0.5}]
    card = {"kind": "backbone", "head": "linear", "hyperparameters": {"history": history}}
    mv = _publish(workdir, "net", [], card=card, aliases=("production",), alias_scope="model")
    registry = ModelRegistry(workdir.models)
    assert registry.model_aliases("net") == {"production": 1}
    assert registry.global_aliases() == {}
    (run,) = fake_tracker.runs
    assert run.job_type == "train-backbone" and run.tags == ["backbone", "net"]
    assert run.logged[0] == {"epoch/member": 0.0, "epoch/epoch": 1.0, "epoch/dev_macro_f1": 0.5}
    assert "history" not in run.config["hyperparameters"]
    assert run.artifacts == [("net", {"version": 1})]
    assert mv.card.wandb_run_id == "run0"


def test_publish_without_tracking_leaves_no_run(workdir, fake_tracker):
    mv = _publish(workdir, "quiet", [], card={}, track=False)
    assert mv.card.wandb_run_id is None and fake_tracker.runs == []
