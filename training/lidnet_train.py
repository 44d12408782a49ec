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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from extractors.lidnet import MINI_NAME, NAME, LidnetConfig, build_backbone, save_checkpoint
from nordlid import LANGUAGES
from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import NordlidError
from nordlid.workdir import Workdir
from training.early_stopping import EarlyStopping
from training.encoder_lanes import Lanes, LaneSettings, plan_lanes, prefetch
from training.field_augment import FieldBank
from training.lr_schedule import OneCycle
from training.metrics import class_weights, macro_f1
from training.precision import Precision, RequestedPrecision, autocast, resolve_precision
from training.publish import Evaluation, ModelVersion, publish

log = logging.getLogger(__name__)

SAMPLE_RATE = TARGET_SAMPLE_RATE  # the model input rate (nordlid.audio)
NOISE_KINDS: tuple[Literal["white", "pink", "brown"], ...] = ("white", "pink", "brown")


class AugmentConfig(BaseModel):
    """On-the-fly degradations of training crops, on top of the conditions the corpus
    already rendered (noise, telephone, rooms, babble, codecs, low SNR, short clips, extreme
    prosody).  Heavier noise settings slowed learning without making the held-out degraded
    accuracy better (noise on 50-80 % of the crops down to -5 dB SNR lost 1-4 held-out
    points).  Frequency masking on half of the crops makes the network use every band, so
    it holds up better when white noise buries the upper ones (held-out noisy +4 points over
    a two-member ensemble without it).  Rooms and babble come from a bank built once per run
    (:mod:`training.field_augment`)."""

    model_config = ConfigDict(extra="forbid")

    noise_prob: float = 0.2
    snr_db: tuple[float, float] = (0.0, 25.0)
    telephone_prob: float = 0.1
    gain_prob: float = 0.2
    gain_db: tuple[float, float] = (-20.0, 12.0)
    speed_prob: float = 0.2
    speed: tuple[float, float] = (0.85, 1.2)
    # simulated rooms (a bank of ``rirs`` impulse responses) and non-target babble
    reverb_prob: float = 0.25
    rirs: int = Field(default=24, ge=0)
    babble_prob: float = 0.2
    babble_snr_db: tuple[float, float] = (0.0, 15.0)
    babble_per_language: int = Field(default=3, ge=0)
    # another target utterance as a quiet background (never loud enough to be the speaker)
    background_prob: float = 0.05
    background_snr_db: tuple[float, float] = (15.0, 25.0)
    # SpecAugment-style frequency masking of the normalised filterbank: ``freq_masks``
    # bands of up to ``freq_mask_width`` mel channels set to the utterance mean
    freq_mask_prob: float = 0.5
    freq_masks: int = Field(default=2, ge=1)
    freq_mask_width: int = Field(default=8, ge=1)


def _default_mini() -> LidnetConfig:
    from extractors.lidnet import mini_config

    return mini_config()


class LidnetTrainConfig(BaseModel):
    """Recipe of one backbone training run (defaults tuned on the wide-voice corpus; the
    README's accuracy section has the resulting test and held-out numbers).

    Every encoder — the premium ensemble's members and the ``lidnet-mini`` encoder — trains
    in one loop over the same augmented batches: the crops, their degradations and the
    filterbank are computed once per step, not once per encoder."""

    model_config = ConfigDict(extra="forbid")

    model: LidnetConfig = Field(default_factory=LidnetConfig)
    # the cascade's mini backbone (None: train the premium ensemble only)
    mini: LidnetConfig | None = Field(default_factory=_default_mini)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    epochs: int = 20
    batch_size: int = 32
    # each batch's crop length is drawn from [min_crop_s, crop_s]. Fixed 3 s crops by
    # default: measured on 2 cores, 1-3 s crops cost about as much per epoch (the step is
    # bound by augmentation and fixed per-batch costs) and scored lower held-out overall
    # (docs/history.md); short clips are still covered by the corpus's `short` condition
    crop_s: float = 3.0
    min_crop_s: float = 3.0
    lr: float = 6e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    seed: int = 0
    # wall-clock budget of the training loop: after the first epoch the number of epochs
    # is cut to what fits, and the one-cycle schedule is resized to anneal over them
    max_minutes: float = 7.0
    patience: int = Field(default=8, ge=1)
    # dev macro-F1 is computed from this fraction of the epochs on (the one-cycle schedule's
    # best states come late; earlier evaluations cost time and are never kept)
    eval_from: float = Field(default=0.4, ge=0.0, le=1.0)
    # "auto": bfloat16 autocast where the CPU computes it natively (training.precision).
    # float32 by default: in the 7 min budget bf16 fit 23 epochs instead of 19 but scored
    # the same (test 94.8 vs 94.6 %, held-out 86.8 vs 87.9 % overall; docs/history.md)
    precision: RequestedPrecision = "fp32"
    # the encoders step on parallel lanes (torch's threads split between them; one lane
    # per thread on a 2-core machine), each encoder in a fixed lane order with its own
    # random stream.  Either way the next batch is augmented on a worker thread meanwhile
    parallel_encoders: bool = True


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


