"""Monitoring test data: real espeak-ng audio, real extractor code, features built once.

:func:`build_monitoring_data` synthesizes a small corpus (train/dev/test),
degrades copies with ``corpus.degrade.add_noise`` at 10 dB SNR and computes
features with the production extractor path (``extractors.registry.create`` +
``extractors.engine.extract_waves``): the ``acoustic`` view for everything, plus a tiny
randomly initialised XLS-R (same architecture, loaded through the real loading path) as
the embedding.  Feature frames use Feast's full names (``acoustic__rms_mean``).

The drift frames are a *same-population* comparison: reference and current are a
seeded, language-stratified random partition of every clean corpus row, so current rows
are exchangeable with reference rows (the corpus's dev/test splits are spoken by voice
variants the train split never has — a genuine population shift, which a stable drift
test rightly reports).  The noisy current frame is the same current audio at 10 dB SNR.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SNR_DB = 10.0
PER_LANGUAGE = 16  # 64 utterances: 40 reference vs 24 current rows in the drift frames
CURRENT_SHARE = 0.375
NOISY_OFFSET = timedelta(days=30)  # the noisy labelled batch arrives a month later


@dataclass
class MonitoringData:
    manifest: pd.DataFrame  # clean corpus rows (train/dev/test)
    noisy_manifest: pd.DataFrame  # the same audio + 10 dB noise, new ids, newer timestamps
    features: pd.DataFrame  # utterance_id + acoustic__* for clean and noisy corpus rows
    reference: pd.DataFrame  # acoustic__* + xlsr__* of a random 62.5 % of the clean rows
    heldout_clean: pd.DataFrame  # acoustic__* + xlsr__* of the other clean rows
    heldout_noisy: pd.DataFrame  # the same current audio with 10 dB noise
    acoustic_refs: list[Any]  # training.features.FeatureRef list of the acoustic view


def _prefixed(rows: list[dict[str, Any]], view: str) -> pd.DataFrame:
    return pd.DataFrame([{f"{view}__{k}": v for k, v in r.items()} for r in rows])


def _tiny_xlsr(path: Path, seed: int = 0) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16, 16, 16, 16),
        conv_stride=(5, 4, 4, 4),  # 320 samples per frame, like the real model
        conv_kernel=(10, 4, 4, 4),
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
    )
    Wav2Vec2Model(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16_000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    ).save_pretrained(path)
    return path


def current_mask(manifest: pd.DataFrame, share: float, seed: int) -> np.ndarray:
    """A seeded random ``share`` of each language's rows: the drift test's current rows."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(manifest), dtype=bool)
    for _, rows in manifest.groupby("language").indices.items():
        pick = rng.choice(rows, size=round(share * len(rows)), replace=False)
        mask[pick] = True
    return mask


def build_monitoring_data(root: Path) -> MonitoringData:
    """Drift frames: a same-population partition of the clean corpus (see the module doc)."""
    from corpus.degrade import add_noise, fit_to_range
    from corpus.manifest import utterance_id
    from corpus.synth import synthesize
    from extractors import registry
    from extractors.engine import extract_waves
    from nordlid.audio import decode, to_model_input
    from training.features import refs_from_registry

    manifest = synthesize(
        root / "corpus", per_language=PER_LANGUAGE, seed=11, workers=1, voice_set="classic"
    )
    rng = np.random.default_rng(0)
    waves = [to_model_input(decode(str(p))) for p in manifest["path"]]
    noisy = [fit_to_range(add_noise(w, SNR_DB, rng)) for w in waves]

    acoustic = registry.create("acoustic")
    clean_f = _prefixed(extract_waves(acoustic, waves), "acoustic")
    noisy_f = _prefixed(extract_waves(acoustic, noisy), "acoustic")
    noisy_manifest = manifest.copy()
    noisy_manifest["utterance_id"] = [
        utterance_id("synthetic-noisy", str(u)) for u in manifest["utterance_id"]
    ]
    noisy_manifest["condition"] = f"noise{SNR_DB:g}dB"
    noisy_manifest["event_timestamp"] = (
        pd.to_datetime(manifest["event_timestamp"], utc=True) + NOISY_OFFSET
    )

    xlsr = registry.create("xlsr", checkpoint=str(_tiny_xlsr(root / "tiny_xlsr")), device="cpu")
    held = current_mask(manifest, CURRENT_SHARE, seed=0)
    reference_rows = ~held

    def pick(items: list[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
        return [w for w, m in zip(items, mask, strict=True) if m]

    def both(frame: pd.DataFrame, items: list[np.ndarray], mask: np.ndarray) -> pd.DataFrame:
        xl = _prefixed(extract_waves(xlsr, pick(items, mask), batch_seconds=20.0), "xlsr")
        return pd.concat([frame[mask].reset_index(drop=True), xl], axis=1)

    data = MonitoringData(
        manifest=manifest,
        noisy_manifest=noisy_manifest,
        features=pd.concat(
            [
                clean_f.assign(utterance_id=manifest["utterance_id"].to_numpy()),
                noisy_f.assign(utterance_id=noisy_manifest["utterance_id"].to_numpy()),
            ],
            ignore_index=True,
        ),
        reference=both(clean_f, waves, reference_rows),
        heldout_clean=both(clean_f, waves, held),
        heldout_noisy=both(noisy_f, noisy, held),
        acoustic_refs=refs_from_registry(["acoustic"]),
    )
    return data


def make_fetch(features: pd.DataFrame):  # noqa: ANN201 - a HistoricalFetch
    """Point-in-time join over an in-memory feature table (one row per utterance).

    Stands in for ``feature_repo.store.historical_features`` where a test exercises the
    training/monitoring logic rather than Feast: same inputs, same ``view__feature``
    columns, rows in ``entity_df`` order, ``found`` False where features are missing.
    """

    def fetch(workdir: Any, service: str, entity_df: pd.DataFrame) -> pd.DataFrame:
        joined = entity_df.merge(features, on="utterance_id", how="left")
        feature_cols = [c for c in features.columns if c != "utterance_id"]
        joined["found"] = joined[feature_cols].notna().all(axis=1)
        return joined

    return fetch


def drift_result(share: float, views: list[str], n_columns: int = 10) -> Any:
    """An explicit :class:`~monitoring.drift.DriftResult`: ``share`` of scalar columns and
    the ``views`` drifted (every other column and view not)."""
    from monitoring.drift import ColumnDrift, DriftResult, EmbeddingDrift

    n_drifted = round(share * n_columns)
    cols = [
        ColumnDrift(
            column=f"acoustic__c{i}",
            feature=f"acoustic__c{i}",
            method="K-S p_value",
            score=0.001 if i < n_drifted else 0.5,
            threshold=0.05,
            drifted=i < n_drifted,
        )
        for i in range(n_columns)
    ]
    embs = [
        EmbeddingDrift(
            feature=f"{v}__embedding",
            view=v,
            dim=8,
            method="model",
            score=0.9,
            threshold=0.6,
            drifted=True,
            n_reference=50,
            n_current=50,
        )
        for v in views
    ]
    return DriftResult(
        n_reference=50,
        n_current=50,
        columns=cols,
        n_drifted_columns=n_drifted,
        drift_share=n_drifted / n_columns,
        drift_share_threshold=0.3,
        dataset_drift=n_drifted / n_columns >= 0.3,
        embeddings=embs,
        drifted_views=views,
        embedding_drift=bool(views),
    )
