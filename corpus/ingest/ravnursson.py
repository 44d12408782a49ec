"""Ravnursson (Faroese read speech, ``carlosdanielhernandezmena/ravnursson_asr``).

Read with the ``datasets`` library: ``load_dataset`` for the hub id or a local directory
of Parquet shards (the hub's layout: ``<config>/<split>-NNNNN-of-NNNNN.parquet``), or
``load_from_disk`` for a directory written by ``Dataset(Dict).save_to_disk``.  Columns:
``audio_id``, ``audio``, ``speaker_id``, ``gender``, ``age``, ``duration``,
``normalized_text``; splits ``train``, ``validation``, ``test`` (speaker-disjoint, kept).

Audio is not decoded by ``datasets`` (``Audio(decode=False)``): the original bytes are
written to ``store_dir`` and decoded by nordlid.  ``limit`` keeps a seeded random subset
of that many rows per split (not the first N).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from corpus.ingest.common import (
    Candidate,
    IngestError,
    IngestResult,
    Progress,
    blank,
    build,
    safe_name,
    subsample,
)

log = logging.getLogger(__name__)

SOURCE = "ravnursson"
REPO_ID = "carlosdanielhernandezmena/ravnursson_asr"
SPLITS: tuple[str, ...] = ("train", "validation", "test")
LANGUAGE_CODE = "fo"


def _is_saved_to_disk(path: Path) -> bool:
    return (path / "dataset_dict.json").exists() or (path / "state.json").exists()


def load_splits(source: str | Path, splits: Sequence[str]) -> dict[str, Any]:
    """``{split: datasets.Dataset}`` from a hub id, a Parquet directory or a saved dataset."""
    import datasets
    from datasets import DatasetDict

    path = Path(source).expanduser()
    try:
        if path.exists() and _is_saved_to_disk(path):
            loaded = datasets.load_from_disk(str(path))
        else:
            loaded = datasets.load_dataset(str(path) if path.exists() else str(source))
    except FileNotFoundError as exc:
        raise IngestError(f"Ravnursson: cannot find {source} ({exc})") from exc
    except (ValueError, OSError, ConnectionError) as exc:
        raise IngestError(
            f"Ravnursson: cannot load {source!s} with `datasets` ({exc}); offline "
            "(HF_HUB_OFFLINE=1) only a local copy or the local cache works"
        ) from exc
    if not isinstance(loaded, DatasetDict):
        raise IngestError(f"Ravnursson: {source} holds a single split; expected {list(SPLITS)}")
    missing = [s for s in splits if s not in loaded]
    if missing:
        raise IngestError(
            f"Ravnursson: split(s) {missing} not in {source} (found {list(loaded.keys())})"
        )
    return {s: loaded[s] for s in splits}


def _candidates(
    ds: Any, split: str, store_dir: Path, limit: int | None, seed: int
) -> Iterator[Candidate]:
    from datasets import Audio

    if "audio" not in ds.column_names:
        raise IngestError(
            f"Ravnursson split {split!r}: missing column 'audio' (found {ds.column_names})"
        )
    if isinstance(ds.features.get("audio"), Audio):
        ds = ds.cast_column("audio", Audio(decode=False))
    indices = subsample(range(len(ds)), limit, seed)
    subset = ds.select(indices) if len(indices) != len(ds) else ds
    for idx, rec in zip(indices, subset, strict=True):
        audio_id = rec.get("audio_id")
        key = str(audio_id) if not blank(audio_id) else f"row{idx}"
        name = f"{split}[{idx}] ({key})"
        audio = rec.get("audio") or {}
        data = audio.get("bytes") if isinstance(audio, dict) else None
        apath = audio.get("path") if isinstance(audio, dict) else None
        c = Candidate(
            source_id=f"{split}/{key}",
            name=name,
            source_language=LANGUAGE_CODE,
            speaker_id=rec.get("speaker_id"),
            gender=rec.get("gender"),
            split=split,
            text=rec.get("normalized_text"),
        )
        suffix = Path(str(apath)).suffix if apath else ".flac"
        if data:
            c.audio_bytes = bytes(data)
            c.store_path = store_dir / SOURCE / split / f"{safe_name(key)}{suffix or '.flac'}"
        elif apath and Path(str(apath)).exists():
            c.audio_path = Path(str(apath))
        else:
            c.problem = ("missing_file", f"no audio bytes and no readable file ({apath!r})")
        yield c


def ingest_ravnursson(
    source: str | Path = REPO_ID,
    *,
    store_dir: Path,
    splits: Sequence[str] = SPLITS,
    limit: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> IngestResult:
    """Read Ravnursson splits into manifest rows (language ``fo``)."""
    loaded = load_splits(source, splits)

    def candidates() -> Iterator[Candidate]:
        for split, ds in loaded.items():
            yield from _candidates(ds, split, store_dir, limit, seed)

    return build(candidates(), source=SOURCE, seed=seed, progress=progress)
