"""Train the ``lidnet`` backbone from scratch on the corpus's train split audio.

The network (:mod:`extractors.lidnet`) learns languages, not voices or channels, because
every training crop is re-degraded on the fly with the same degradations the corpus and
drift simulation use (:mod:`corpus.degrade`): additive white/pink/brown noise at a random
SNR, a telephone channel, gain with clipping, and speed perturbation.  Model selection is
on dev macro-F1 (full utterances, no augmentation).  The result is registered as
``models/lidnet/<version>/`` (safetensors + JSON config + card with metrics, training
time and GFLOPs per second of audio) and gets the model-scoped ``production`` alias the
extractor loads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from extractors.lidnet import NAME, LidnetConfig, build_backbone, save_checkpoint
from nordlid import LANGUAGES
from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import NordlidError
from nordlid.workdir import Workdir
from training.early_stopping import EarlyStopping
from training.metrics import class_weights, macro_f1
from training.publish import Evaluation, ModelVersion, publish

log = logging.getLogger(__name__)

SAMPLE_RATE = TARGET_SAMPLE_RATE  # the model input rate (nordlid.audio)
NOISE_KINDS: tuple[Literal["white", "pink", "brown"], ...] = ("white", "pink", "brown")


class AugmentConfig(BaseModel):
    """On-the-fly degradations of training crops.  Half of the corpus is already degraded
    (noisy / telephone / gain), so the extra augmentation is light: heavier settings slowed
    learning without making the held-out degraded accuracy better (noise on 50-80 % of the
    crops down to -5 dB SNR lost 1-4 held-out points).  Frequency masking on half of the
    crops makes the network use every band, so it holds up better when white noise buries
    the upper ones (held-out noisy +4 points over a two-member ensemble without it)."""

    model_config = ConfigDict(extra="forbid")

    noise_prob: float = 0.2
    snr_db: tuple[float, float] = (0.0, 25.0)
    telephone_prob: float = 0.1
    gain_prob: float = 0.2
    gain_db: tuple[float, float] = (-20.0, 12.0)
    speed_prob: float = 0.2
    speed: tuple[float, float] = (0.9, 1.1)
    # SpecAugment-style frequency masking of the normalised filterbank: ``freq_masks``
    # bands of up to ``freq_mask_width`` mel channels set to the utterance mean
    freq_mask_prob: float = 0.5
    freq_masks: int = Field(default=2, ge=1)
    freq_mask_width: int = Field(default=8, ge=1)


class LidnetTrainConfig(BaseModel):
    """Recipe of one backbone training run (defaults tuned on the wide-voice corpus; the
    README's accuracy section has the resulting test and held-out numbers)."""

    model_config = ConfigDict(extra="forbid")

    model: LidnetConfig = Field(default_factory=LidnetConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    # 30 epochs: dev macro-F1 still rose from epoch 20 (0.85-0.88) to 25-30 (0.90-0.91) on
    # the mixed-voice corpus; test 96.0/96.0 -> 98.8/97.8 % clean/degraded in the default run
    epochs: int = 30
    batch_size: int = 32
    crop_s: float = 3.0
    lr: float = 6e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    seed: int = 0
    # wall-clock budget, split evenly between the members: a member stops after the epoch
    # that exceeds its share (30 epochs took 3.6 min per member on the 2-core machine)
    max_minutes: float = 12.0
    patience: int = Field(default=10, ge=1)


@dataclass
class LabelledAudio:
    waves: list[np.ndarray]
    y: np.ndarray
    meta: pd.DataFrame  # utterance_id, language, source, condition, split


def load_audio(
    manifest: pd.DataFrame, labels: list[str], splits: tuple[str, ...]
) -> dict[str, LabelledAudio]:
    """Decode the manifest's audio (16 kHz mono) for the given splits."""
    from nordlid.audio import load_for_model
    from nordlid.errors import AudioDecodeError

    index = {lab: i for i, lab in enumerate(labels)}
    out: dict[str, LabelledAudio] = {}
    for split in splits:
        rows = manifest[manifest["split"] == split].reset_index(drop=True)
        waves, keep = [], []
        for i, path in enumerate(rows["path"]):
            try:
                waves.append(load_for_model(path))
                keep.append(i)
            except AudioDecodeError as exc:
                log.warning("lidnet: %s skipped: %s", path, exc)
        meta = rows.iloc[keep].reset_index(drop=True)
        cols = [
            c for c in ("utterance_id", "language", "source", "condition", "split") if c in meta
        ]
        y = np.array([index[v] for v in meta["language"]], dtype=np.int64)
        out[split] = LabelledAudio(waves=waves, y=y, meta=meta[cols])
    return out


# ------------------------------------------------------------------ augmentation
def _crop(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if wave.size >= n:
        start = int(rng.integers(0, wave.size - n + 1))
        return wave[start : start + n]
    reps = int(np.ceil(n / max(wave.size, 1)))
    return np.tile(wave, reps)[:n]


def augment(wave: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """One random degradation chain (speed → telephone → noise → gain), peak ≤ 1."""
    from corpus import degrade

    x = wave.astype(np.float32)
    if rng.random() < cfg.speed_prob:
        factor = rng.uniform(*cfg.speed)
        pos = np.arange(0, x.size - 1, factor)
        x = np.interp(pos, np.arange(x.size), x).astype(np.float32)
    if rng.random() < cfg.telephone_prob:
        x, _ = degrade.telephone(x, SAMPLE_RATE, keep_rate=True)
    if rng.random() < cfg.noise_prob and degrade.signal_power(x) > 0:
        kind: degrade.NoiseKind = NOISE_KINDS[int(rng.integers(0, 3))]
        x = degrade.add_noise(x, float(rng.uniform(*cfg.snr_db)), rng, kind=kind)
    if rng.random() < cfg.gain_prob:
        x = degrade.apply_gain(degrade.fit_to_range(x), float(rng.uniform(*cfg.gain_db)))
    return degrade.fit_to_range(x)


def mask_frequencies(feats: Any, rng: np.random.Generator, cfg: AugmentConfig) -> Any:
    """Zero (= the utterance mean after normalisation) random mel bands of ``(B, T, M)``
    features, per example with probability ``cfg.freq_mask_prob``; returns a new tensor."""
    import torch

    if cfg.freq_mask_prob <= 0.0:
        return feats
    n_mels = feats.shape[2]
    keep = torch.ones(feats.shape[0], 1, n_mels, dtype=feats.dtype, device=feats.device)
    for row in range(feats.shape[0]):
        if rng.random() >= cfg.freq_mask_prob:
            continue
        for _ in range(cfg.freq_masks):
            width = int(rng.integers(1, min(cfg.freq_mask_width, n_mels) + 1))
            low = int(rng.integers(0, n_mels - width + 1))
            keep[row, 0, low : low + width] = 0.0
    return feats * keep


def make_batch(
    waves: list[np.ndarray], idx: np.ndarray, n: int, rng: np.random.Generator, cfg: AugmentConfig
) -> np.ndarray:
    batch = np.zeros((len(idx), n), dtype=np.float32)
    for row, i in enumerate(idx):
        # crop a little longer so speed perturbation still fills the crop
        piece = augment(_crop(waves[i], int(n * 1.15), rng), rng, cfg)
        batch[row] = _crop(piece, n, rng)
    return batch


# ------------------------------------------------------------------ training
Embed = Callable[[Any, Any], Any]  # (waves (B, N), relative lengths (B,)) → (B, dim)


def _predict(
    backbone: Any,
    classifier: Any,
    waves: list[np.ndarray],
    batch_size: int = 16,
    embed: Embed | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, embeddings) of full utterances, in input order.

    Utterances of similar length are batched with zero padding and relative lengths, so
    the normalisation and the pooling see each utterance's own frames only.  ``embed``
    defaults to the whole backbone (one member's embedding during that member's training).
    """
    import torch

    from extractors.lidnet import MIN_SAMPLES

    backbone.eval()
    embed_fn: Embed = embed if embed is not None else backbone
    dim = classifier.in_features
    probs = np.zeros((len(waves), classifier.out_features), dtype=np.float64)
    embs = np.zeros((len(waves), dim), dtype=np.float32)
    order = np.argsort([w.size for w in waves])
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            sizes = [max(waves[i].size, MIN_SAMPLES) for i in idx]
            n = max(sizes)
            x = np.zeros((len(idx), n), dtype=np.float32)
            for row, i in enumerate(idx):
                x[row, : waves[i].size] = waves[i]
            lengths = torch.tensor([s / n for s in sizes], dtype=torch.float32)
            emb = embed_fn(torch.from_numpy(x), lengths)
            probs[idx] = torch.softmax(classifier(emb), dim=1).double().numpy()
            embs[idx] = emb.numpy()
    return probs, embs


@dataclass
class LidnetResult:
    backbone: Any
    classifier: Any
    config: LidnetTrainConfig
    labels: list[str]
    training_time_s: float
    epochs_run: int
    best_epoch: int
    best_dev_macro_f1: float
    history: list[dict[str, float]]


@dataclass
class _Member:
    classifier: Any
    epochs_run: int
    best_epoch: int
    best_dev_macro_f1: float
    history: list[dict[str, float]]


@dataclass
class _MemberTraining:
    """Encoder ``k`` of the backbone, its own linear classifier and their optimiser."""

    backbone: Any
    k: int
    classifier: Any
    opt: Any
    sched: Any
    loss_fn: Any
    rng: np.random.Generator
    config: LidnetTrainConfig
    steps_per_epoch: int

    @property
    def encoder(self) -> Any:
        return self.backbone.encoders[self.k]

    def embed(self, x: Any, lengths: Any = None) -> Any:
        return self.backbone.embed_member(self.k, x, lengths)

    def train_epoch(self, train: LabelledAudio) -> list[float]:
        """One pass over shuffled, augmented, frequency-masked crops; the step losses."""
        import torch

        cfg = self.config
        n = int(cfg.crop_s * SAMPLE_RATE)
        self.backbone.train()
        self.classifier.train()
        order = self.rng.permutation(len(train.waves))
        losses = []
        for s in range(self.steps_per_epoch):
            idx = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            if len(idx) < 2:  # batch norm needs two examples
                continue
            x = torch.from_numpy(make_batch(train.waves, idx, n, self.rng, cfg.augment))
            feats = mask_frequencies(self.backbone.features(x), self.rng, cfg.augment)
            logits = self.classifier(self.backbone.encode(self.k, feats))
            loss = self.loss_fn(logits, torch.from_numpy(train.y[idx]))
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.sched.step()
            losses.append(float(loss.detach()))
        return losses

    def dev_macro_f1(self, dev: LabelledAudio, labels: list[str]) -> float:
        proba, _ = _predict(self.backbone, self.classifier, dev.waves, embed=self.embed)
        return macro_f1(labels, dev.y, proba) if len(dev.y) else 0.0


def _start_member(
    backbone: Any, k: int, train: LabelledAudio, labels: list[str], config: LidnetTrainConfig
) -> _MemberTraining:
    """Seed ``seed + k``, a fresh classifier, AdamW with a one-cycle schedule over every
    epoch, class-weighted label-smoothed cross-entropy."""
    import torch

    seed = config.seed + k
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = backbone.encoders[k]
    classifier = torch.nn.Linear(config.model.embedding_dim, len(labels))
    params = list(encoder.parameters()) + list(classifier.parameters())
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, int(np.ceil(len(train.waves) / config.batch_size)))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=steps_per_epoch * config.epochs, pct_start=0.15
    )
    weight = torch.tensor(class_weights(train.y, len(labels)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    return _MemberTraining(
        backbone, k, classifier, opt, sched, loss_fn, rng, config, steps_per_epoch
    )


def _fit_member(
    backbone: Any,
    k: int,
    train: LabelledAudio,
    dev: LabelledAudio,
    labels: list[str],
    config: LidnetTrainConfig,
    budget_s: float,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> _Member:
    """Train encoder ``k`` (and its own linear classifier): class-weighted CE on augmented
    crops, the state with the best dev macro-F1 kept."""
    member = _start_member(backbone, k, train, labels, config)
    stopper = EarlyStopping(config.patience, [member.encoder, member.classifier])
    start = time.perf_counter()
    history: list[dict[str, float]] = []
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        losses = member.train_epoch(train)
        f1 = member.dev_macro_f1(dev, labels)
        row = {
            "member": float(k),
            "epoch": float(epoch),
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "dev_macro_f1": f1,
            "elapsed_s": time.perf_counter() - start,
        }
        history.append(row)
        log.info(
            "lidnet member %d epoch %d: loss %.4f, dev macro-F1 %.4f (%.0f s)",
            k,
            epoch,
            row["train_loss"],
            f1,
            row["elapsed_s"],
        )
        if on_epoch is not None:
            on_epoch(row)
        stopper.update(epoch, f1)
        if stopper.should_stop:
            log.info("lidnet: dev macro-F1 has not improved for %d epochs; stopping", stopper.stale)
            break
        if row["elapsed_s"] > budget_s:
            log.warning(
                "lidnet member %d: time budget of %.1f min reached after epoch %d",
                k,
                budget_s / 60,
                epoch,
            )
            break
    stopper.restore()
    return _Member(member.classifier, epoch, stopper.best_epoch, stopper.best_score, history)


def _mean_logits_classifier(members: list[_Member], dim: int) -> Any:
    """One linear layer over the concatenated embedding whose logits are the mean of the
    members' logits (the ensemble's own classifier)."""
    import torch

    heads = [m.classifier for m in members]
    out = torch.nn.Linear(dim * len(heads), heads[0].out_features)
    with torch.no_grad():
        out.weight.copy_(torch.cat([h.weight for h in heads], dim=1) / len(heads))
        out.bias.copy_(torch.stack([h.bias for h in heads]).mean(0))
    return out


def fit_lidnet(
    train: LabelledAudio,
    dev: LabelledAudio,
    labels: list[str],
    config: LidnetTrainConfig,
    *,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> LidnetResult:
    """Train every member encoder in turn (seed ``seed + k``, an equal share of the time
    budget); the backbone's embedding is their concatenation and its classifier averages the
    members' logits."""
    import torch

    torch.manual_seed(config.seed)
    model_cfg = config.model.model_copy(update={"labels": labels})
    backbone = build_backbone(model_cfg)
    budget_s = config.max_minutes * 60 / model_cfg.members
    start = time.perf_counter()
    members = [
        _fit_member(backbone, k, train, dev, labels, config, budget_s, on_epoch)
        for k in range(model_cfg.members)
    ]
    classifier = _mean_logits_classifier(members, model_cfg.embedding_dim)
    backbone.eval()
    classifier.eval()
    if len(members) == 1:
        f1 = members[0].best_dev_macro_f1
    else:
        proba, _ = _predict(backbone, classifier, dev.waves)
        f1 = macro_f1(labels, dev.y, proba) if len(dev.y) else 0.0
        log.info(
            "lidnet ensemble of %d: dev macro-F1 %.4f (members %s)",
            len(members),
            f1,
            ", ".join(f"{m.best_dev_macro_f1:.4f}" for m in members),
        )
    return LidnetResult(
        backbone=backbone,
        classifier=classifier,
        config=config.model_copy(update={"model": model_cfg}),
        labels=labels,
        training_time_s=time.perf_counter() - start,
        epochs_run=sum(m.epochs_run for m in members),
        best_epoch=members[-1].best_epoch,
        best_dev_macro_f1=f1,
        history=[row for m in members for row in m.history],
    )


def backbone_gflops_per_second(backbone: Any, seconds: float = 4.0) -> float:
    import torch

    from training.cost import count_gflops

    x = torch.randn(1, int(seconds * SAMPLE_RATE)) * 0.1
    backbone.eval()
    return count_gflops(lambda: backbone(x)) / seconds


def train_lidnet(
    workdir: Workdir,
    *,
    manifest: pd.DataFrame | None = None,
    config: LidnetTrainConfig | None = None,
    aliases: tuple[str, ...] = ("production",),
    track: bool = True,
) -> ModelVersion:
    """Train, evaluate and register the backbone (model-scoped ``aliases``)."""
    config = config or LidnetTrainConfig()
    if manifest is None:
        manifest = _validated_manifest(workdir)
    labels = [lang for lang in LANGUAGES if lang in set(manifest["language"])]
    data = _training_audio(manifest, labels)
    result = fit_lidnet(data["train"], data["dev"], labels, config)
    mv = publish(
        workdir,
        NAME,
        save=lambda path: save_checkpoint(path, result.backbone, result.config.model),
        evaluate=lambda path, ref: _evaluate_lidnet(result, data, path, ref),
        cost=lambda: _lidnet_cost(result.backbone),
        card=_card_fields(result, data),
        track=track,
        aliases=aliases,
        alias_scope="model",
    )
    metrics = mv.card.metrics
    log.info(
        "%s: test accuracy %s, %.3f GFLOPs/s audio, %.0f s training",
        mv.ref,
        f"{metrics['test']['accuracy']:.4f}" if "test" in metrics else "n/a",
        mv.card.cost["backbone_gflops_per_s"],
        result.training_time_s,
    )
    return mv


def _validated_manifest(workdir: Workdir) -> pd.DataFrame:
    from corpus.manifest import read_manifest

    if not workdir.validated_manifest.exists():
        raise NordlidError(
            f"{workdir.validated_manifest}: validated manifest not found (run `nordlid validate`)"
        )
    return read_manifest(workdir.validated_manifest)


def _training_audio(manifest: pd.DataFrame, labels: list[str]) -> dict[str, LabelledAudio]:
    """Train, dev and test audio; fails without two train utterances or any dev audio."""
    data = load_audio(manifest, labels, ("train", "dev", "test"))
    if len(data["train"].waves) < 2:
        raise NordlidError("lidnet: the train split has fewer than 2 readable utterances")
    if len(data["dev"].waves) == 0:
        raise NordlidError("lidnet: the dev split is empty; model selection needs dev audio")
    log.info(
        "training lidnet on %d train / %d dev utterances (%.0f s of train audio)",
        len(data["train"].waves),
        len(data["dev"].waves),
        sum(w.size for w in data["train"].waves) / SAMPLE_RATE,
    )
    return data


def _evaluate_lidnet(
    result: LidnetResult, data: dict[str, LabelledAudio], path: Path, ref: str
) -> Evaluation:
    """Dev and test metrics of the backbone with its own classifier (one utterance per
    batch: exact), a confusion plot per split."""
    from training.metrics import evaluate_predictions, plot_confusion

    labels = result.labels
    evaluation = Evaluation(metrics={})
    for split in ("dev", "test"):
        d = data[split]
        if not d.waves:
            continue
        proba, _ = _predict(result.backbone, result.classifier, d.waves, batch_size=1)
        m = evaluate_predictions(
            proba,
            np.asarray(labels, dtype=object)[d.y],
            labels,
            groups={"source": d.meta["source"], "condition": d.meta["condition"]},
        )
        plot_confusion(
            m["confusion"],
            labels,
            path / f"confusion_{split}.png",
            title=f"{ref} (own classifier) — {split}",
        )
        evaluation.files.append(f"confusion_{split}.png")
        evaluation.metrics[split] = m
    return evaluation


def _lidnet_cost(backbone: Any) -> dict[str, float]:
    import torch

    with torch.no_grad():
        gflops = backbone_gflops_per_second(backbone)
    n_params = sum(p.numel() for p in backbone.parameters())
    return {"backbone_gflops_per_s": gflops, "params_m": n_params / 1e6}


def _card_fields(result: LidnetResult, data: dict[str, LabelledAudio]) -> dict[str, Any]:
    return {
        "kind": "backbone",
        "head": "linear",
        "labels": result.labels,
        "training_time_s": result.training_time_s,
        "hyperparameters": {
            **result.config.model_dump(mode="json"),
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "best_dev_macro_f1": result.best_dev_macro_f1,
            "n_train": len(data["train"].waves),
            "history": result.history,
        },
        "notes": (
            f"{result.config.model.arch} trained from scratch on the corpus; "
            "metrics use its own linear classifier"
        ),
    }
