"""`nordlid validate`: outputs and paths on success, one line and exit 2 on bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from corpus.manifest import read_manifest, write_manifest
from pipeline.cli import app, main


def _small_manifest(synth_corpus: tuple[Path, pd.DataFrame], out: Path) -> Path:
    _, manifest = synth_corpus
    subset = manifest.groupby("language").head(2).reset_index(drop=True)
    return write_manifest(subset, out / "manifest.parquet")


def test_validate_writes_outputs_and_prints_report_path(
    synth_corpus: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    manifest = _small_manifest(synth_corpus, tmp_path)
    config = tmp_path / "v.yaml"
    config.write_text("quality: {squim: false}\nexpectations: {data_docs: false}\n")
    work = tmp_path / "work"
    result = CliRunner().invoke(
        app,
        ["--workdir", str(work), "validate", "--manifest", str(manifest), "--config", str(config)],
    )
    assert result.exit_code == 0, result.output
    n = len(read_manifest(manifest))
    assert f"{n} utterances: {n} kept (0 flagged), 0 quarantined" in result.output
    report = work / "reports" / "validation" / "report.html"
    assert f"report: {report}" in result.output
    assert report.is_file()
    assert len(read_manifest(work / "data" / "validated" / "manifest.parquet")) == n


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["validate", "--manifest", "{tmp}/missing.parquet"], "manifest not found"),
        (["validate", "--config", "{tmp}/bad.yaml"], "quality.nope"),
    ],
)
def test_validate_bad_input_is_one_line_and_exit_2(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.yaml").write_text("quality: {nope: 1}\n")
    argv = ["--workdir", str(tmp_path / "work"), *[a.format(tmp=tmp_path) for a in args]]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0]