def augment(
    wave: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    bank: FieldBank | None = None,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """One random degradation chain (speed → room → babble/background → telephone → noise
    → gain), peak ≤ 1.  Rooms and babble need a ``bank``; the background needs another
    utterance."""
    from corpus import degrade
    from training import field_augment

    x = wave.astype(np.float32)
    if rng.random() < cfg.speed_prob:
        factor = rng.uniform(*cfg.speed)
        pos = np.arange(0, x.size - 1, factor)
        x = np.interp(pos, np.arange(x.size), x).astype(np.float32)
    if bank is not None and bank.rirs and rng.random() < cfg.reverb_prob:
        x = field_augment.add_reverb(x, bank.rirs[int(rng.integers(len(bank.rirs)))])
    if bank is not None and bank.talkers and rng.random() < cfg.babble_prob:
        x = field_augment.add_babble(x, bank.talkers, float(rng.uniform(*cfg.babble_snr_db)), rng)
    elif background is not None and rng.random() < cfg.background_prob:
        snr = float(rng.uniform(*cfg.background_snr_db))
        x = field_augment.add_background(x, background, snr, rng)
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
    waves: list[np.ndarray],
    idx: np.ndarray,
    n: int,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    bank: FieldBank | None = None,
) -> np.ndarray:
    """``(len(idx), n)`` augmented crops of ``waves[idx]``; a background, when drawn, is
    another utterance of the batch."""
    batch = np.zeros((len(idx), n), dtype=np.float32)
    for row, i in enumerate(idx):
        # crop a little longer so speed perturbation still fills the crop
        piece = _crop(waves[i], int(n * 1.25), rng)
        other = waves[int(idx[(row + 1) % len(idx)])] if len(idx) > 1 else None
        batch[row] = _crop(augment(piece, rng, cfg, bank, other), n, rng)
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
    defaults to the whole backbone.
    """
    import torch

    backbone.eval()
    embed_fn: Embed = embed if embed is not None else backbone
    dim = classifier.in_features
    probs = np.zeros((len(waves), classifier.out_features), dtype=np.float64)
    embs = np.zeros((len(waves), dim), dtype=np.float32)
    with torch.no_grad():
        for idx, x, lengths in _padded_batches(waves, batch_size):
            emb = embed_fn(torch.from_numpy(x), lengths)
            probs[idx] = torch.softmax(classifier(emb), dim=1).double().numpy()
            embs[idx] = emb.numpy()
    return probs, embs


def _padded_batches(waves: list[np.ndarray], batch_size: int) -> list[tuple[np.ndarray, Any, Any]]:
    """(indices, zero-padded waves, relative lengths) of length-sorted batches."""
    import torch

    from extractors.lidnet import MIN_SAMPLES

    order = np.argsort([w.size for w in waves])
    out = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        sizes = [max(waves[i].size, MIN_SAMPLES) for i in idx]
        n = max(sizes)
        x = np.zeros((len(idx), n), dtype=np.float32)
        for row, i in enumerate(idx):
            x[row, : waves[i].size] = waves[i]
        out.append((idx, x, torch.tensor([s / n for s in sizes], dtype=torch.float32)))
    return out


@dataclass
class _DevFeatures:
    """Dev utterances as normalised filterbank batches, computed once for the whole run
    (the front end has no trainable parameters)."""

    batches: list[tuple[np.ndarray, Any, Any]]  # (indices, features, relative lengths)
    y: np.ndarray

    @classmethod
    def compute(cls, backbone: Any, dev: LabelledAudio, batch_size: int = 16) -> _DevFeatures:
        import torch

        batches = []
        with torch.no_grad():
            for idx, x, lengths in _padded_batches(dev.waves, batch_size):
                batches.append((idx, backbone.features(torch.from_numpy(x), lengths), lengths))
        return cls(batches, dev.y)


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
    mini: LidnetResult | None = None  # the ``lidnet-mini`` backbone trained alongside


@dataclass
class _Encoder:
    """One encoder in training: encoder ``k`` of ``backbone``, its own linear classifier,
    optimiser, schedule, random stream (for its frequency masks) and early stopping."""

    name: str
    backbone: Any
    k: int
    classifier: Any
    opt: Any
    sched: Any
    cycle: OneCycle
    loss_fn: Any
    rng: np.random.Generator
    stopper: EarlyStopping
    history: list[dict[str, float]]
    active: bool = True
    epochs_run: int = 0
    cost: float = 1.0  # relative step cost (its channels), for balancing the lanes

    def step(self, feats: Any, y: Any, cfg: AugmentConfig, precision: Precision) -> float:
        self.backbone.encoders[self.k].train()
        self.classifier.train()
        masked = mask_frequencies(feats, self.rng, cfg)
        with autocast(precision):
            logits = self.classifier(self.backbone.encode(self.k, masked))
        loss = self.loss_fn(logits.float(), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        return float(loss.detach())

    def dev_macro_f1(self, dev: _DevFeatures, labels: list[str]) -> float:
        import torch

        self.backbone.encoders[self.k].eval()
        self.classifier.eval()
        probs = np.zeros((len(dev.y), len(labels)), dtype=np.float64)
        with torch.no_grad():
            for idx, feats, lengths in dev.batches:
                logits = self.classifier(self.backbone.encode(self.k, feats, lengths))
                probs[idx] = torch.softmax(logits, dim=1).double().numpy()
        return macro_f1(labels, dev.y, probs) if len(dev.y) else 0.0


def _start_encoder(
    name: str,
    backbone: tuple[Any, LidnetConfig],
    k: int,
    seed: int,
    train: LabelledAudio,
    labels: list[str],
    config: LidnetTrainConfig,
    steps_per_epoch: int,
) -> _Encoder:
    """Seed ``seed``, a fresh classifier, AdamW with a one-cycle schedule over every epoch
    (resized once the first epoch has shown how many fit the time budget), class-weighted
    label-smoothed cross-entropy."""
    import torch

    torch.manual_seed(seed)
    module, arch = backbone
    encoder = module.encoders[k]
    classifier = torch.nn.Linear(arch.embedding_dim, len(labels))
    params = list(encoder.parameters()) + list(classifier.parameters())
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    cycle = OneCycle(steps_per_epoch * config.epochs, pct_start=0.15)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cycle)
    weight = torch.tensor(class_weights(train.y, len(labels)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    stopper = EarlyStopping(config.patience, [encoder, classifier])
    rng = np.random.default_rng(seed)
    return _Encoder(
        name,
        module,
        k,
        classifier,
        opt,
        sched,
        cycle,
        loss_fn,
        rng,
        stopper,
        [],
        cost=float(arch.channels),
    )


def _epoch_batches(
    train: LabelledAudio,
    config: LidnetTrainConfig,
    steps: int,
    rng: np.random.Generator,
    bank: FieldBank | None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch's ``(indices, augmented crops)``: a permutation of the train split in
    batches of ``config.batch_size`` (a last batch of one is dropped: batch norm needs
    two), each batch cropped to a length drawn from ``[min_crop_s, crop_s]``."""
    lo, hi = int(config.min_crop_s * SAMPLE_RATE), int(config.crop_s * SAMPLE_RATE)
    order = rng.permutation(len(train.waves))
    for s in range(steps):
        idx = order[s * config.batch_size : (s + 1) * config.batch_size]
        if len(idx) < 2:
            continue
        n = int(rng.integers(min(lo, hi), hi + 1))
        yield idx, make_batch(train.waves, idx, n, rng, config.augment, bank)


