"""The synthetic corpus: manifest schema, files on disk, determinism, held-out audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from corpus import texts, voices
from corpus.manifest import COLUMNS, check_manifest, read_manifest, write_manifest
from corpus.synth import HOLDOUT_RATES, synthesize, synthesize_holdout
from corpus.voices import variant_splits
from nordlid.audio import pcm_sha256
from nordlid.errors import ConfigError


def test_manifest_schema_and_files(synth_corpus: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    out, manifest = synth_corpus
    assert list(manifest.columns) == list(COLUMNS)
    assert check_manifest(manifest) == []
    assert len(manifest) == 4 * 8
    assert manifest.groupby("language").size().to_dict() == {"da": 8, "is": 8, "no": 8, "sv": 8}
    assert set(manifest["source"]) == {"synthetic"}
    assert set(manifest["condition"]) == {"clean"}
    assert set(manifest["source_language"]) == {"da", "is", "nb", "sv"}
    assert set(manifest["gender"]) == {"female", "male"}
    assert (manifest["sample_rate"] == 22_050).all() and (manifest["num_channels"] == 1).all()
    assert str(manifest["event_timestamp"].dt.tz) == "UTC"
    assert manifest["duration_s"].between(1.0 - 1e-3, 12.0).all()
    for row in manifest.head(6).itertuples():
        path = Path(row.path)
        assert path.is_absolute() and path.is_relative_to(out)
        info = sf.info(str(path))
        assert info.samplerate == row.sample_rate
        assert info.frames / info.samplerate == pytest.approx(row.duration_s)
        assert path.stat().st_size == row.file_size
        assert pcm_sha256(path) == row.audio_sha256
        assert row.text in texts.sentences(row.language)
    # the manifest round-trips through the Parquet schema
    back = read_manifest(write_manifest(manifest, tmp_path / "m.parquet"))
    pd.testing.assert_frame_equal(back, manifest, check_dtype=False)


def test_speakers_are_variants_with_fixed_prosody(synth_corpus: tuple[Path, pd.DataFrame]) -> None:
    _, manifest = synth_corpus
    known = {
        s.speaker_id: s for lang in texts.SYNTH_LANGUAGES for s in voices.corpus_speakers(lang)
    }
    for row in manifest.itertuples():
        spk = known[row.speaker_id]
        assert spk.language == row.language and spk.gender == row.gender


def test_a_voice_variant_is_in_one_split_for_every_language(
    synth_corpus: tuple[Path, pd.DataFrame],
) -> None:
    _, manifest = synth_corpus
    variant = manifest["speaker_id"].str.split("-").str[2]
    assert (manifest.groupby(variant)["split"].nunique() == 1).all()
    for voice_set in voices.VOICE_SETS:
        splits = variant_splits(voice_set, seed=0)
        for gender, names in voices.voice_set_variants(voice_set).items():
            # every split gets variants of both genders; train gets most of them
            got = [splits[n] for n in names]
            assert set(got) == {"train", "dev", "test"}, (voice_set, gender)
            assert got.count("train") >= 0.6 * len(names)
    assert variant_splits("wide", seed=0) == variant_splits("wide", seed=0)
    assert variant_splits("wide", seed=0) != variant_splits("wide", seed=1)


def test_same_seed_same_corpus_pool_or_inline(
    synth_corpus: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """The session fixture ran in the process pool; an inline re-run must match it exactly."""
    out, first = synth_corpus
    again = synthesize(tmp_path / "again", per_language=8, seed=7, workers=1)
    rel = lambda df, root: df["path"].map(lambda p: str(Path(p).relative_to(root)))  # noqa: E731
    assert rel(first, out).tolist() == rel(again, (tmp_path / "again").resolve()).tolist()
    cols = [c for c in COLUMNS if c != "path"]
    pd.testing.assert_frame_equal(first[cols], again[cols])


def test_mixed_conditions_are_deterministic_and_recorded(tmp_path: Path) -> None:
    kw = dict(per_language=6, seed=3, languages=("da", "sv"), workers=1)
    conds = ("clean", "noisy", "telephone", "gain")
    a = synthesize(tmp_path / "a", conditions=conds, clean_share=0.25, **kw)  # type: ignore[arg-type]
    b = synthesize(tmp_path / "b", conditions=conds, clean_share=0.25, **kw)  # type: ignore[arg-type]
    assert a["audio_sha256"].tolist() == b["audio_sha256"].tolist()
    assert a["condition"].tolist() == b["condition"].tolist()
    assert set(a["condition"]) <= set(conds) and a["condition"].nunique() >= 2
    # every file keeps espeak's native rate; telephone audio is band-limited to 300-3400 Hz
    assert (a["sample_rate"] == 22_050).all()
    for row in a.itertuples():
        wave, sr = sf.read(row.path, dtype="float64")
        spec = np.abs(np.fft.rfft(wave)) ** 2
        freqs = np.fft.rfftfreq(wave.size, 1 / sr)
        above = spec[freqs > 4200].sum() / spec.sum()
        if row.condition == "telephone":
            assert above < 1e-3
        elif row.condition == "clean":
            assert above > 1e-3
    # a different seed gives different audio
    c = synthesize(tmp_path / "c", per_language=2, seed=4, languages=("da",), workers=1)
    assert not set(c["audio_sha256"]) & set(a["audio_sha256"])


def test_bad_arguments_raise_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'fo'|fo"):
        synthesize(tmp_path, per_language=1, languages=("fo",))
    with pytest.raises(ConfigError, match="underwater"):
        synthesize(tmp_path, per_language=1, conditions=("clean", "underwater"))
    with pytest.raises(ConfigError, match="per_language"):
        synthesize(tmp_path, per_language=0)
    with pytest.raises(ConfigError, match="voice_set: unknown 'studio'.*wide, classic"):
        synthesize(tmp_path / "v", per_language=1, voice_set="studio")
    assert not (tmp_path / "v").exists()  # rejected before anything is written


def test_holdout_never_overlaps_the_corpus(tmp_path: Path) -> None:
    frame = synthesize_holdout(
        tmp_path / "h", per_language=3, seed=1, languages=("da", "is"), stereo_share=0.5, workers=1
    )
    assert check_manifest(frame) == []
    corpus_ids = {s.speaker_id for lang in ("da", "is") for s in voices.corpus_speakers(lang)}
    assert not set(frame["speaker_id"]) & corpus_ids
    for row in frame.itertuples():
        assert row.text in texts.holdout_sentences(row.language)
        assert row.text not in texts.sentences(row.language)
        assert row.sample_rate in HOLDOUT_RATES
        info = sf.info(row.path)
        assert (info.samplerate, info.channels) == (row.sample_rate, row.num_channels)
    labels = pd.read_csv(tmp_path / "h" / "labels.tsv", sep="\t")
    assert list(labels.columns) == ["path", "language", "condition"]
    assert sorted(labels["language"]) == sorted(frame["language"])
    assert all((tmp_path / "h" / p).exists() for p in labels["path"])


def test_sentence_lists_are_large_distinct_and_disjoint() -> None:
    for lang in texts.SYNTH_LANGUAGES:
        corpus, held = texts.sentences(lang), texts.holdout_sentences(lang)
        assert len(corpus) >= 300 and len(set(corpus)) == len(corpus)
        assert len(held) >= 0.15 * (len(corpus) + len(held)) - 5
        assert not set(corpus) & set(held)
