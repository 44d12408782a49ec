"""Field conditions of the synthetic corpus: reverb, babble, codec, lownoise, short, extreme.

Each is measured on the output (RT60, SNR, band, duration, prosody) and rendered twice from
one seed; the four older conditions must plan exactly as before the field conditions
existed (``data/legacy_condition_plans.json`` was written by the code before).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from corpus import degrade, field, texts
from corpus.render import CONDITIONS, FIELD_CONDITIONS, LEGACY_CONDITIONS, RenderTask, render
from corpus.synth import (
    BABBLE_SNR_DB,
    EXTREME_PITCHES,
    EXTREME_SPEEDS_WPM,
    LOWNOISE_SNR_DB,
    RT60_RANGE_S,
    SHORT_CROP_S,
    _draw_condition,
    _plan_language,
    synthesize,
    synthesize_holdout,
)

LEGACY = Path(__file__).parent / "data" / "legacy_condition_plans.json"
SR = 22_050


def _tone(seconds: float = 1.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def _plan(tmp_path: Path, condition: str, n: int = 8, lang: str = "da") -> list[RenderTask]:
    planned = _plan_language(tmp_path, lang, n, 5, (condition,), 0.5)
    return [p.task for p in planned]


def _plan_rows(root: Path, planned: list) -> list[dict[str, object]]:  # noqa: ANN001
    fields = [
        "voice", "pitch", "speed", "text", "condition", "snr_db", "noise_kind", "gain_db",
        "noise_seed", "out_rate", "channels",
    ]  # fmt: skip
    rows = []
    for p in planned:
        row = {f: getattr(p.task, f) for f in fields}
        row["noise_seed"] = list(row["noise_seed"])
        row["path"] = str(Path(p.task.path).relative_to(root))
        rows.append(row)
    return rows


def test_legacy_conditions_plan_exactly_as_before(tmp_path: Path) -> None:
    """Every parameter of a clean/noisy/telephone/gain render (voice, prosody, text, SNR,
    noise seed, rate, channels) is what the code before the field conditions planned
    (``data/legacy_condition_plans.json``, written by that code); the audio follows from
    them and espeak-ng alone, so the older conditions' files are unchanged.  Compared as
    plans, not audio hashes, so the test does not depend on the espeak-ng build."""
    from corpus.synth import _plan_holdout

    want = json.loads(LEGACY.read_text())
    corpus = [
        p
        for lang in ("da", "sv")
        for p in _plan_language(tmp_path, lang, 12, 7, LEGACY_CONDITIONS, 0.25)
    ]
    held = [
        p
        for lang in ("is", "no")
        for p in _plan_holdout(tmp_path, lang, 12, 7, LEGACY_CONDITIONS, 0.25, 0.25)
    ]
    assert _plan_rows(tmp_path, corpus) == want["corpus"]
    assert _plan_rows(tmp_path, held) == want["holdout"]
    assert {r["condition"] for r in want["corpus"]} == set(LEGACY_CONDITIONS)


def test_draws_are_fixed_whatever_the_conditions() -> None:
    states = []
    for conds in (("clean",), LEGACY_CONDITIONS, CONDITIONS, FIELD_CONDITIONS, ("short",)):
        rng = np.random.default_rng(11)
        for _ in range(20):
            _draw_condition(rng, conds, 0.3)
        states.append(rng.bit_generator.state)
    assert all(s == states[0] for s in states)
    # one seed gives one condition's parameters, whichever other conditions are listed
    a = _draw_condition(np.random.default_rng(2), ("reverb",), 0.5)
    b = _draw_condition(np.random.default_rng(2), ("reverb", "reverb"), 0.5)
    assert a == b


def test_field_conditions_are_recorded_in_the_manifest_and_deterministic(tmp_path: Path) -> None:
    kw = dict(per_language=6, seed=3, languages=("sv",), workers=1, clean_share=0.0)
    a = synthesize(tmp_path / "a", conditions=FIELD_CONDITIONS, **kw)  # type: ignore[arg-type]
    b = synthesize(tmp_path / "b", conditions=FIELD_CONDITIONS, **kw)  # type: ignore[arg-type]
    assert a["audio_sha256"].tolist() == b["audio_sha256"].tolist()
    assert set(a["condition"]) <= set(FIELD_CONDITIONS) and a["condition"].nunique() >= 3
    held = synthesize_holdout(
        tmp_path / "h",
        per_language=4,
        seed=1,
        languages=("da",),
        conditions=FIELD_CONDITIONS,
        workers=1,
    )
    labels = pd.read_csv(tmp_path / "h" / "labels.tsv", sep="\t")
    assert labels["condition"].tolist() == held["condition"].tolist()
    assert set(labels["condition"]) <= set(FIELD_CONDITIONS)


def _render_twice(tmp_path: Path, task: RenderTask) -> tuple[np.ndarray, int]:
    one = render(dataclasses.replace(task, path=str(tmp_path / "one.wav")))
    two = render(dataclasses.replace(task, path=str(tmp_path / "two.wav")))
    assert one.audio_sha256 == two.audio_sha256
    wave, sr = sf.read(one.path, dtype="float64")
    return wave, sr


def test_reverb_room_has_the_drawn_rt60(tmp_path: Path) -> None:
    tasks = _plan(tmp_path, "reverb")
    for t in tasks:
        assert RT60_RANGE_S[0] <= t.rt60_s <= RT60_RANGE_S[1] and len(t.room_dim) == 3
        for pos in (t.source_pos, t.mic_pos):
            assert all(0 < p < d for p, d in zip(pos, t.room_dim, strict=True))
    import pyroomacoustics as pra

    for t in tasks[:3]:
        click = np.zeros(SR // 10, dtype=np.float32)
        click[0] = 0.5
        out = field.reverb(click, SR, t.room_dim, t.rt60_s, t.source_pos, t.mic_pos)
        assert out.size > click.size  # the reverberant tail is kept
        measured = pra.experimental.measure_rt60(out, fs=SR, decay_db=30)
        assert 0.6 * t.rt60_s <= measured <= 1.4 * t.rt60_s, (t.rt60_s, measured)
    wave, sr = _render_twice(tmp_path, tasks[0])
    dry, _ = _render_twice(tmp_path, dataclasses.replace(tasks[0], condition="clean"))
    assert sr == SR and wave.size > dry.size


def test_babble_is_non_target_speech_at_the_drawn_snr(tmp_path: Path) -> None:
    forbidden = {"da", "fo", "is", "no", "nb", "nn", "sv"}
    assert not forbidden & set(texts.BABBLE_VOICES)
    assert not forbidden & {v.split("-")[0] for v in texts.BABBLE_VOICES.values()}
    tasks = _plan(tmp_path, "babble", n=12)
    for t in tasks:
        assert 2 <= len(t.babble) <= 4
        assert BABBLE_SNR_DB[0] <= t.babble_snr_db <= BABBLE_SNR_DB[1]
        for voice, text, offset in t.babble:
            lang = next(k for k, v in texts.BABBLE_VOICES.items() if voice.split("+")[0] == v)
            assert text in texts.babble_sentences(lang) and 0 <= offset <= 1
    assert len({len(t.babble) for t in tasks}) >= 2
    for lang in texts.BABBLE_VOICES:
        seen, held = texts.babble_sentences(lang), texts.babble_sentences(lang, holdout=True)
        assert 8 <= len(seen) + len(held) <= 10 and len(seen) > len(held) >= 3
        assert not set(seen) & set(held)  # held-out babble is speech training never heard
    # the babble track sits exactly at the drawn SNR under the target
    ref = _tone()
    talkers = [_tone(0.7) * 0.2, np.roll(_tone(2.1), 99)]
    babble = field.babble_track(talkers, [0.1, 0.5], ref.size, 7.5, ref)
    assert babble.size == ref.size
    assert degrade.snr_db(ref, babble) == pytest.approx(7.5, abs=1e-6)
    wave, _ = _render_twice(tmp_path, tasks[0])
    dry, _ = _render_twice(tmp_path, dataclasses.replace(tasks[0], condition="clean"))
    assert wave.size == dry.size and not np.allclose(wave, dry, atol=1e-3)


@pytest.mark.parametrize(("codec", "level"), [("amr-nb", 0), ("gsm", 0), ("vorbis", -1)])
def test_codec_round_trip(codec: str, level: int) -> None:
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal(SR)).astype(np.float32)  # broadband
    y = field.codec(x, SR, codec, level)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.array_equal(y, field.codec(x, SR, codec, level))
    spec = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / SR)
    above = spec[freqs > 4200].sum() / spec.sum()
    if codec in ("amr-nb", "gsm"):
        assert above < 1e-3  # decoded from 8 kHz: nothing above 4 kHz
    else:
        assert not np.allclose(y, x, atol=1e-3)  # lossy
    tone = _tone()
    assert np.corrcoef(field.codec(tone, SR, codec, level), tone)[0, 1] > 0.5


def test_codec_choice_is_drawn(tmp_path: Path) -> None:
    tasks = _plan(tmp_path, "codec", n=24)
    assert {t.codec for t in tasks} == set(field.CODECS)
    for t in tasks:
        if t.codec == "amr-nb":
            assert 0 <= t.codec_level <= 7
        if t.codec == "vorbis":
            assert t.codec_level in field.VORBIS_QUALITIES
    wave, sr = _render_twice(tmp_path, tasks[0])
    assert sr == SR


def test_lownoise_snr_and_colours(tmp_path: Path) -> None:
    tasks = _plan(tmp_path, "lownoise", n=16)
    assert {t.noise_kind for t in tasks} == {"white", "pink", "brown"}
    assert all(LOWNOISE_SNR_DB[0] <= t.snr_db <= LOWNOISE_SNR_DB[1] for t in tasks)
    from corpus.render import apply_condition

    ref = _tone()
    for t in tasks[:4]:
        out, sr = apply_condition(ref, SR, t)
        scale = float(np.dot(out, ref) / np.dot(ref, ref))  # fit_to_range scaled both
        noise = out / scale - ref
        assert degrade.snr_db(ref, noise) == pytest.approx(t.snr_db, abs=0.5)
    _render_twice(tmp_path, tasks[0])


def test_short_crop_holds_speech(tmp_path: Path) -> None:
    silence = np.zeros(SR * 5, dtype=np.float32)
    burst = silence.copy()
    tone = _tone(0.7)
    burst[int(3.2 * SR) : int(3.2 * SR) + tone.size] = tone
    crop = field.short_crop(burst, SR, 1.2)
    assert crop.size == int(1.2 * SR)
    assert degrade.signal_power(crop) * crop.size == pytest.approx(
        degrade.signal_power(burst) * burst.size, rel=1e-6
    )  # all of the speech burst is inside the crop
    edge = silence.copy()
    edge[-SR // 4 :] = 0.5
    assert field.short_crop(edge, SR, 1.0).size == SR  # kept inside the signal
    tasks = _plan(tmp_path, "short")
    assert all(SHORT_CROP_S[0] <= t.crop_s <= SHORT_CROP_S[1] for t in tasks)
    for t in tasks[:3]:
        wave, sr = _render_twice(tmp_path, t)
        assert wave.size / sr == pytest.approx(t.crop_s, abs=1 / sr)
        frames = wave[: wave.size // 512 * 512].reshape(-1, 512)
        voiced = np.sqrt((frames**2).mean(axis=1)) > 0.01
        assert voiced.mean() > 0.5  # mostly speech, not lead-in silence


def test_extreme_prosody_is_outside_the_corpus_ranges(tmp_path: Path) -> None:
    tasks = _plan(tmp_path, "extreme", n=16)

    def inside(v: int, ranges: tuple[tuple[int, int], ...]) -> bool:
        return any(lo <= v <= hi for lo, hi in ranges)

    assert all(inside(t.speed, EXTREME_SPEEDS_WPM) for t in tasks)
    assert all(inside(t.pitch, EXTREME_PITCHES) for t in tasks)
    assert {t.speed > 200 for t in tasks} == {True, False}
    assert {t.pitch > 50 for t in tasks} == {True, False}
    slow = dataclasses.replace(tasks[0], speed=90)
    fast = dataclasses.replace(tasks[0], speed=300)
    slow_wave, _ = _render_twice(tmp_path, slow)
    fast_wave, _ = _render_twice(tmp_path, fast)
    assert slow_wave.size > 2 * fast_wave.size
