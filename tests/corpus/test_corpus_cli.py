"""`nordlid corpus …`: manifests written where promised; bad input → one line, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from corpus.manifest import read_manifest
from nordlid.workdir import Workdir


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else 0
    return code, out.out, out.err


def test_synth_writes_both_manifests(
    workdir: Workdir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c"
    code, stdout, _ = _run(
        [
            "corpus",
            "synth",
            "--out",
            str(out),
            "--per-language",
            "1",
            "--languages",
            "da,sv",
            "--seed",
            "2",
        ],
        capsys,
    )
    assert code == 0, stdout
    local = read_manifest(out / "manifest.parquet")
    central = read_manifest(workdir.manifest)
    assert len(local) == 2 and local["utterance_id"].tolist() == central["utterance_id"].tolist()
    assert all(Path(p).exists() for p in local["path"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--per-language", "0"], "--per-language"),
        (["--languages", "da,xx"], "xx"),
        (["--conditions", "clean,echo"], "echo"),
    ],
)
def test_synth_bad_options_exit_2_with_one_line(
    args: list[str],
    needle: str,
    workdir: Workdir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _run(["corpus", "synth", "--out", str(tmp_path / "c"), *args], capsys)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in err


def test_ingest_folder_cli_merges_and_reports(
    workdir: Workdir, tmp_path: Path, capsys: pytest.CaptureFixture[str], audio_kit: Any
) -> None:
    audio = tmp_path / "audio"
    for i in range(4):
        audio_kit.write(audio / f"f{i}.wav", seed=i, seconds=0.2)
    (audio / "bad.wav").write_text("nope")
    labels = tmp_path / "labels.tsv"
    pd.DataFrame(
        {
            "path": ["f0.wav", "f1.wav", "f2.wav", "f3.wav", "bad.wav"],
            "language": ["da", "sv", "is", "nn", "da"],
            "split": ["train", "train", "dev", "test", "train"],
        }
    ).to_csv(labels, sep="\t", index=False)
    code, stdout, err = _run(["corpus", "ingest", "folder", str(audio), str(labels)], capsys)
    assert code == 0, err
    assert "read 5, written 4, rejected 1" in stdout
    assert "bad.wav" in err
    manifest = read_manifest(workdir.manifest)
    assert len(manifest) == 4 and set(manifest["source"]) == {"folder"}
    reports = list((workdir.data / "ingest").glob("folder-*-rejects.csv"))
    assert len(reports) == 1 and "bad.wav" in reports[0].read_text()
    # re-ingesting replaces rows by utterance id instead of duplicating them
    assert _run(["corpus", "ingest", "folder", str(audio), str(labels)], capsys)[0] == 0
    assert len(read_manifest(workdir.manifest)) == 4


def test_ingest_folder_missing_column_exit_2(
    workdir: Workdir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "labels.csv").write_text("file,language\na.wav,da\n")
    code, _, err = _run(
        ["corpus", "ingest", "folder", str(tmp_path / "audio"), str(tmp_path / "labels.csv")],
        capsys,
    )
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "missing required column(s) ['path']" in lines[0]
