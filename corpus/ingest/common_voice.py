"""Common Voice 17 (locales da, is, nn-NO, sv-SE).

Two layouts are read:

- the Mozilla release (``cv-corpus-17.0-…``)::

      <root>/<locale>/{train,dev,test,validated,…}.tsv
      <root>/<locale>/clips/<path>.mp3

  (``<root>`` may also be one locale directory itself);
- the Hub repo ``mozilla-foundation/common_voice_17_0``::

      transcript/<locale>/<split>.tsv
      audio/<locale>/<split>/<locale>_<split>_<n>.tar   # members are the clip files

TSV columns used: ``client_id`` (speaker), ``path``, ``sentence``, ``gender``, ``locale``.
Common Voice's train/dev/test are speaker-disjoint and are kept; other TSVs
(``validated``, ``other``) get a speaker-independent split.
"""

from __future__ import annotations

import csv
import logging
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from corpus.ingest.common import (
    Candidate,
    IngestError,
    IngestResult,
    Progress,
    blank,
    build,
    map_split,
    subsample,
)
from corpus.ingest.hub import resolve_dataset

log = logging.getLogger(__name__)

SOURCE = "common-voice-17"
REPO_ID = "mozilla-foundation/common_voice_17_0"
LOCALES: tuple[str, ...] = ("da", "is", "nn-NO", "sv-SE")
SPLITS: tuple[str, ...] = ("train", "dev", "test")
REQUIRED_COLUMNS: tuple[str, ...] = ("path",)


def read_tsv(tsv: Path) -> pd.DataFrame:
    """A Common Voice TSV as strings (no quoting: sentences may contain quotes)."""
    try:
        frame = pd.read_csv(
            tsv, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False, na_values=[]
        )
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise IngestError(f"{tsv}: not a readable Common Voice TSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise IngestError(f"{tsv}: missing column(s) {missing} (found {list(frame.columns)})")
    return frame


def _locale_dir(root: Path, locale: str) -> Path:
    if (root / locale).is_dir():
        return root / locale
    if root.name == locale and (root / "clips").is_dir():
        return root
    raise IngestError(f"Common Voice: no directory for locale {locale!r} under {root}")


def _candidates_for(
    frame: pd.DataFrame, tsv: Path, locale: str, split: str
) -> list[tuple[str, Candidate]]:
    out = []
    split_value = split if map_split(split) is not None else None
    for i, rec in enumerate(frame.to_dict("records"), start=2):
        clip = str(rec.get("path", "")).strip()
        name = f"{tsv.parent.name}/{tsv.name} row {i}" + (f" ({clip})" if clip else "")
        row_locale = rec.get("locale")
        c = Candidate(
            source_id=f"{locale}/{split}/{clip}",
            name=name,
            source_language=row_locale if not blank(row_locale) else locale,
            speaker_id=rec.get("client_id"),
            gender=rec.get("gender"),
            split=split_value,
            text=rec.get("sentence"),
        )
        if not clip:
            c.problem = ("missing_value", "empty value in column 'path'")
        out.append((clip, c))
    return out


def _release_candidates(
    root: Path, locale: str, split: str, limit: int | None, seed: int
) -> Iterator[Candidate]:
    ldir = _locale_dir(root, locale)
    tsv = ldir / f"{split}.tsv"
    if not tsv.exists():
        raise IngestError(f"Common Voice: {tsv} not found")
    for clip, c in subsample(_candidates_for(read_tsv(tsv), tsv, locale, split), limit, seed):
        if c.problem is None:
            c.audio_path = ldir / "clips" / clip
        yield c


def _hub_candidates(
    root: Path, locale: str, split: str, store_dir: Path, limit: int | None, seed: int
) -> Iterator[Candidate]:
    tsv = root / "transcript" / locale / f"{split}.tsv"
    if not tsv.exists():
        raise IngestError(f"Common Voice: {tsv} not found")
    items = subsample(_candidates_for(read_tsv(tsv), tsv, locale, split), limit, seed)
    pending: dict[str, Candidate] = {}
    for clip, c in items:
        base = clip.rsplit("/", 1)[-1]
        if c.problem is None and base in pending:
            c.problem = ("duplicate", f"{clip} listed twice in {tsv.name}")
        if c.problem is not None:
            yield c
            continue
        pending[base] = c
    dest = store_dir / SOURCE / locale / split
    archives = sorted((root / "audio" / locale / split).glob("*.tar"))
    for archive in archives:
        try:
            with tarfile.open(archive, "r:*") as tf:
                for member in tf:
                    base = member.name.rsplit("/", 1)[-1]
                    if not member.isfile() or base not in pending:
                        continue
                    fh = tf.extractfile(member)
                    if fh is None:
                        continue
                    c = pending.pop(base)
                    c.audio_bytes = fh.read()
                    c.store_path = dest / base
                    yield c
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise IngestError(f"{archive}: cannot read audio archive ({exc})") from exc
    for base, c in pending.items():
        c.problem = ("missing_file", f"{base} not found in audio/{locale}/{split}/*.tar")
        yield c


def ingest_common_voice(
    source: str | Path = REPO_ID,
    *,
    store_dir: Path,
    locales: Sequence[str] = LOCALES,
    splits: Sequence[str] = SPLITS,
    limit: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> IngestResult:
    """Read Common Voice 17 locales/splits into manifest rows (``limit``: seeded subset)."""
    patterns = [f"transcript/{loc}/{s}.tsv" for loc in locales for s in splits] + [
        f"audio/{loc}/{s}/*.tar" for loc in locales for s in splits
    ]
    root = resolve_dataset(source, allow_patterns=patterns, what="Common Voice 17")
    hub_layout = (root / "transcript").is_dir()

    def candidates() -> Iterator[Candidate]:
        for locale in locales:
            for split in splits:
                if hub_layout:
                    yield from _hub_candidates(root, locale, split, store_dir, limit, seed)
                else:
                    yield from _release_candidates(root, locale, split, limit, seed)

    return build(candidates(), source=SOURCE, seed=seed, progress=progress)
