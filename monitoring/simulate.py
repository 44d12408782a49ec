"""`nordlid drift simulate`: a drifted serving log from held-out audio.

Held-out audio (the test split of the validated manifest, or fresh
``corpus.synth.synthesize_holdout`` audio) is degraded with the corpus's own
degradations (``corpus.degrade``: noise at an SNR, a telephone channel, gain), its
each request is answered by the serving cascade itself (``serving.predictor.Predictor``:
mini, then premium when mini is unsure) with the extractor code serving uses
(``serving.adapters.ExtractorFeatureComputer`` → ``extractors.engine.extract_waves``), and
written as the service logs it (``serving.request_log.serving_log_row``: the answering
model, whether it escalated, every feature the cascade computed), plus, by default, the
true labels as feedback — so the monitoring loop runs without traffic and sees what
serving would have logged.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nordlid.atomic import atomic_path
from nordlid.audio import TARGET_SAMPLE_RATE
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir

log = logging.getLogger(__name__)


class SimulationConfig(BaseModel):
    """The degradation to apply (none of them: a clean baseline log)."""

    model_config = ConfigDict(extra="forbid")

    noise_snr_db: float | None = Field(default=None, ge=-10, le=60)
    noise_kind: str = "white"
    telephone: bool = False
    gain_db: float | None = Field(default=None, ge=-60, le=40)
    n: int | None = Field(default=None, ge=1)
    splits: tuple[str, ...] = ("test",)
    seed: int = 0
    feedback: bool = True

    @property
    def condition(self) -> str:
        parts = []
        if self.noise_snr_db is not None:
            parts.append(f"noise{self.noise_snr_db:g}dB")
        if self.telephone:
            parts.append("telephone")
        if self.gain_db is not None:
            parts.append(f"gain{self.gain_db:+g}dB")
        return "+".join(parts) or "clean"


def degrade(wave16k: np.ndarray, config: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """Apply the configured degradations in a fixed order: telephone, noise, gain."""
    from corpus import degrade as dg

    x = np.asarray(wave16k, dtype=np.float32)
    if config.telephone:
        x, _ = dg.telephone(x, TARGET_SAMPLE_RATE, keep_rate=True)
    if config.noise_snr_db is not None:
        if config.noise_kind not in ("white", "pink", "brown"):
            raise ConfigError(f"noise kind {config.noise_kind!r}: use white, pink or brown")
        x = dg.fit_to_range(dg.add_noise(x, config.noise_snr_db, rng, kind=config.noise_kind))  # type: ignore[arg-type]
    if config.gain_db is not None:
        x = dg.apply_gain(x, config.gain_db)
    return np.asarray(x, dtype=np.float32)


def _at_most(frame: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """``n`` distinct rows (never repeated: repeated utterances would fake drift)."""
    if n is None or n >= len(frame):
        if n is not None and n > len(frame):
            log.warning(
                "only %d held-out utterances available; simulating %d", len(frame), len(frame)
            )
        return frame.reset_index(drop=True)
    return frame.sample(n=n, random_state=seed).reset_index(drop=True)


def held_out_audio(
    workdir: Workdir, n: int | None, seed: int, splits: tuple[str, ...] = ("test",)
) -> pd.DataFrame:
    """``path``, ``language`` of held-out utterances (``splits`` of the validated manifest,
    else freshly synthesized held-out audio)."""
    from corpus.manifest import read_manifest

    if workdir.validated_manifest.exists():
        manifest = read_manifest(workdir.validated_manifest)
        test = manifest[manifest["split"].isin(splits)]
        if len(test):
            return _at_most(test[["path", "language"]], n, seed)
    from corpus.synth import synthesize_holdout

    per_language = max(1, -(-(n or 40) // 4))
    out = workdir.data / "holdout" / f"seed{seed}"
    log.info("no test split in the validated manifest; synthesizing held-out audio in %s", out)
    frame = synthesize_holdout(out, per_language=per_language, seed=seed)
    return _at_most(frame[["path", "language"]], n, seed)


@dataclass
class SimulatedLog:
    rows: pd.DataFrame
    serving_log_part: Path
    feedback_part: Path | None


def _write_part(directory: Path, rows: list[dict[str, Any]], prefix: str) -> Path:
    import pyarrow.parquet as pq

    from serving.request_log import rows_to_table

    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    final = directory / f"part-{stamp}-{prefix}-{uuid.uuid4().hex[:8]}.parquet"
    with atomic_path(final) as tmp:
        pq.write_table(rows_to_table(rows), tmp)
    return final


def simulate_rows(
    waves: list[np.ndarray],
    languages: list[str],
    predictor: Any,
    config: SimulationConfig,
    *,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Serving-log rows (plus ``true_language``) for degraded ``waves`` (16 kHz mono), each
    answered by ``predictor`` (a ``serving.predictor.Predictor``) as a request would be."""
    from serving.request_log import serving_log_row

    if len(waves) != len(languages):
        raise ConfigError(f"simulate: {len(waves)} waves but {len(languages)} languages")
    rng = np.random.default_rng(config.seed)
    start = now or datetime.now(UTC)
    route = f"simulate:{config.condition}"
    rows: list[dict[str, Any]] = []
    for i, (wave, language) in enumerate(zip(waves, languages, strict=True)):
        degraded = degrade(wave, config, rng)
        prediction = predictor.identify(degraded)
        row = serving_log_row(
            f"sim-{uuid.uuid4().hex}",
            route,
            prediction,
            len(degraded) / TARGET_SAMPLE_RATE,
            prediction.timings_ms,
        )
        row["timestamp"] = start + timedelta(milliseconds=i)
        row["true_language"] = language
        rows.append(row)
    return rows


