"""Small, real pieces for the serving tests (no stubs that fake answers).

- two tiny extractors (real :class:`extractors.base.Extractor` subclasses, registered in the
  extractor registry the way a user adds a backbone): ``servetone`` (coarse log band
  energies + zero-crossing rate, the "mini" view) and ``servefine`` (fine log band
  energies, the "premium" view);
- :func:`tone` — synthetic "languages": harmonic tones with a class-specific pitch;
- :class:`RedisHashStore` — an online store on a real Redis (for tests that must run before
  or without the Feast repo), implementing :class:`serving.predictor.OnlineStore`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from extractors.base import Extractor
from extractors.registry import RegistryEntry
from extractors.spec import ExtractorSpec, FeatureColumn
from serving.errors import OnlineStoreUnavailableError
from serving.predictor import OnlineResult

PITCH = {"da": 140.0, "fo": 190.0, "is": 260.0, "no": 350.0, "sv": 470.0}
SR = 16_000


def tone(
    language: str, seconds: float = 1.5, *, rng: np.random.Generator, sr: int = SR
) -> np.ndarray:
    return tone_at(PITCH[language] * (1.0 + rng.uniform(-0.04, 0.04)), seconds, rng=rng, sr=sr)


def tone_at(f0: float, seconds: float, *, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """A harmonic tone at pitch ``f0`` (between two classes' pitches: an unsure input)."""
    t = np.arange(int(seconds * sr)) / sr
    harmonics = [k for k in range(1, 13) if k * f0 < 3800.0]  # below Nyquist at 8 kHz
    wave = sum((0.5 / k) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.28)) for k in harmonics)
    wave = wave + 0.0005 * rng.standard_normal(t.size)
    return (0.6 * wave / np.max(np.abs(wave))).astype(np.float32)


def _band_energies(wave: np.ndarray, n_bands: int, fmax: float) -> np.ndarray:
    spec = np.abs(np.fft.rfft(wave * np.hanning(wave.size))) ** 2
    freqs = np.fft.rfftfreq(wave.size, 1.0 / SR)
    edges = np.linspace(50.0, fmax, n_bands + 1)
    total = spec.sum() + 1e-12
    out = np.empty(n_bands, dtype=np.float32)
    for i in range(n_bands):  # share of the energy per band: independent of length and gain
        sel = (freqs >= edges[i]) & (freqs < edges[i + 1])
        out[i] = np.log(spec[sel].sum() / total + 1e-6)
    return out


def tone_spec() -> ExtractorSpec:
    return ExtractorSpec(
        name="servetone",
        version="1",
        columns=(FeatureColumn("bands", length=16), FeatureColumn("zcr")),
        description="serving tests: coarse bands + zero-crossing rate",
    )


def fine_spec() -> ExtractorSpec:
    return ExtractorSpec(
        name="servefine",
        version="1",
        columns=(FeatureColumn("bands", length=40),),
        description="serving tests: fine bands",
    )


class ToneExtractor(Extractor):
    def __init__(self) -> None:
        self.spec = tone_spec()

    def extract(self, waves: list[np.ndarray]) -> list[dict[str, object]]:
        rows = []
        for w in waves:
            zcr = float(np.mean(np.abs(np.diff(np.signbit(w).astype(np.int8)))))
            rows.append({"bands": _band_energies(w, 16, 1650.0), "zcr": zcr})
        return rows


class FineExtractor(Extractor):
    def __init__(self) -> None:
        self.spec = fine_spec()

    def extract(self, waves: list[np.ndarray]) -> list[dict[str, object]]:
        return [{"bands": _band_energies(w, 40, 1650.0)} for w in waves]


def registry_entries() -> list[RegistryEntry]:
    return [
        RegistryEntry("servetone", tone_spec, "serving_toys:ToneExtractor", "serving tests"),
        RegistryEntry("servefine", fine_spec, "serving_toys:FineExtractor", "serving tests"),
    ]


class RedisHashStore:
    """Feature rows as JSON in Redis hashes ``<prefix>:<view>:<id>``; services map to views."""

    def __init__(self, url: str, prefix: str, services: dict[str, Sequence[str]]) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self.prefix = prefix
        self.services = {k: list(v) for k, v in services.items()}

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        import redis

        try:
            return fn(*args)
        except (redis.exceptions.RedisError, OSError) as exc:
            raise OnlineStoreUnavailableError(f"Redis did not answer: {exc}") from exc

    def push(self, view: str, rows: pd.DataFrame) -> None:
        pipe = self.client.pipeline()
        for rec in rows.to_dict("records"):
            uid = rec.pop("utterance_id")
            values = {
                k: json.dumps(np.asarray(v).tolist() if isinstance(v, list | np.ndarray) else v)
                for k, v in rec.items()
                if k not in ("event_timestamp", "created_timestamp")
            }
            pipe.hset(f"{self.prefix}:{view}:{uid}", mapping=values)
        self._call(pipe.execute)

    def online_features(self, service: str, utterance_ids: list[str]) -> OnlineResult:
        rows, missing = [], []
        for uid in utterance_ids:
            row: dict[str, object] = {"utterance_id": uid}
            ok = True
            for view in self.services[service]:
                raw = self._call(self.client.hgetall, f"{self.prefix}:{view}:{uid}")
                if not raw:
                    ok = False
                    break
                for k, v in raw.items():
                    row[f"{view}__{k.decode()}"] = json.loads(v)
            if ok:
                rows.append(row)
            else:
                missing.append(uid)
        return OnlineResult(frame=pd.DataFrame(rows), missing=missing)

    def ping(self) -> None:
        self._call(self.client.ping)

    def clear(self) -> None:
        keys = list(self.client.scan_iter(f"{self.prefix}:*"))
        if keys:
            self.client.delete(*keys)


class MissingWeightsExtractor(Extractor):
    """What a backbone extractor does when its checkpoint is not on this machine."""

    def __init__(self) -> None:
        from nordlid.errors import MissingCheckpointError

        raise MissingCheckpointError("servefine", "toy/fine-ckpt", "HF_HUB_OFFLINE=1, not cached")

    def extract(self, waves: list[np.ndarray]) -> list[dict[str, object]]:
        raise AssertionError("never constructed")


def wav_bytes(
    wave: np.ndarray, sr: int = 16_000, fmt: str = "WAV", subtype: str | None = None
) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def set_threshold(workdir: Any, ref: str, threshold: float | None) -> None:
    from training.registry import ModelRegistry

    reg = ModelRegistry(workdir.models)
    card = reg.load_card(ref)
    reg.write_card(card.model_copy(update={"threshold": threshold}))


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """One Prometheus sample's value (parsed: label order and number format do not matter)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None