def _mean_logits_classifier(heads: list[Any], dim: int) -> Any:
    """One linear layer over the concatenated embedding whose logits are the mean of the
    members' logits (the ensemble's own classifier)."""
    import torch

    out = torch.nn.Linear(dim * len(heads), heads[0].out_features)
    with torch.no_grad():
        out.weight.copy_(torch.cat([h.weight for h in heads], dim=1) / len(heads))
        out.bias.copy_(torch.stack([h.bias for h in heads]).mean(0))
    return out


def _same_front_end(a: LidnetConfig, b: LidnetConfig) -> bool:
    return (a.sample_rate, a.n_mels, a.hop_ms) == (b.sample_rate, b.n_mels, b.hop_ms)


def fit_lidnet(
    train: LabelledAudio,
    dev: LabelledAudio,
    labels: list[str],
    config: LidnetTrainConfig,
    *,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    bank: FieldBank | None = None,
) -> LidnetResult:
    """Train every encoder — the premium members (seeds ``seed + k``) and the mini encoder
    (seed ``seed + 100``) — in one loop over shared augmented batches; each keeps the state
    of its best dev macro-F1.  The premium backbone's embedding is its members'
    concatenation and its classifier averages their logits.  ``bank``: rooms and babble for
    the augmentation (default: built from the config)."""
    import torch

    from training.field_augment import build_field_bank
    from validation.speech_quality import torch_threads

    precision = resolve_precision(config.precision)
    config = config.model_copy(update={"precision": precision})  # the card records the choice
    log.info("lidnet: training steps in %s", precision)
    torch.manual_seed(config.seed)
    model_cfg = config.model.model_copy(update={"labels": labels})
    backbones: dict[str, tuple[Any, LidnetConfig]] = {NAME: (build_backbone(model_cfg), model_cfg)}
    if config.mini is not None:
        mini_cfg = config.mini.model_copy(update={"labels": labels})
        if not _same_front_end(model_cfg, mini_cfg):
            raise NordlidError("lidnet: the mini backbone must share the premium front end")
        backbones[MINI_NAME] = (build_backbone(mini_cfg), mini_cfg)
    if bank is None:
        aug = config.augment
        bank = build_field_bank(
            SAMPLE_RATE, config.seed, n_rirs=aug.rirs, talkers_per_language=aug.babble_per_language
        )
    steps = max(1, int(np.ceil(len(train.waves) / config.batch_size)))
    encoders = [
        _start_encoder(NAME, backbones[NAME], k, config.seed + k, train, labels, config, steps)
        for k in range(model_cfg.members)
    ]
    if MINI_NAME in backbones:
        mini_seed = config.seed + 100
        encoders.append(
            _start_encoder(
                MINI_NAME, backbones[MINI_NAME], 0, mini_seed, train, labels, config, steps
            )
        )
    front = backbones[NAME][0]  # every backbone shares this front end
    dev_feats = _DevFeatures.compute(front, dev)
    rng = np.random.default_rng(config.seed)
    lanes = LaneSettings.for_budget(
        len(encoders), torch.get_num_threads(), config.parallel_encoders
    )
    log.info(
        "lidnet: %d encoder(s) on %d lane(s) of %d torch thread(s)",
        len(encoders),
        lanes.lanes,
        lanes.threads_per_lane,
    )
    with Lanes(lanes.lanes) as pool, torch_threads(lanes.threads_per_lane):
        training_time = _train_epochs(
            encoders,
            front,
            train,
            dev_feats,
            labels,
            config,
            steps,
            rng,
            bank,
            precision,
            pool,
            on_epoch,
        )
    for e in encoders:
        e.stopper.restore()
    results: dict[str, LidnetResult] = {}
    for name, (backbone, cfg) in backbones.items():
        mine = [e for e in encoders if e.name == name]
        classifier = (
            mine[0].classifier
            if len(mine) == 1
            else _mean_logits_classifier([e.classifier for e in mine], cfg.embedding_dim)
        )
        backbone.eval()
        classifier.eval()
        if len(mine) == 1:
            f1 = mine[0].stopper.best_score
        else:
            proba, _ = _predict(backbone, classifier, dev.waves)
            f1 = macro_f1(labels, dev.y, proba) if len(dev.y) else 0.0
        log.info(
            "%s (%d encoder%s): dev macro-F1 %.4f (encoders %s)",
            name,
            len(mine),
            "s" if len(mine) > 1 else "",
            f1,
            ", ".join(f"{e.stopper.best_score:.4f}@{e.stopper.best_epoch}" for e in mine),
        )
        own = {"model": cfg} if name == NAME else {"model": cfg, "mini": None}
        results[name] = LidnetResult(
            backbone=backbone,
            classifier=classifier,
            config=config.model_copy(update=own),
            labels=labels,
            training_time_s=training_time,
            epochs_run=sum(e.epochs_run for e in mine),
            best_epoch=mine[-1].stopper.best_epoch,
            best_dev_macro_f1=f1,
            history=[row for e in mine for row in e.history],
        )
    premium = results[NAME]
    premium.mini = results.get(MINI_NAME)
    return premium


