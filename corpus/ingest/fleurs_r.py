"""FLEURS-R (``google/fleurs-r``): the restored FLEURS speech, one config per language.

Hub / on-disk layout (the same as FLEURS)::

    data/<config>/{train,dev,test}.tsv            # no header, 7 tab-separated fields
    data/<config>/audio/{train,dev,test}.tar.gz   # members <split>/<file_name>

TSV fields: id, file_name, raw_transcription, transcription, phonemes, num_samples, gender.
FLEURS has no speaker ids; its train speakers differ from dev/test speakers, so the
official split is kept.  Audio is streamed out of the archives into ``store_dir``.
A directory ``data/<config>/audio/<split>/`` holding already-extracted files works too.
"""

from __future__ import annotations

import logging
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from corpus.ingest.common import (
    Candidate,
    IngestError,
    IngestResult,
    Progress,
    build,
    subsample,
)
from corpus.ingest.hub import resolve_dataset

log = logging.getLogger(__name__)

SOURCE = "fleurs-r"
REPO_ID = "google/fleurs-r"
CONFIGS: tuple[str, ...] = ("da_dk", "is_is", "nb_no", "sv_se")
SPLITS: tuple[str, ...] = ("train", "dev", "test")
N_FIELDS = 7


def _rows(tsv: Path, config: str, split: str) -> list[tuple[str, list[str]]]:
    rows = []
    for i, line in enumerate(tsv.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        rows.append((f"data/{config}/{tsv.name} line {i}", line.rstrip("\n").split("\t")))
    return rows


def _candidate(config: str, split: str, name: str, fields: list[str]) -> Candidate:
    if len(fields) != N_FIELDS:
        return Candidate(
            source_id=f"{config}/{split}/{name}",
            name=name,
            source_language=config,
            problem=("bad_row", f"expected {N_FIELDS} tab-separated fields, got {len(fields)}"),
        )
    _id, file_name, raw, _norm, _phon, _n, gender = fields
    return Candidate(
        source_id=f"{config}/{split}/{file_name}",
        name=f"{name} ({file_name})",
        source_language=config,
        gender=gender,
        split=split,
        text=raw,
    )


def _audio_members(archive: Path, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
    """(basename, bytes) of the wanted files, streamed from a tar(.gz) archive."""
    try:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or base not in wanted:
                    continue
                fh = tf.extractfile(member)
                if fh is not None:
                    yield base, fh.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise IngestError(f"{archive}: cannot read audio archive ({exc})") from exc


def _split_candidates(
    root: Path, config: str, split: str, store_dir: Path, limit: int | None, seed: int
) -> Iterator[Candidate]:
    base = root / "data" / config
    tsv = base / f"{split}.tsv"
    if not tsv.exists():
        raise IngestError(f"FLEURS-R: {tsv} not found (expected layout data/<config>/<split>.tsv)")
    rows = subsample(_rows(tsv, config, split), limit, seed)
    pending: dict[str, Candidate] = {}
    for name, fields in rows:
        c = _candidate(config, split, name, fields)
        if c.problem is not None:
            yield c
            continue
        file_name = fields[1]
        if file_name in pending:
            yield Candidate(
                source_id=c.source_id,
                name=c.name,
                source_language=config,
                problem=("duplicate", f"{file_name} listed twice in {tsv.name}"),
            )
            continue
        pending[file_name] = c
    dest = store_dir / SOURCE / config / split
    extracted = base / "audio" / split
    archive = base / "audio" / f"{split}.tar.gz"
    if extracted.is_dir():
        for file_name in list(pending):
            c = pending.pop(file_name)
            c.audio_path = extracted / file_name
            yield c
    elif archive.exists():
        for file_name, data in _audio_members(archive, set(pending)):
            if file_name not in pending:
                continue  # listed twice in the archive; the first copy was used
            c = pending.pop(file_name)
            c.audio_bytes = data
            c.store_path = dest / file_name
            yield c
    for file_name, c in pending.items():
        where = archive if archive.exists() else extracted
        c.problem = ("missing_file", f"{file_name} not found in {where}")
        yield c


def ingest_fleurs_r(
    source: str | Path = REPO_ID,
    *,
    store_dir: Path,
    configs: Sequence[str] = CONFIGS,
    splits: Sequence[str] = SPLITS,
    limit: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> IngestResult:
    """Read FLEURS-R configs/splits from a local copy or the hub into manifest rows.

    ``limit`` keeps a seeded random subset of that many rows per config and split.
    """
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise IngestError(f"FLEURS-R: unknown split(s) {bad} (choose from {', '.join(SPLITS)})")
    patterns = [f"data/{c}/{s}.tsv" for c in configs for s in splits] + [
        f"data/{c}/audio/{s}.tar.gz" for c in configs for s in splits
    ]
    root = resolve_dataset(source, allow_patterns=patterns, what="FLEURS-R")

    def candidates() -> Iterator[Candidate]:
        for config in configs:
            for split in splits:
                yield from _split_candidates(root, config, split, store_dir, limit, seed)

    return build(candidates(), source=SOURCE, seed=seed, progress=progress)
