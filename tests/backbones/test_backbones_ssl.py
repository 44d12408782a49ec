"""wav2vec2-family backbones (xlsr, mms) built tiny, saved, and loaded via the real path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extractors import registry
from extractors.backbones.ssl import MMSExtractor, XLSRExtractor, normalize_wave
from nordlid.errors import ConfigError, MissingCheckpointError

from .conftest import assert_rows_close, make_waves


def _check_shape(extractor, rows, n):  # noqa: ANN001
    assert len(rows) == n
    for row in rows:
        assert set(row) == set(extractor.spec.feature_names)
        for col in extractor.spec.columns:
            vec = np.asarray(row[col.name])
            assert vec.shape == (col.length,)
            assert vec.dtype == np.float32
            assert np.isfinite(vec).all()


def test_xlsr_loads_tiny_checkpoint_through_registry(tiny_xlsr_dir: Path) -> None:
    ext = registry.create("xlsr", checkpoint=str(tiny_xlsr_dir), device="cpu")
    assert ext.spec.name == "xlsr"
    assert ext.spec.params["layers"] == [1, 2]
    assert ext.spec.feature_names == ["layer01_mean", "layer01_std", "layer02_mean", "layer02_std"]
    assert all(c.length == 32 for c in ext.spec.columns)
    rows = ext.extract(make_waves([0.7, 1.3]))
    _check_shape(ext, rows, 2)
    # std is a real spread, mean of different utterances differs
    assert np.all(rows[0]["layer02_std"] > 0)
    assert not np.allclose(rows[0]["layer01_mean"], rows[1]["layer01_mean"])
    lineage = ext.lineage()
    assert lineage["checkpoint"] == str(tiny_xlsr_dir)
    assert len(lineage["weights_sha256"]) == 64


def _record_batches(ext, monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:  # noqa: ANN001
    """Chunk lengths of every batch the extractor runs."""
    seen: list[list[int]] = []
    forward = ext._forward

    def spy(chunks):  # noqa: ANN001, ANN202
        seen.append([c.length for c in chunks])
        return forward(chunks)

    monkeypatch.setattr(ext, "_forward", spy)
    return seen


def test_xlsr_batch_invariance(tiny_xlsr_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # max_pad_fraction=1.0 forces all four into one zero-padded batch
    ext = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu", max_pad_fraction=1.0)
    waves = make_waves([0.6, 2.5, 1.7, 0.9], seed=3)
    alone = ext.extract([waves[0]])[0]
    seen = _record_batches(ext, monkeypatch)
    batched = ext.extract(waves)
    assert len(seen) == 1 and len(set(seen[0])) == 4  # really padded together
    assert_rows_close(batched[0], alone)
    assert_rows_close(batched[3], ext.extract([waves[3]])[0])


def test_padding_would_change_features_without_masking(tiny_xlsr_dir: Path) -> None:
    """The masks matter: pooling over a zero-padded copy (padding counted as audio) differs."""
    ext = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu")
    wave = make_waves([0.6])[0]
    padded = np.concatenate([normalize_wave(wave), np.zeros(16_000, np.float32)])
    ext.do_normalize = False
    a = ext.extract([normalize_wave(wave)])[0]["layer02_mean"]
    b = ext.extract([padded])[0]["layer02_mean"]
    assert np.abs(a - b).max() / np.abs(a).max() > 1e-3


def test_long_audio_is_chunked_not_truncated(tiny_xlsr_dir: Path) -> None:
    ext = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu", max_chunk_seconds=1.0)
    wave = make_waves([3.2], seed=5)[0]
    whole = ext.extract([wave])[0]
    first = ext.extract([wave[: len(wave) // 4]])[0]
    # the tail of the utterance contributes: result differs from the first chunk alone
    assert not np.allclose(whole["layer02_mean"], first["layer02_mean"], rtol=1e-3)
    # chunking is deterministic and independent of batch companions
    assert_rows_close(ext.extract([make_waves([0.5])[0], wave])[1], whole)


def test_frame_weighted_merge_equals_manual_pooling(tiny_xlsr_dir: Path) -> None:
    """Two chunks pooled by the extractor = mean/std over the union of their frames."""
    import torch

    ext = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu", max_chunk_seconds=1.0)
    wave = make_waves([2.0], seed=9)[0]
    row = ext.extract([wave])[0]
    x = normalize_wave(wave)
    frames = []
    for piece in (x[:16000], x[16000:]):
        with torch.inference_mode():
            out = ext.model(torch.from_numpy(piece)[None], output_hidden_states=True)
        frames.append(out.hidden_states[1][0].numpy())
    allf = np.concatenate(frames).astype(np.float64)
    np.testing.assert_allclose(row["layer01_mean"], allf.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(row["layer01_std"], allf.std(0), rtol=1e-4, atol=1e-5)


def test_mms_drops_classification_head(tiny_mms_dir: Path) -> None:
    ext = MMSExtractor(
        checkpoint=str(tiny_mms_dir), device="cpu", layers=[1, 3], max_pad_fraction=1.0
    )
    assert type(ext.model).__name__ == "Wav2Vec2Model"
    assert ext.spec.name == "mms"
    assert ext.spec.feature_names == ["layer01_mean", "layer01_std", "layer03_mean", "layer03_std"]
    waves = make_waves([0.5, 1.8, 1.1], seed=11)
    batched = ext.extract(waves)
    _check_shape(ext, batched, 3)
    assert_rows_close(batched[0], ext.extract([waves[0]])[0])
    assert_rows_close(batched[2], ext.extract([waves[2]])[0])


def test_group_norm_model_is_never_padded(tiny_groupnorm_dir: Path) -> None:
    ext = XLSRExtractor(checkpoint=str(tiny_groupnorm_dir), device="cpu")
    assert not ext.uses_attention_mask
    waves = make_waves([0.5, 1.4, 0.5], seed=13)
    batched = ext.extract(waves)
    assert_rows_close(batched[0], ext.extract([waves[0]])[0])
    assert_rows_close(batched[1], ext.extract([waves[1]])[0])


def test_very_short_wave_still_gives_a_frame(tiny_xlsr_dir: Path) -> None:
    ext = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu")
    rows = ext.extract([np.full(5, 0.1, np.float32) + np.arange(5, dtype=np.float32)])
    assert np.isfinite(rows[0]["layer01_mean"]).all()


def test_missing_checkpoint_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NORDLID_XLSR_CHECKPOINT", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(MissingCheckpointError) as err:
        registry.create("xlsr", device="cpu")
    assert err.value.checkpoint == "facebook/wav2vec2-xls-r-300m"
    assert "NORDLID_XLSR_CHECKPOINT" in str(err.value)
    missing_dir = tmp_path / "nope"
    monkeypatch.setenv("NORDLID_MMS_CHECKPOINT", str(missing_dir))
    with pytest.raises(MissingCheckpointError) as err2:
        registry.create("mms", device="cpu")
    assert err2.value.checkpoint == str(missing_dir)


def test_env_var_chooses_checkpoint(monkeypatch: pytest.MonkeyPatch, tiny_xlsr_dir: Path) -> None:
    monkeypatch.setenv("NORDLID_XLSR_CHECKPOINT", str(tiny_xlsr_dir))
    ext = registry.create("xlsr", device="cpu")
    assert ext.spec.checkpoint == str(tiny_xlsr_dir)


def test_bad_layers_and_bad_input_are_clear_errors(tiny_xlsr_dir: Path) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu", layers=[7])
    ext = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu")
    from nordlid.errors import AudioDecodeError

    with pytest.raises(AudioDecodeError, match=r"wave\[1\].*empty"):
        ext.extract([make_waves([0.5])[0], np.zeros(0, np.float32)])


def test_cpu_default_avoids_padding_waste(
    tiny_xlsr_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On CPU, utterances of very different lengths are not padded to each other."""
    ext = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu")
    seen = _record_batches(ext, monkeypatch)
    ext.extract(make_waves([0.5, 2.0, 2.0, 1.0], seed=1))
    assert sorted(map(sorted, seen)) == [[8000], [16000], [32000, 32000]]