def _train_epochs(
    encoders: list[_Encoder],
    front: Any,
    train: LabelledAudio,
    dev_feats: _DevFeatures,
    labels: list[str],
    config: LidnetTrainConfig,
    steps: int,
    rng: np.random.Generator,
    bank: FieldBank | None,
    precision: Precision,
    pool: Lanes,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> float:
    """The epoch loop of :func:`fit_lidnet`: every active encoder steps on each shared
    batch (on ``pool``'s lanes), dev macro-F1 from ``eval_from`` on, early stopping, the
    schedule resized after epoch 1 to the epochs that fit the budget.  Returns seconds."""
    import torch

    planned = ceiling = config.epochs  # after epoch 1: what fits max_minutes, then re-planned
    start = time.perf_counter()
    train_times: list[float] = []  # per epoch, without the dev evaluation
    eval_s = 0.0  # the latest dev evaluation's seconds
    epoch = 0
    while epoch < planned:
        epoch += 1
        active = [e for e in encoders if e.active]
        if not active:
            break
        epoch_start = time.perf_counter()
        plan = plan_lanes([e.cost for e in active], pool.size)
        losses: dict[int, list[float]] = {id(e): [] for e in active}
        for idx, crops in prefetch(_epoch_batches(train, config, steps, rng, bank)):
            with torch.no_grad():
                feats = front.features(torch.from_numpy(crops))
            y = torch.from_numpy(train.y[idx])
            step_losses = pool.map(
                lambda e: e.step(feats, y, config.augment, precision),  # noqa: B023 - run now
                active,
                plan,
            )
            for e, loss in zip(active, step_losses, strict=True):
                losses[id(e)].append(loss)
        train_s = time.perf_counter() - epoch_start
        train_times.append(train_s)
        eval_from = max(1, int(np.ceil(config.eval_from * planned)))
        evaluate = epoch == 1 or epoch >= eval_from or epoch == planned
        eval_start = time.perf_counter()
        scores = (
            pool.map(lambda e: e.dev_macro_f1(dev_feats, labels), active, plan)
            if evaluate
            else [float("nan")] * len(active)
        )
        if evaluate:
            eval_s = time.perf_counter() - eval_start
        for e, f1 in zip(active, scores, strict=True):
            e.epochs_run = epoch
            row = {
                "member": float(e.k if e.name == NAME else -1),
                "epoch": float(epoch),
                "train_loss": float(np.mean(losses[id(e)])) if losses[id(e)] else float("nan"),
                "dev_macro_f1": f1,
                "elapsed_s": time.perf_counter() - start,
            }
            e.history.append(row)
            if on_epoch is not None:
                on_epoch(row)
            if evaluate:
                e.stopper.update(epoch, f1)
                if e.stopper.should_stop:
                    log.info(
                        "%s encoder %d: dev macro-F1 flat for %d epochs; stopping",
                        e.name,
                        e.k,
                        e.stopper.stale,
                    )
                    e.active = False
        elapsed = time.perf_counter() - start
        if epoch == 1:
            planned = ceiling = _epochs_that_fit(config, train_s, eval_s)
        else:
            planned = _replanned_epochs(
                config, planned, ceiling, epoch, elapsed, train_times, eval_s
            )
        for e in encoders:
            e.cycle.resize(steps * planned)
        log.info(
            "lidnet epoch %d/%d (%.0f s): %s",
            epoch,
            planned,
            elapsed,
            ", ".join(
                f"{e.name}[{e.k}] loss {e.history[-1]['train_loss']:.3f} "
                f"dev F1 {e.history[-1]['dev_macro_f1']:.3f}"
                for e in active
            ),
        )
        if elapsed > config.max_minutes * 60 * 1.25 and epoch < planned:
            # the machine got much slower than the first epoch said: stop rather than
            # overrun (the best dev state so far is kept)
            log.warning(
                "lidnet: %.1f min, past the budget of %.1f min, after epoch %d of %d",
                elapsed / 60,
                config.max_minutes,
                epoch,
                planned,
            )
            break
    return time.perf_counter() - start


def _epochs_that_fit(config: LidnetTrainConfig, train_s: float, eval_s: float) -> int:
    """Epochs (at most ``config.epochs``) that fit ``config.max_minutes``, from the first
    epoch's training and dev-evaluation seconds (evaluations run from ``eval_from`` on)."""
    budget = config.max_minutes * 60.0
    per_epoch = max(train_s + (1.0 - config.eval_from) * eval_s, 1e-6)
    fit = int(budget // per_epoch)
    if fit < config.epochs:
        log.info(
            "lidnet: %.0f s per epoch (%.0f s of it on dev): %d of %d epochs fit %.1f min; "
            "the learning-rate schedule is resized to them",
            train_s + eval_s,
            eval_s,
            max(fit, 1),
            config.epochs,
            config.max_minutes,
        )
    return max(1, min(config.epochs, fit))


def _replanned_epochs(
    config: LidnetTrainConfig,
    planned: int,
    ceiling: int,
    epoch: int,
    elapsed: float,
    train_times: list[float],
    eval_s: float,
    recent: int = 5,
) -> int:
    """The most epochs, up to ``ceiling`` (the first epoch's plan), whose rest still fits
    ``config.max_minutes`` after epoch ``epoch`` (``elapsed`` seconds in); ``planned`` is
    the current plan (for the log line).

    Each remaining epoch is expected to take the median training time of the last
    ``recent`` epochs, plus ``eval_s`` (the latest dev evaluation) where it evaluates on
    dev (from ``eval_from`` of that plan on, as :func:`_train_epochs` decides it).  The
    first epoch's estimate is off when later epochs run slower or faster (evaluations
    begin, the machine gets busier or quieter: a run planned 28 epochs of 7 min from its
    first and took 7.5), so the one-cycle schedule is resized to this plan each epoch, and
    its annealed end lands inside the budget.  With no time left the run ends after this
    epoch.
    """
    budget = config.max_minutes * 60.0
    per_epoch = float(np.median(train_times[-recent:])) if train_times else 0.0

    def cost(last: int) -> float:
        eval_from = max(1, int(np.ceil(config.eval_from * last)))  # as the loop decides it
        return sum(
            per_epoch + (eval_s if (j >= eval_from or j == last) else 0.0)
            for j in range(epoch + 1, last + 1)
        )

    fit = max(ceiling, epoch)
    while fit > epoch and elapsed + cost(fit) > budget:
        fit -= 1
    if fit != planned:
        log.info(
            "lidnet: %.0f s per epoch lately, %.0f s left of %.1f min: %d epochs instead of %d",
            per_epoch,
            budget - elapsed,
            config.max_minutes,
            fit,
            planned,
        )
    return fit


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
    mv = _publish_backbone(workdir, NAME, result, data, aliases, track)
    if result.mini is not None:
        _publish_backbone(workdir, MINI_NAME, result.mini, data, aliases, track)
    return mv


def _publish_backbone(
    workdir: Workdir,
    name: str,
    result: LidnetResult,
    data: dict[str, LabelledAudio],
    aliases: tuple[str, ...],
    track: bool,
) -> ModelVersion:
    mv = publish(
        workdir,
        name,
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
