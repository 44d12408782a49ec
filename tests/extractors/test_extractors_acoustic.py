"""The acoustic extractor: known signals give hand-computable values; shapes follow the spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from extractors_testlib import SR, tone, voiced_like
from pydantic import ValidationError

from extractors import registry
from extractors.acoustic import AcousticExtractor, deltas, shifted_delta_cepstra
from extractors.acoustic_params import acoustic_spec
from extractors.engine import extract_waves
from nordlid.errors import AudioDecodeError


@pytest.fixture(scope="module")
def plain() -> AcousticExtractor:
    """No silence trimming: the known-signal expectations are about the signal itself."""
    return AcousticExtractor(trim_silence=False)


def test_pure_tone_matches_hand_computed_values(plain: AcousticExtractor) -> None:
    amp, freq = 0.5, 1000.0
    (row,) = extract_waves(plain, [tone(freq, 2.0, amp)])
    assert row["spectral_centroid_mean"] == pytest.approx(freq, rel=0.01)
    assert row["spectral_centroid_std"] == pytest.approx(0.0, abs=1.0)
    # 85 % roll-off of a single line sits within one FFT bin (31.25 Hz) above the tone
    assert freq - 1.0 <= row["spectral_rolloff_mean"] <= freq + 31.25 + 1.0
    assert row["spectral_bandwidth_mean"] < 100.0
    # a sine crosses zero twice per period: 2 f / sr crossings per sample
    assert row["zcr_mean"] == pytest.approx(2 * freq / SR, rel=0.01)
    # RMS of a sine of amplitude A is A / sqrt(2)
    assert row["rms_mean"] == pytest.approx(amp / np.sqrt(2), rel=1e-3)
    assert row["rms_std"] == pytest.approx(0.0, abs=1e-4)
    assert row["speech_duration_s"] == pytest.approx(2.0)
    # the log-mel energy peaks in the band holding the tone
    mel_hz = _mel_centres_hz(plain)
    peak_band = int(np.argmax(row["logmel_mean"]))
    assert abs(mel_hz[peak_band] - freq) < 120.0


def _mel_centres_hz(extractor: AcousticExtractor) -> np.ndarray:
    fb = extractor.analyzer.mel.cpu().numpy()  # [n_freqs, n_mels]
    freqs = extractor.analyzer.freqs.cpu().numpy()
    return freqs[np.argmax(fb, axis=0)]


def test_tone_pitch_and_voicing(plain: AcousticExtractor) -> None:
    rows = extract_waves(plain, [tone(200.0, 1.5, 0.3), tone(110.0, 1.5, 0.3)])
    # semitones re 100 Hz: 200 Hz = 12, 110 Hz = 12 log2(1.1)
    assert rows[0]["pitch_median_st"] == pytest.approx(12.0, abs=0.1)
    assert rows[1]["pitch_median_st"] == pytest.approx(12 * np.log2(1.1), abs=0.1)
    for row in rows:
        assert row["voiced_ratio"] == pytest.approx(1.0)
        assert row["pitch_std_st"] < 0.05
        assert row["pitch_range_st"] < 0.1


def test_white_noise_is_unvoiced_with_high_zcr(plain: AcousticExtractor) -> None:
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(SR * 2)).astype(np.float32)
    (row,) = extract_waves(plain, [noise])
    assert row["voiced_ratio"] < 0.1
    assert row["zcr_mean"] == pytest.approx(0.5, abs=0.03)  # independent signs: p = 1/2
    assert row["spectral_centroid_mean"] == pytest.approx(4000.0, rel=0.05)  # flat spectrum
    assert row["pitch_median_st"] == 0.0 or row["voiced_ratio"] > 0


def test_gliding_pitch_has_range_and_movement(plain: AcousticExtractor) -> None:
    sr = SR
    t = np.arange(sr * 2) / sr
    f0 = 150.0 * 2 ** (t / 2)  # one octave up over two seconds: 12 semitones
    wave = (0.3 * np.sin(2 * np.pi * np.cumsum(f0) / sr)).astype(np.float32)
    (row,) = extract_waves(plain, [wave])
    assert row["pitch_range_st"] == pytest.approx(0.8 * 12.0, abs=0.6)
    assert row["pitch_median_st"] == pytest.approx(12 * np.log2(150 * 2**0.5 / 100), abs=0.3)


def test_output_matches_spec_shapes_and_types(plain: AcousticExtractor) -> None:
    spec = registry.get_spec("acoustic")
    assert plain.spec == spec
    rows = extract_waves(plain, [voiced_like(1.0, 120.0, seed=1), voiced_like(0.05, 90.0, seed=2)])
    assert len(rows) == 2
    for row in rows:
        assert list(row) == spec.feature_names
        for col in spec.columns:
            value = row[col.name]
            if col.length is not None:
                assert isinstance(value, np.ndarray) and value.dtype == np.float32
                assert value.shape == (col.length,)
                assert np.isfinite(value).all()
            else:
                assert isinstance(value, float) and np.isfinite(value)
    # the declared widths: 20 MFCC, 7-1-3-7 SDC, 40 mel bands, 7 contrast bands
    assert spec.column("mfcc_mean").length == 20
    assert spec.column("sdc_mean").length == 49
    assert spec.column("logmel_std").length == 40
    assert spec.column("spectral_contrast_mean").length == 7


def test_parameters_change_the_declared_lengths() -> None:
    spec = acoustic_spec(n_mfcc=13, sdc_n=5, sdc_k=3, n_mels=30, quantiles=(0.25, 0.75))
    assert spec.column("mfcc_mean").length == 13
    assert spec.column("sdc_std").length == 15
    assert spec.column("logmel_mean").length == 30
    assert {"mfcc_p25", "mfcc_p75"} <= set(spec.feature_names)
    assert "mfcc_p50" not in spec.feature_names
    ex = AcousticExtractor(trim_silence=False, n_mfcc=13, sdc_n=5, sdc_k=3, n_mels=30)
    (row,) = extract_waves(ex, [voiced_like(0.8, 130.0, seed=3)])
    assert row["sdc_mean"].shape == (15,)


@pytest.mark.parametrize(
    "bad",
    [{"n_mfcc": 50}, {"sdc_n": 30}, {"f_max": 9000.0}, {"no_such_setting": 1}, {"n_fft": 256}],
)
def test_bad_parameters_are_rejected_with_the_field(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as err:
        AcousticExtractor(**bad)
    assert next(iter(bad)) in str(err.value) or "must be" in str(err.value)


def test_batch_invariance_with_longer_utterances(plain: AcousticExtractor) -> None:
    short = voiced_like(0.7, 140.0, seed=11)
    longer = [voiced_like(s, 100.0 + 10 * s, seed=20 + i) for i, s in enumerate((2.5, 4.0, 1.3))]
    (alone,) = extract_waves(plain, [short])
    batched = extract_waves(plain, [longer[0], short, *longer[1:]])[1]
    _assert_rows_close(alone, batched)


def test_chunked_analysis_equals_unchunked() -> None:
    wave = voiced_like(3.0, 120.0, seed=5)
    whole = AcousticExtractor(trim_silence=False)
    chunked = AcousticExtractor(trim_silence=False, chunk_frames=37)
    _assert_rows_close(extract_waves(whole, [wave])[0], extract_waves(chunked, [wave])[0])


def _assert_rows_close(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(
            np.asarray(b[key], dtype=np.float64),
            np.asarray(a[key], dtype=np.float64),
            rtol=1e-4,
            atol=1e-5,
            err_msg=key,
        )


class _FixedVad:
    """Stands in for silero-vad: claims speech exactly where the test put it."""

    def __init__(self, segments: list[tuple[int, int]]) -> None:
        self.segments = segments


def test_trimming_keeps_only_speech_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    import validation.speech_quality as sq

    speech = voiced_like(1.2, 120.0, seed=9)
    pad = np.zeros(SR, dtype=np.float32)
    padded = np.concatenate([pad, speech[: SR // 2], pad, speech[SR // 2 :], pad])
    segments = [(SR, SR + SR // 2), (2 * SR + SR // 2, 2 * SR + len(speech))]
    monkeypatch.setattr(sq, "speech_segments", lambda wave, vad: vad.segments)
    trimmed = AcousticExtractor(vad=_FixedVad(segments))
    (row,) = extract_waves(trimmed, [padded])
    (ref,) = extract_waves(AcousticExtractor(trim_silence=False), [speech])
    _assert_rows_close(ref, row)
    assert row["speech_duration_s"] == pytest.approx(len(speech) / SR)


def test_no_speech_found_keeps_the_whole_wave(monkeypatch: pytest.MonkeyPatch) -> None:
    import validation.speech_quality as sq

    monkeypatch.setattr(sq, "speech_segments", lambda wave, vad: [])
    wave = tone(300.0, 0.8)
    (row,) = extract_waves(AcousticExtractor(vad=_FixedVad([])), [wave])
    assert row["speech_duration_s"] == pytest.approx(0.8)


def test_real_vad_trims_silence_around_espeak_speech(
    synth_corpus: tuple[Path, pd.DataFrame],
) -> None:
    from nordlid.audio import load_for_model

    _, manifest = synth_corpus
    # a named espeak-ng variant: breathy procedural voices (``voicing 30``, breath noise) put
    # a few hundred ms of edge noise into the VAD's speech, which this check is not about
    named = manifest[~manifest["speaker_id"].str.contains("-nlv")]
    wave = load_for_model(named.iloc[0]["path"])
    silence = np.zeros(SR, dtype=np.float32)
    padded = np.concatenate([silence, wave, silence])
    ex = AcousticExtractor()
    rows = extract_waves(ex, [wave, padded])
    assert rows[1]["speech_duration_s"] < len(padded) / SR - 1.5
    assert rows[1]["speech_duration_s"] == pytest.approx(rows[0]["speech_duration_s"], abs=0.25)
    assert rows[0]["voiced_ratio"] > 0.3


def test_empty_or_non_finite_wave_is_an_input_error(plain: AcousticExtractor) -> None:
    with pytest.raises(AudioDecodeError, match="wave\\[1\\].*empty"):
        extract_waves(plain, [tone(200, 0.5), np.zeros(0, dtype=np.float32)])
    with pytest.raises(AudioDecodeError, match="NaN"):
        extract_waves(plain, [np.full(800, np.nan, dtype=np.float32)])


def test_delta_and_sdc_helpers_on_a_ramp() -> None:
    ramp = np.arange(20, dtype=np.float64)[:, None] * np.array([[1.0, 2.0]])
    d = deltas(ramp, 2)
    np.testing.assert_allclose(d[2:-2], np.tile([1.0, 2.0], (16, 1)))  # slope in the interior
    sdc = shifted_delta_cepstra(ramp, n=2, d=1, p=3, k=2)
    assert sdc.shape == (20, 4)
    np.testing.assert_allclose(sdc[5], [2.0, 4.0, 2.0, 4.0])  # c[t+1]-c[t-1] = 2 x slope