def test_catalog_specs_match_design() -> None:
    xlsr = registry.get_spec("xlsr")
    assert xlsr.params["layers"] == [6, 12, 18, 24]
    assert {c.length for c in xlsr.columns} == {1024}
    mms = registry.get_spec("mms")
    assert {c.length for c in mms.columns} == {1280}
    assert registry.get_spec("xlsr", layers=(3, 9)).feature_names == [
        "layer03_mean",
        "layer03_std",
        "layer09_mean",
        "layer09_std",
    ]
    assert registry.get_spec("whisper-tiny").columns[0].length == 384
    assert registry.get_spec("whisper-base").columns[0].length == 512
    assert registry.get_spec("ecapa").columns[0].length == 256
    assert registry.get_spec("titanet").columns[0].length == 512
    for name in ("xlsr", "mms", "whisper-tiny", "whisper-base", "ecapa", "titanet"):
        assert registry.get_spec(name).needs_weights


def test_default_extractor_spec_equals_registry_spec(tiny_xlsr_dir: Path) -> None:
    """The engine skips finished work by spec fingerprint: defaults must match the registry."""
    ext = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu")
    expected = registry.get_spec("xlsr", layers=(1, 2), dim=32, checkpoint=str(tiny_xlsr_dir))
    assert ext.spec == expected
    assert ext.spec.params == expected.params
    chunked = XLSRExtractor(checkpoint=str(tiny_xlsr_dir), device="cpu", max_chunk_seconds=5.0)
    assert chunked.spec.params != expected.params
