"""Validation thresholds and rule actions: one pydantic model, loadable from YAML or JSON.

Every number a gate compares against lives here (nothing is buried in the checks), and
every rule's action — ``quarantine`` the row, ``flag`` it in the report while keeping it,
or ``off`` — can be changed per reason code::

    expectations: {duration_max_s: 30}
    quality: {min_speech_ratio: 0.3, squim_weights: /models/squim.safetensors}
    actions: {leakage_speaker: flag}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from corpus.manifest import GENDERS, SOURCES
from nordlid import LANGUAGES
from nordlid.errors import ConfigError
from validation import reasons

Action = Literal["quarantine", "flag", "off"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectationsConfig(_Strict):
    """The Great Expectations suite on the manifest (reference report Table 3.2 + labels)."""

    duration_min_s: float = Field(default=0.5, ge=0)  # 1 s clips are real field audio
    duration_max_s: float = Field(default=60.0, gt=0)
    allowed_sample_rates: list[int] = [16_000, 22_050, 24_000, 32_000, 44_100, 48_000]
    file_size_min: int = Field(default=1_000, ge=0, description="bytes; a WAV header alone is 44")
    file_size_max: int = Field(default=200_000_000, gt=0)
    languages: list[str] = list(LANGUAGES)
    splits: list[str] = ["train", "dev", "test"]
    sources: list[str] = list(SOURCES)
    genders: list[str] = list(GENDERS)
    data_docs: bool = Field(default=True, description="write GE's HTML Data Docs under reports/")

    @model_validator(mode="after")
    def _ranges(self) -> ExpectationsConfig:
        if self.duration_min_s >= self.duration_max_s:
            raise ValueError("duration_min_s must be below duration_max_s")
        if self.file_size_min >= self.file_size_max:
            raise ValueError("file_size_min must be below file_size_max")
        return self


class AudioConfig(_Strict):
    """Consistency between the manifest and the decoded file."""

    duration_tolerance_s: float = Field(default=0.05, ge=0)


class DuplicatesConfig(_Strict):
    """Exact duplicates by ``audio_sha256``; near duplicates by acoustic fingerprint."""

    near_threshold: float = Field(default=0.95, gt=0, le=1, description="cosine similarity")
    duration_tolerance: float = Field(
        default=0.03, ge=0, lt=1, description="relative difference of speech durations allowed"
    )
    augmented_copies_allowed: bool = Field(
        default=True,
        description="a near copy in the same split with another `condition` is an intended "
        "augmentation, reported but not a violation",
    )


class QualityConfig(_Strict):
    """silero-vad speech ratio and SQUIM objective scores."""

    vad: bool = True
    min_speech_ratio: float = Field(default=0.2, ge=0, le=1)
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    squim: bool = True
    squim_weights: str | None = None
    squim_max_seconds: float | None = Field(
        default=4.0, gt=0, description="score only the first seconds (SQUIM is slow on CPU)"
    )
    squim_threads: int | None = Field(
        default=1, ge=1, description="torch threads while scoring (None: torch's setting)"
    )
    min_stoi: float | None = None
    min_pesq: float | None = None
    min_si_sdr: float | None = None


class VoiceLeakageConfig(_Strict):
    """Same voice across splits from audio (Resemblyzer's pretrained GE2E encoder).

    On by default: embedding the default corpus (3,200 utterances of ~2.6 s) takes ~25 s on
    two CPU cores.  The threshold was chosen on the synthetic corpus
    (``benchmarks/voice_threshold.py``: no re-recorded copy missed, no false match among
    480 utterances).  On the whole default corpus it matches 24 dev/test utterances (31
    matches) to train/dev ones of *other* espeak-ng variants, mostly of the same pitch and
    speed setting (GE2E hears them as one voice), so matches are flagged, not quarantined
    (``DEFAULT_ACTIONS``).
    """

    enabled: bool = True
    threshold: float = Field(default=0.92, gt=0, le=1, description="cosine similarity")
    partials_per_second: float = Field(default=0.625, ge=0.625, le=10)


class BalanceConfig(_Strict):
    max_imbalance_ratio: float = Field(
        default=3.0,
        ge=1,
        description="largest / smallest language count; above it the report warns",
    )


DEFAULT_ACTIONS: dict[str, Action] = {
    reasons.LOW_STOI: "flag",
    reasons.LOW_PESQ: "flag",
    reasons.LOW_SI_SDR: "flag",
    # a voice match is evidence, not proof (two voices can sound alike): flagged, and a
    # config can quarantine it (actions: {leakage_voice: quarantine})
    reasons.LEAKAGE_VOICE: "flag",
}


class ValidationConfig(_Strict):
    expectations: ExpectationsConfig = Field(default_factory=ExpectationsConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    duplicates: DuplicatesConfig = Field(default_factory=DuplicatesConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    balance: BalanceConfig = Field(default_factory=BalanceConfig)
    voice_leakage: VoiceLeakageConfig = Field(default_factory=VoiceLeakageConfig)
    default_action: Action = "quarantine"
    actions: dict[str, Action] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_codes(self) -> ValidationConfig:
        unknown = [c for c in self.actions if not _is_known(c)]
        if unknown:
            known = ", ".join(sorted(reasons.DESCRIPTIONS))
            raise ValueError(f"actions: unknown reason codes {unknown} (known: {known})")
        return self

    def action(self, code: str) -> Action:
        if code in self.actions:
            return self.actions[code]
        if code.startswith(reasons.AUDIO_PREFIX) and reasons.AUDIO_PREFIX + "*" in self.actions:
            return self.actions[reasons.AUDIO_PREFIX + "*"]
        return DEFAULT_ACTIONS.get(code, self.default_action)


def _is_known(code: str) -> bool:
    return code in reasons.DESCRIPTIONS or code == reasons.AUDIO_PREFIX + "*"


def load_config(path: str | Path | None) -> ValidationConfig:
    """Defaults when ``path`` is None; otherwise a YAML (.yaml/.yml) or JSON file."""
    if path is None:
        return ValidationConfig()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"validation config {p}: file not found")
    import yaml

    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    if suffix not in {".yaml", ".yml", ".json"}:
        raise ConfigError(f"validation config {p}: use a .yaml, .yml or .json file")
    try:
        raw = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"validation config {p}: cannot parse ({exc})") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"validation config {p}: expected a mapping at the top level")
    try:
        return ValidationConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"validation config {p}: {problems}") from exc
