"""`nordlid corpus synth|holdout|ingest …`: parse options, call the stage, report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from nordlid.errors import ConfigError

if TYPE_CHECKING:
    from corpus.ingest.common import IngestResult

app = typer.Typer(no_args_is_help=True)
ingest_app = typer.Typer(
    no_args_is_help=True,
    help="Ingest FLEURS-R, Common Voice 17, Ravnursson or a folder + labels file.",
)
app.add_typer(ingest_app, name="ingest")


def _csv(value: str, option: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise ConfigError(f"{option}: give a comma-separated list, got {value!r}")
    return items


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Directory for the audio and manifest.parquet."),
    per_language: int = typer.Option(50, "--per-language", help="Utterances per language."),
    seed: int = typer.Option(0, "--seed", help="Seed: same seed, same files and manifest."),
    languages: str = typer.Option("da,is,no,sv", "--languages", help="Comma-separated."),
    conditions: str = typer.Option(
        "clean", "--conditions", help="Comma-separated: clean, noisy, telephone, gain."
    ),
    clean_share: float = typer.Option(
        0.5, "--clean-share", help="Share of clean utterances when several conditions are given."
    ),
    workers: int | None = typer.Option(None, "--workers", help="Processes (default: up to 2)."),
    voice_set: str = typer.Option(
        "mixed",
        "--voice-set",
        help="espeak-ng variants: mixed (default: ~60 named + 90 procedural), wide (~60 named) "
        "or classic (12).",
    ),
) -> None:
    """Synthesize an espeak-ng corpus (da, is, no, sv) and write its manifest."""
    from corpus.manifest import merge_manifest, write_manifest
    from corpus.synth import synthesize
    from nordlid.workdir import Workdir

    langs = _csv(languages, "--languages")
    conds = _csv(conditions, "--conditions")
    if per_language < 1:
        raise ConfigError(f"--per-language must be >= 1, got {per_language}")
    with _progress("synthesizing", per_language * len(set(langs))) as advance:
        frame = synthesize(
            out,
            per_language=per_language,
            seed=seed,
            languages=langs,
            conditions=conds,
            clean_share=clean_share,
            workers=workers,
            progress=advance,
            voice_set=voice_set,
        )
    local = write_manifest(frame, Path(out) / "manifest.parquet")
    wd = Workdir.from_env()
    merge_manifest(wd.manifest, frame, replace_sources=("synthetic",))
    typer.echo(
        f"wrote {len(frame)} utterances to {Path(out).resolve()}; "
        f"manifest {local} and {wd.manifest}"
    )


@app.command()
def holdout(
    out: Path = typer.Option(..., "--out", help="Directory for the held-out audio + labels.tsv."),
    per_language: int = typer.Option(20, "--per-language", help="Files per language."),
    seed: int = typer.Option(0, "--seed"),
    languages: str = typer.Option("da,is,no,sv", "--languages", help="Comma-separated."),
    conditions: str = typer.Option("clean", "--conditions", help="Comma-separated."),
) -> None:
    """Held-out audio never in the corpus (other sentences, voices, rates) + labels.tsv."""
    from corpus.synth import synthesize_holdout

    langs = _csv(languages, "--languages")
    conds = _csv(conditions, "--conditions")
    if per_language < 1:
        raise ConfigError(f"--per-language must be >= 1, got {per_language}")
    with _progress("synthesizing held-out audio", per_language * len(set(langs))) as advance:
        frame = synthesize_holdout(
            out,
            per_language=per_language,
            seed=seed,
            languages=langs,
            conditions=conds,
            progress=advance,
        )
    typer.echo(f"wrote {len(frame)} held-out files and {Path(out).resolve() / 'labels.tsv'}")


def _finish(result: IngestResult) -> None:
    """Write the reject report, merge rows into the workdir manifest, print the summary."""
    from corpus.ingest.common import IngestError, write_report
    from corpus.manifest import merge_manifest
    from nordlid.workdir import Workdir

    wd = Workdir.from_env()
    write_report(result, wd.data / "ingest")
    for rej in result.rejects[:10]:
        typer.echo(f"rejected {rej.name}: {rej.reason}", err=True)
    if len(result.rejects) > 10:
        typer.echo(f"… and {len(result.rejects) - 10} more (see {result.report_path})", err=True)
    if result.n_written == 0:
        raise IngestError(f"{result.summary()}: nothing usable to write")
    merge_manifest(wd.manifest, result.rows)
    typer.echo(f"{result.summary()}; manifest {wd.manifest}")


def _store_dir() -> Path:
    from nordlid.workdir import Workdir

    return Workdir.from_env().corpus_audio


@ingest_app.command("fleurs-r")
def ingest_fleurs_r(
    source: str = typer.Argument("google/fleurs-r", help="Hub dataset id or local directory."),
    configs: str = typer.Option("da_dk,is_is,nb_no,sv_se", "--configs", help="Comma-separated."),
    splits: str = typer.Option("train,dev,test", "--splits", help="Comma-separated."),
    limit: int | None = typer.Option(None, "--limit", help="Random subset per config and split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random subset."),
) -> None:
    """FLEURS-R (data/<config>/<split>.tsv + audio/<split>.tar.gz)."""
    from corpus.ingest.fleurs_r import ingest_fleurs_r as run

    with _progress("ingesting FLEURS-R", None) as advance:
        result = run(
            source,
            store_dir=_store_dir(),
            configs=_csv(configs, "--configs"),
            splits=_csv(splits, "--splits"),
            limit=limit,
            seed=seed,
            progress=advance,
        )
    _finish(result)


@ingest_app.command("common-voice-17")
def ingest_common_voice(
    source: str = typer.Argument(
        "mozilla-foundation/common_voice_17_0", help="Release directory or hub dataset id."
    ),
    locales: str = typer.Option("da,is,nn-NO,sv-SE", "--locales", help="Comma-separated."),
    splits: str = typer.Option("train,dev,test", "--splits", help="Comma-separated TSV names."),
    limit: int | None = typer.Option(None, "--limit", help="Random subset per locale and split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random subset."),
) -> None:
    """Common Voice 17 (<locale>/<split>.tsv + clips/, or the hub's transcript/ + audio/ tars)."""
    from corpus.ingest.common_voice import ingest_common_voice as run

    with _progress("ingesting Common Voice 17", None) as advance:
        result = run(
            source,
            store_dir=_store_dir(),
            locales=_csv(locales, "--locales"),
            splits=_csv(splits, "--splits"),
            limit=limit,
            seed=seed,
            progress=advance,
        )
    _finish(result)


@ingest_app.command("ravnursson")
def ingest_ravnursson(
    source: str = typer.Argument(
        "carlosdanielhernandezmena/ravnursson_asr",
        help="Hub dataset id, Parquet directory or save_to_disk directory.",
    ),
    splits: str = typer.Option("train,validation,test", "--splits", help="Comma-separated."),
    limit: int | None = typer.Option(
        None, "--limit", help="Random subset per split (not first N)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random subset."),
) -> None:
    """Ravnursson Faroese speech (via `datasets`)."""
    from corpus.ingest.ravnursson import ingest_ravnursson as run

    with _progress("ingesting Ravnursson", None) as advance:
        result = run(
            source,
            store_dir=_store_dir(),
            splits=_csv(splits, "--splits"),
            limit=limit,
            seed=seed,
            progress=advance,
        )
    _finish(result)


@ingest_app.command("folder")
def ingest_folder(
    audio_dir: Path = typer.Argument(..., help="Directory holding the audio files."),
    labels_file: Path = typer.Argument(
        ..., help="TSV/CSV: path, language[, speaker_id, gender, split, text]."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the speaker-independent split."),
) -> None:
    """A folder of audio files plus a labels table."""
    from corpus.ingest.folder import ingest_folder as run

    with _progress("ingesting folder", None) as advance:
        result = run(audio_dir, labels_file, seed=seed, progress=advance)
    _finish(result)
