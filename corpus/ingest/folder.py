"""A plain folder of audio files plus a labels table (TSV or CSV).

Required columns: ``path`` (relative to the audio directory) and ``language`` (``da``,
``fo``, ``is``, ``no``, ``sv`` or a regional/ISO code such as ``nb-NO``, ``nn``, ``sv_SE``);
optional: ``speaker_id``, ``gender``, ``split``, ``text``.  Rows without a split get a
speaker-independent one (a speaker that has a split elsewhere in the file keeps it).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pandas as pd

from corpus.ingest.common import (
    Candidate,
    IngestError,
    IngestResult,
    Progress,
    blank,
    build,
)

log = logging.getLogger(__name__)

SOURCE = "folder"
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "language")
OPTIONAL_COLUMNS: tuple[str, ...] = ("speaker_id", "gender", "split", "text")


def read_labels(labels: Path) -> pd.DataFrame:
    if not labels.is_file():
        raise IngestError(f"{labels}: labels file not found")
    suffix = labels.suffix.lower()
    sep: str | None = "\t" if suffix in (".tsv", ".tab") else "," if suffix == ".csv" else None
    try:
        frame = pd.read_csv(
            labels,
            sep=sep,
            engine="python" if sep is None else "c",
            dtype=str,
            keep_default_na=False,
            na_values=[],
            quoting=csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(f"{labels}: cannot read the labels table ({exc})") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise IngestError(
            f"{labels}: missing required column(s) {missing} (found {list(frame.columns)}; "
            f"need {list(REQUIRED_COLUMNS)}, optional {list(OPTIONAL_COLUMNS)})"
        )
    return frame


def _candidates(audio_dir: Path, labels: Path, frame: pd.DataFrame) -> Iterator[Candidate]:
    root = audio_dir.resolve()
    for i, rec in enumerate(frame.to_dict("records"), start=2):
        rel = str(rec.get("path", "")).strip()
        name = f"{labels.name} row {i}" + (f" ({rel})" if rel else "")
        c = Candidate(
            source_id=PurePosixPath(rel.replace("\\", "/")).as_posix() if rel else f"row{i}",
            name=name,
            source_language=rec.get("language"),
            speaker_id=rec.get("speaker_id"),
            gender=rec.get("gender"),
            split=rec.get("split"),
            text=rec.get("text"),
        )
        if not rel:
            c.problem = ("missing_value", "empty value in column 'path'")
        elif blank(rec.get("language")):
            c.problem = ("missing_value", "empty value in column 'language'")
        else:
            target = (root / rel).resolve()
            if not target.is_relative_to(root):
                c.problem = ("outside_audio_dir", f"path {rel!r} points outside {root}")
            else:
                c.audio_path = target
        yield c


def ingest_folder(
    audio_dir: str | Path,
    labels_file: str | Path,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> IngestResult:
    """Read ``labels_file`` rows whose audio lives under ``audio_dir`` into manifest rows."""
    audio = Path(audio_dir).expanduser()
    if not audio.is_dir():
        raise IngestError(f"{audio}: audio directory not found")
    labels = Path(labels_file).expanduser()
    frame = read_labels(labels)
    return build(_candidates(audio, labels, frame), source=SOURCE, seed=seed, progress=progress)
