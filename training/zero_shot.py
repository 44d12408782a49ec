"""Whisper base's own language identification as a zero-shot baseline of the default run.

No training: Whisper's language head (``detect_language``) restricted to the corpus's
languages (:mod:`extractors.backbones.whisper_lid`) is scored on the test split
from audio, and registered as a ``zero-shot`` card so ``reports/models.md`` lists it
beside the trained heads; :func:`score_holdout_files` scores it on the held-out audio.
Its latency is the whole model's (log-mel, encoder and one decoder step) on one file.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nordlid import LANGUAGES
from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import MissingCheckpointError
from nordlid.workdir import Workdir
from training.metrics import evaluate_predictions
from training.registry import ModelCard, ModelRegistry

log = logging.getLogger(__name__)

NAME = "whisper-base-lid"
LATENCY_FILES = 20


@dataclass
class ZeroShotScore:
    proba: np.ndarray
    seconds: float  # wall time of the batched predictions
    audio_seconds: float


def _detector(labels: Sequence[str]) -> Any:
    from extractors.backbones.whisper_lid import WhisperLanguageDetector

    return WhisperLanguageDetector(labels)


def _waves(paths: Sequence[str]) -> list[np.ndarray]:
    from nordlid.audio import load_for_model

    return [load_for_model(p) for p in paths]


def predict_waves(detector: Any, waves: list[np.ndarray]) -> ZeroShotScore:
    start = time.perf_counter()
    proba = detector.predict_proba(waves)
    return ZeroShotScore(
        proba, time.perf_counter() - start, sum(len(w) for w in waves) / TARGET_SAMPLE_RATE
    )


def single_file_latency_ms(detector: Any, waves: list[np.ndarray]) -> float:
    """Median wall time of one file at a time (what one request costs)."""
    times = []
    for wave in waves[:LATENCY_FILES]:
        start = time.perf_counter()
        detector.predict_proba([wave])
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times) if times else float("nan")


def evaluate_whisper_lid(workdir: Workdir) -> ModelCard | None:
    """Score Whisper's LID on the test split and register it; None without the weights."""
    from corpus.manifest import manifest_hash, read_manifest
    from training.cost import extractor_gflops_per_second
    from training.tracking import git_state

    frame = read_manifest(workdir.validated_manifest)
    labels = [lang for lang in LANGUAGES if lang in set(frame["language"].astype(str))]
    try:
        detector = _detector(labels)
    except MissingCheckpointError as exc:
        log.warning("Whisper LID baseline skipped: %s", exc)
        return None
    metrics: dict[str, Any] = {}
    rates: list[float] = []
    test_waves: list[np.ndarray] = []
    for split in ("test",):  # nothing is tuned, so dev is not needed (and costs a minute)
        rows = frame[frame["split"] == split].reset_index(drop=True)
        if rows.empty:
            continue
        waves = _waves(rows["path"].astype(str).tolist())
        score = predict_waves(detector, waves)
        rates.append(score.audio_seconds / score.seconds)
        metrics[split] = evaluate_predictions(
            score.proba,
            rows["language"].astype(str).to_numpy(dtype=object),
            labels,
            groups={"source": rows["source"], "condition": rows["condition"]},
        )
        if split == "test":
            test_waves = waves
    registry = ModelRegistry(workdir.models)
    version, _ = registry.new_version(NAME)
    git = git_state()
    card = ModelCard(
        name=NAME,
        version=version,
        kind="zero-shot",
        head="whisper-lid",
        labels=labels,
        metrics=metrics,
        cost={
            "head_latency_ms": single_file_latency_ms(detector, test_waves),
            "audio_s_per_s": float(np.mean(rates)) if rates else float("nan"),
            **(
                {"backbone_gflops_per_s": g}
                if (g := extractor_gflops_per_second("whisper-base")) is not None
                else {}
            ),
        },
        training_time_s=0.0,
        data_version=manifest_hash(workdir.validated_manifest),
        git_sha=git.sha,
        git_dirty=git.dirty,
        hyperparameters={"lineage": detector.lineage(), "nn_counts_as": "no"},
        notes=(
            "Whisper base's own language-detection head (CTranslate2 detect_language: encoder "
            "+ one decoder step), probabilities of the corpus's languages renormalised, "
            "Nynorsk counted as Norwegian; no training. head_latency_ms is the whole model on "
            "one file."
        ),
    )
    registry.write_card(card)
    log.info(
        "%s: zero-shot test accuracy %s, %.0f ms per file",
        card.ref,
        f"{metrics['test']['accuracy']:.4f}" if "test" in metrics else "n/a",
        card.cost["head_latency_ms"],
    )
    return card


def score_holdout_files(predictions: pd.DataFrame, labels: Sequence[str]) -> list[str]:
    """``nordlid predict``-style JSON lines of Whisper LID for the held-out files in
    ``predictions`` (the holdout stage's rows: ``path``, ``true_language``)."""
    import json

    detector = _detector(labels)
    paths = predictions["path"].astype(str).tolist()
    lines: list[str] = []
    for start in range(0, len(paths), 64):  # bounded memory: decode 64 files at a time
        batch = paths[start : start + 64]
        proba = detector.predict_proba(_waves(batch))
        for path, p in zip(batch, proba, strict=True):
            best = int(np.argmax(p))
            lines.append(
                json.dumps(
                    {
                        "path": path,
                        "language": labels[best],
                        "confidence": float(p[best]),
                        "model": NAME,
                    }
                )
            )
    return lines
