"""Reason codes: every validation rule has one, with a one-line meaning for the report.

A rule's *action* (configurable, see :mod:`validation.config`) decides whether a row that
breaks it is quarantined or only flagged; the code itself never changes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

# Great Expectations suite on the manifest (reference report, Table 3.2, plus labels)
DURATION_MISSING = "duration_missing"
DURATION_NOT_NUMERIC = "duration_not_numeric"
DURATION_OUT_OF_RANGE = "duration_out_of_range"
SAMPLE_RATE_MISSING = "sample_rate_missing"
SAMPLE_RATE_NOT_ALLOWED = "sample_rate_not_allowed"
FILE_SIZE_MISSING = "file_size_missing"
FILE_SIZE_NOT_INTEGER = "file_size_not_integer"
FILE_SIZE_OUT_OF_RANGE = "file_size_out_of_range"
PATH_DUPLICATE = "path_duplicate"
UTTERANCE_ID_MISSING = "utterance_id_missing"
UTTERANCE_ID_DUPLICATE = "utterance_id_duplicate"
LANGUAGE_UNKNOWN = "language_unknown"
SPLIT_UNKNOWN = "split_unknown"
SOURCE_UNKNOWN = "source_unknown"
GENDER_UNKNOWN = "gender_unknown"
REQUIRED_FIELD_MISSING = "required_field_missing"
# audio file
AUDIO_PREFIX = "audio_"  # + the decoder's code: audio_truncated, audio_not_audio, ...
DURATION_MISMATCH = "duration_mismatch"
SAMPLE_RATE_MISMATCH = "sample_rate_mismatch"
# duplicates and leakage
DUPLICATE_EXACT = "duplicate_exact"
DUPLICATE_NEAR = "duplicate_near"
LEAKAGE_DUPLICATE_EXACT = "leakage_duplicate_exact"
LEAKAGE_DUPLICATE_NEAR = "leakage_duplicate_near"
LEAKAGE_SPEAKER = "leakage_speaker"
LEAKAGE_VOICE = "leakage_voice"
# speech quality
MOSTLY_SILENT = "mostly_silent"
LOW_STOI = "low_stoi"
LOW_PESQ = "low_pesq"
LOW_SI_SDR = "low_si_sdr"

DECODER_CODES: dict[str, str] = {
    "missing_file": "the file does not exist",
    "empty": "the file is empty (0 bytes)",
    "not_audio": "the file is not a readable audio file",
    "corrupt": "the audio data is corrupt",
    "truncated": "the file is shorter than its header declares",
    "no_samples": "the audio has no samples",
    "bad_header": "the header is invalid",
    "non_finite": "the audio has NaN or infinite samples",
    "unreadable_audio": "the audio could not be decoded",
}

DESCRIPTIONS: dict[str, str] = {
    DURATION_MISSING: "duration_s is null",
    DURATION_NOT_NUMERIC: "duration_s is not a number",
    DURATION_OUT_OF_RANGE: "duration_s outside the allowed range",
    SAMPLE_RATE_MISSING: "sample_rate is null",
    SAMPLE_RATE_NOT_ALLOWED: "sample_rate not in the allowed set",
    FILE_SIZE_MISSING: "file_size is null",
    FILE_SIZE_NOT_INTEGER: "file_size is not an integer",
    FILE_SIZE_OUT_OF_RANGE: "file_size outside the allowed bounds",
    PATH_DUPLICATE: "the same path appears on an earlier row",
    UTTERANCE_ID_MISSING: "utterance_id is null",
    UTTERANCE_ID_DUPLICATE: "the same utterance_id appears on an earlier row",
    LANGUAGE_UNKNOWN: "language not in the label set",
    SPLIT_UNKNOWN: "split not in train/dev/test",
    SOURCE_UNKNOWN: "source not one of the known corpus sources",
    GENDER_UNKNOWN: "gender neither female, male nor null",
    REQUIRED_FIELD_MISSING: "a column the manifest schema requires is null",
    DURATION_MISMATCH: "decoded duration differs from the manifest's duration_s",
    SAMPLE_RATE_MISMATCH: "the file's sample rate differs from the manifest's sample_rate",
    DUPLICATE_EXACT: "same decoded audio (audio_sha256) as an earlier row of the same split",
    DUPLICATE_NEAR: (
        "same speech (re-encoded, resampled or gain-changed) as an earlier row of the same split"
    ),
    LEAKAGE_DUPLICATE_EXACT: "same decoded audio as a row of an earlier split (split leakage)",
    LEAKAGE_DUPLICATE_NEAR: "same speech as a row of an earlier split (split leakage)",
    LEAKAGE_SPEAKER: "speaker also appears in another split (speaker leakage)",
    LEAKAGE_VOICE: "the same voice (speaker encoder) speaks in an earlier split (voice leakage)",
    MOSTLY_SILENT: "VAD speech ratio below the minimum (mostly silent)",
    LOW_STOI: "SQUIM STOI below the minimum",
    LOW_PESQ: "SQUIM PESQ below the minimum",
    LOW_SI_SDR: "SQUIM SI-SDR below the minimum",
    **{AUDIO_PREFIX + k: f"unreadable audio: {v}" for k, v in DECODER_CODES.items()},
}


def describe(code: str) -> str:
    return DESCRIPTIONS.get(code, code)


@dataclass(frozen=True)
class Finding:
    """One rule broken by one row (by its position in the manifest)."""

    row: int
    code: str
    detail: str
    related_id: str | None = None  # the utterance a duplicate/leak points to


@dataclass
class Findings:
    """Every finding of a run, grouped by row; rows keep all of their reasons."""

    items: list[Finding] = field(default_factory=list)

    def add(self, row: int, code: str, detail: str, related_id: str | None = None) -> None:
        self.items.append(Finding(int(row), code, detail, related_id))

    def extend(self, other: Findings) -> None:
        self.items.extend(other.items)

    def by_row(self) -> dict[int, list[Finding]]:
        out: dict[int, list[Finding]] = defaultdict(list)
        for f in self.items:
            out[f.row].append(f)
        return dict(out)

    def codes(self) -> set[str]:
        return {f.code for f in self.items}

    def __len__(self) -> int:
        return len(self.items)
