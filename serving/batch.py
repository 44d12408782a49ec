"""`nordlid predict`: the service's predictor over local files, one JSON line each."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from nordlid.errors import NordlidError
from serving import audio_input
from serving.predictor import FeatureComputer, ModelLoader, Predictor
from serving.settings import ServingSettings
from serving.speech import NoSpeechError, SpeechGate, identify_speech

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3")


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; directories searched recursively for audio files (sorted)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        else:
            yield path


def predict_paths(
    paths: Iterable[Path],
    settings: ServingSettings,
    *,
    loader: ModelLoader | None = None,
    features: FeatureComputer | None = None,
) -> Iterator[str]:
    """One JSON line per file.

    ``{"path","language","confidence","probabilities","model","escalated"}``;
    audio with too little speech ``{"path","language": null,"reason": "no_speech",
    "speech_s","detail"}``; unreadable files ``{"path","error"}``.
    """
    if loader is None or features is None:
        from serving.adapters import ExtractorFeatureComputer, RegistryModelLoader

        loader = loader or RegistryModelLoader(settings.workdir_obj)
        features = features or ExtractorFeatureComputer(torch_threads=settings.torch_threads)
    predictor = Predictor.load(loader, features, settings.mini_model, settings.premium_ref)
    limits = audio_input.Limits(
        max_upload_bytes=settings.max_upload_bytes,
        min_duration_s=settings.min_duration_s,
        max_duration_s=settings.max_duration_s,
    )
    gate = SpeechGate(settings.min_speech_s)
    for path in expand(paths):
        yield _predict_one(path, predictor, gate, limits)


def _predict_one(
    path: Path, predictor: Predictor, gate: SpeechGate, limits: audio_input.Limits
) -> str:
    try:
        prepared = audio_input.from_path(path, limits)
        p, _ = identify_speech(predictor, gate, prepared.wave, str(path))
    except NoSpeechError as exc:
        return json.dumps({"path": str(path), "language": None, **exc.body()})
    except NordlidError as exc:
        log.debug("skipping %s: %s", path, exc)
        return json.dumps({"path": str(path), "error": str(exc)})
    return json.dumps(
        {
            "path": str(path),
            "language": p.language,
            "confidence": p.confidence,
            "probabilities": p.probabilities,
            "model": p.model,
            "escalated": p.escalated,
        }
    )