def simulate(
    workdir: Workdir,
    config: SimulationConfig,
    *,
    mini_ref: str = "@mini",
    premium_ref: str | None = "@premium",
    audio: pd.DataFrame | None = None,
    computer: Any = None,
    now: datetime | None = None,
) -> SimulatedLog:
    """Degrade held-out audio, answer it with the serving cascade (``mini_ref`` →
    ``premium_ref``; ``None``: mini alone) and append the requests to the serving log."""
    from nordlid.audio import decode, to_model_input
    from serving.adapters import ExtractorFeatureComputer, RegistryModelLoader
    from serving.predictor import Predictor

    predictor = Predictor.load(
        RegistryModelLoader(workdir),
        computer or ExtractorFeatureComputer(),
        mini_ref,
        premium_ref,
    )
    if audio is None:
        audio = held_out_audio(workdir, config.n, config.seed, config.splits)
    else:
        audio = _at_most(audio, config.n, config.seed)
    waves = [to_model_input(decode(str(p))) for p in audio["path"]]
    languages = [str(x) for x in audio["language"]]
    models = " → ".join(str(m["model"]) for m in predictor.models())
    log.info("simulating %d requests (%s) with %s", len(waves), config.condition, models)
    rows = simulate_rows(waves, languages, predictor, config, now=now)
    log_rows = [{k: v for k, v in r.items() if k != "true_language"} for r in rows]
    part = _write_part(workdir.serving_log, log_rows, "sim")
    fb_part = None
    if config.feedback:
        fb_rows = [
            {
                "request_id": r["request_id"],
                "language": r["true_language"],
                "timestamp": r["timestamp"],
            }
            for r in rows
        ]
        fb_part = _write_part(workdir.feedback_log, fb_rows, "sim")
    frame = pd.DataFrame(rows)
    acc = float((frame["language"] == frame["true_language"]).mean()) if len(frame) else 0.0
    log.info("wrote %d simulated requests to %s (accuracy %.3f)", len(rows), part, acc)
    return SimulatedLog(rows=frame, serving_log_part=part, feedback_part=fb_part)
