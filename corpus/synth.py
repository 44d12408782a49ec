"""The synthetic espeak-ng corpus (da, is, no, sv) and its held-out companion.

:func:`synthesize` plans every utterance up front from the seed (speaker, sentence, pitch and
speed jitter, condition and its parameters), renders them in a process pool and returns the
manifest rows.  The plan depends only on the arguments, so one seed always gives the same
files and the same manifest.

Splits are voice- *and* sentence-independent: espeak-ng voice variants (per gender, the same
assignment for every language) and sentences (per language) are each assigned to
train/dev/test (~70/15/15), and an utterance of split *s* pairs a speaker of a variant of *s*
with a sentence of *s*.  A variant's timbre is the same whichever language it speaks, so a
variant heard in training in some languages but tested in another would let a model answer
with the voice instead of the language; with one assignment for all languages every
training voice speaks every language and every test voice is new.

:func:`synthesize_holdout` speaks the held-out sentences with voices outside the corpus
(other variants, pitch and speed), writes other sample rates, formats and some stereo, and
writes ``labels.tsv`` (path, language, condition) for ``nordlid predict DIR`` checks.

Conditions (:data:`corpus.render.CONDITIONS`) and their parameters are drawn per utterance
by :func:`_draw_condition`: ``noisy``, ``telephone``, ``gain`` and the field conditions
``reverb``, ``babble``, ``codec``, ``lownoise``, ``short`` and ``extreme``
(:mod:`corpus.field`).  The field parameters come from a child generator seeded by the
utterance's noise seed, so the plan's own generator makes the same draws as before they
existed and every ``clean``/``noisy``/``telephone``/``gain`` file is unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from corpus import texts, voices
from corpus.field import CODECS, VORBIS_QUALITIES
from corpus.manifest import COLUMNS, utterance_id
from corpus.procedural_voices import overlay_data_dir
from corpus.render import CONDITIONS, RenderResult, RenderTask, render
from corpus.splits import SPLIT_NAMES, assign_units, split_counts, stable_hash
from nordlid.atomic import atomic_path
from nordlid.errors import ConfigError

log = logging.getLogger(__name__)

SOURCE = "synthetic"
DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
NOISE_KINDS: tuple[str, ...] = ("white", "pink", "brown")
SNR_RANGE_DB = (0.0, 20.0)
GAIN_RANGES_DB = ((-24.0, -10.0), (6.0, 14.0))  # quiet, or hot and clipped
HOLDOUT_RATES: tuple[int, ...] = (16_000, 44_100, 48_000)
HOLDOUT_FORMATS: tuple[str, ...] = ("wav", "wav", "wav", "flac", "ogg")
# Field conditions (:mod:`corpus.field`).
RT60_RANGE_S = (0.3, 1.0)
ROOM_RANGES_M = ((3.0, 8.0), (3.0, 7.0), (2.4, 3.5))  # ShoeBox x, y, z
WALL_MARGIN_M = 0.5  # source and microphone stay this far from every wall
BABBLE_TALKERS = (2, 4)
BABBLE_SNR_DB = (5.0, 10.0)
BABBLE_VARIANTS: tuple[str, ...] = ("m1", "m3", "m5", "m7", "f1", "f2", "f3", "f4")
LOWNOISE_SNR_DB = (0.0, 5.0)
SHORT_CROP_S = (0.8, 1.5)
EXTREME_SPEEDS_WPM = ((80, 110), (250, 320))  # very slow or very fast (corpus: 142-192)
EXTREME_PITCHES = ((0, 15), (85, 99))  # very low or very high (corpus: 28-72)
_FIELD_SALT = 0x6669656C  # "fiel": the child generator of the field parameters
INLINE_BELOW = 24  # fewer tasks than this: render in-process (pool start-up would dominate)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class _Planned:
    task: RenderTask
    row: dict[str, object]


def _check_args(
    per_language: int, languages: Sequence[str], conditions: Sequence[str], clean_share: float
) -> None:
    if per_language < 1:
        raise ConfigError(f"per_language must be >= 1, got {per_language}")
    if not languages:
        raise ConfigError("languages: give at least one of " + ", ".join(texts.SYNTH_LANGUAGES))
    bad = [lang for lang in languages if lang not in texts.SYNTH_LANGUAGES]
    if bad:
        raise ConfigError(
            f"languages: {bad} have no espeak-ng corpus "
            f"(choose from {', '.join(texts.SYNTH_LANGUAGES)})"
        )
    if not conditions:
        raise ConfigError("conditions: give at least one of " + ", ".join(CONDITIONS))
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad:
        raise ConfigError(f"conditions: unknown {bad} (choose from {', '.join(CONDITIONS)})")
    if not 0.0 <= clean_share <= 1.0:
        raise ConfigError(f"clean_share must be within [0, 1], got {clean_share}")


def _draw_condition(
    rng: np.random.Generator,
    conditions: Sequence[str],
    clean_share: float,
    *,
    holdout: bool = False,
) -> dict[str, object]:
    """Draw the condition and all of its parameters (always the same number of draws);
    ``holdout``: babble talkers speak the held-out half of the babble sentences."""
    u_clean, u_other = rng.random(), rng.random()
    snr = float(rng.uniform(*SNR_RANGE_DB))
    kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    gain_range = GAIN_RANGES_DB[int(rng.integers(len(GAIN_RANGES_DB)))]
    gain = float(rng.uniform(*gain_range))
    noise_seed = int(rng.integers(2**31))
    distinct = list(dict.fromkeys(conditions))
    if len(distinct) == 1:
        cond = distinct[0]
    else:
        degraded = [c for c in distinct if c != "clean"]
        if "clean" in distinct and u_clean < clean_share:
            cond = "clean"
        else:
            cond = degraded[min(int(u_other * len(degraded)), len(degraded) - 1)]
    drawn: dict[str, object] = {
        "condition": cond,
        "snr_db": round(snr, 2),
        "noise_kind": kind,
        "gain_db": round(gain, 2),
        "noise_seed": noise_seed,
    }
    field = _draw_field(np.random.default_rng([noise_seed, _FIELD_SALT]), holdout=holdout)
    if cond == "lownoise":
        drawn["snr_db"], drawn["noise_kind"] = field.pop("lownoise")
    else:
        field.pop("lownoise")
    if cond == "extreme":
        drawn["pitch"], drawn["speed"] = field.pop("extreme")
    else:
        field.pop("extreme")
    drawn["field"] = field
    return drawn


def _uniform_in(rng: np.random.Generator, ranges: Sequence[tuple[float, float]]) -> float:
    """One of ``ranges`` (evenly) and a value inside it: always two draws."""
    pick = ranges[int(rng.integers(len(ranges)))]
    return float(rng.uniform(*pick))


def _draw_field(rng: np.random.Generator, *, holdout: bool = False) -> dict[str, Any]:
    """Every field condition's parameters, whichever condition was drawn: the number of draws
    is fixed, so the parameters of one condition never depend on which others are listed."""
    # reverb: 3 + 1 + 3 + 3 draws
    room = tuple(round(float(rng.uniform(lo, hi)), 3) for lo, hi in ROOM_RANGES_M)
    rt60 = round(float(rng.uniform(*RT60_RANGE_S)), 3)
    src_u, mic_u = rng.random(3), rng.random(3)

    def place(u: np.ndarray, heights: tuple[float, float]) -> tuple[float, ...]:
        x, y = (WALL_MARGIN_M + float(u[k]) * (room[k] - 2 * WALL_MARGIN_M) for k in (0, 1))
        z = heights[0] + float(u[2]) * (heights[1] - heights[0])
        return (round(x, 3), round(y, 3), round(z, 3))

    # babble: 1 + 4 x (language, sentence, variant, offset) + 1 draws
    n_talkers = int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1))
    langs = list(texts.BABBLE_VOICES)
    talkers = []
    for _ in range(BABBLE_TALKERS[1]):
        lang = langs[int(rng.integers(len(langs)))]
        sents = texts.babble_sentences(lang, holdout=holdout)
        text = sents[int(rng.integers(len(sents)))]
        variant = BABBLE_VARIANTS[int(rng.integers(len(BABBLE_VARIANTS)))]
        offset = round(float(rng.random()), 4)
        talkers.append((f"{texts.BABBLE_VOICES[lang]}+{variant}", text, offset))
    babble_snr = round(float(rng.uniform(*BABBLE_SNR_DB)), 2)
    # codec: 2 draws
    codec = CODECS[int(rng.integers(len(CODECS)))]
    level_u = float(rng.random())
    if codec == "amr-nb":
        level = min(int(level_u * 8), 7)
    elif codec == "vorbis":
        level = VORBIS_QUALITIES[min(int(level_u * len(VORBIS_QUALITIES)), 1)]
    else:
        level = 0
    # lownoise: 2 draws; short: 1; extreme: 2 + 2
    low_snr = round(float(rng.uniform(*LOWNOISE_SNR_DB)), 2)
    low_kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    crop = round(float(rng.uniform(*SHORT_CROP_S)), 3)
    speed = int(round(_uniform_in(rng, EXTREME_SPEEDS_WPM)))
    pitch = int(round(_uniform_in(rng, EXTREME_PITCHES)))
    return {
        "room_dim": room,
        "rt60_s": rt60,
        "source_pos": place(src_u, (1.2, 1.9)),
        "mic_pos": place(mic_u, (0.8, 1.6)),
        "babble": tuple(talkers[:n_talkers]),
        "babble_snr_db": babble_snr,
        "codec": codec,
        "codec_level": level,
        "crop_s": crop,
        "lownoise": (low_snr, low_kind),
        "extreme": (pitch, speed),
    }


def _field_kwargs(cond: dict[str, object], pitch: int, speed: int) -> dict[str, Any]:
    """RenderTask keyword arguments of a drawn condition (pitch/speed: the planned prosody,
    replaced for ``extreme``)."""
    field: dict[str, Any] = cond["field"]  # type: ignore[assignment]
    return {
        "pitch": int(cond.get("pitch", pitch)),  # type: ignore[call-overload]
        "speed": int(cond.get("speed", speed)),  # type: ignore[call-overload]
        "condition": str(cond["condition"]),
        "snr_db": float(cond["snr_db"]),  # type: ignore[arg-type]
        "noise_kind": str(cond["noise_kind"]),
        "gain_db": float(cond["gain_db"]),  # type: ignore[arg-type]
        **field,
    }


def _lang_rng(seed: int, lang: str, salt: str) -> np.random.Generator:
    return np.random.default_rng([seed, stable_hash(0, f"{salt}:{lang}") % 2**32])


def _espeak_overlay(out_dir: Path, voice_set: str, seed: int) -> str | None:
    """``espeak-ng --path`` for a voice set with procedural variants (None: system data)."""
    generated = voices.procedural_variants(voice_set, seed)
    if not generated:
        return None
    named = [v for names in voices.VOICE_SETS[voice_set].values() for v in names]
    return str(overlay_data_dir(out_dir / ".espeak", generated, named))


def _plan_language(
    out_dir: Path,
    lang: str,
    per_language: int,
    seed: int,
    conditions: Sequence[str],
    clean_share: float,
    voice_set: str = voices.DEFAULT_VOICE_SET,
    espeak_path: str | None = None,
) -> list[_Planned]:
    rng = _lang_rng(seed, lang, "corpus")
    speakers = voices.corpus_speakers(lang, voice_set, seed)
    variant_split = voices.variant_splits(voice_set, seed)
    spk_split = {s.speaker_id: variant_split[s.variant] for s in speakers}
    sents = texts.sentences(lang)
    sent_split = assign_units({str(i): (lang, 1.0) for i in range(len(sents))}, seed=seed)

    planned: list[_Planned] = []
    for split, count in zip(SPLIT_NAMES, split_counts(per_language), strict=True):
        by_gender = {
            g: [s for s in speakers if s.gender == g and spk_split[s.speaker_id] == split]
            for g in ("female", "male")
        }
        genders = [g for g in ("female", "male") if by_gender[g]]
        for g in genders:
            order = rng.permutation(len(by_gender[g]))
            by_gender[g] = [by_gender[g][i] for i in order]
        pool = [int(i) for i, sp in sent_split.items() if sp == split]
        pool = [pool[i] for i in rng.permutation(len(pool))]
        offset = int(rng.integers(2))
        for j in range(count):
            gender = genders[(j + offset) % len(genders)]
            group = by_gender[gender]
            speaker = group[(j // len(genders)) % len(group)]
            sent_idx = pool[j % len(pool)]
            pitch = speaker.pitch + int(rng.integers(-voices.PITCH_JITTER, voices.PITCH_JITTER + 1))
            speed = speaker.speed + int(rng.integers(-voices.SPEED_JITTER, voices.SPEED_JITTER + 1))
            cond = _draw_condition(rng, conditions, clean_share)
            source_id = (
                f"seed{seed}/{lang}/{split}/{j:05d}/{speaker.speaker_id}"
                f"/s{sent_idx}/{cond['condition']}"
            )
            uid = utterance_id(SOURCE, source_id)
            path = out_dir / lang / speaker.speaker_id / f"{uid}.wav"
            task = RenderTask(
                path=str(path),
                voice=speaker.espeak_voice,
                text=sents[sent_idx],
                **_field_kwargs(cond, pitch, speed),
                noise_seed=(seed, int(cond["noise_seed"])),  # type: ignore[call-overload]
                espeak_path=espeak_path,
            )
            row: dict[str, object] = {
                "utterance_id": uid,
                "language": lang,
                "source": SOURCE,
                "source_language": voices.ESPEAK_VOICES[lang],
                "speaker_id": speaker.speaker_id,
                "gender": speaker.gender,
                "split": split,
                "text": sents[sent_idx],
                "condition": str(cond["condition"]),
            }
            planned.append(_Planned(task, row))
    return planned


def _mp_context() -> BaseContext:
    """``fork`` where available: workers inherit the imported modules (no re-import cost,
    which dominates on a small or busy machine); they only run numpy, soundfile and the
    espeak-ng subprocess.  ``spawn`` elsewhere."""
    return get_context("fork" if "fork" in get_all_start_methods() else "spawn")


def _run(
    tasks: list[RenderTask], workers: int | None, progress: Progress | None
) -> list[RenderResult]:
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if n_workers <= 1 or len(tasks) < INLINE_BELOW:
        results = []
        for t in tasks:
            results.append(render(t))
            if progress:
                progress(1)
        return results
    chunk = max(1, min(16, len(tasks) // (n_workers * 8)))
    results = []
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=_mp_context()) as pool:
        for res in pool.map(render, tasks, chunksize=chunk):
            results.append(res)
            if progress:
                progress(1)
    return results


def _frame(
    planned: list[_Planned], results: list[RenderResult], start_time: datetime
) -> pd.DataFrame:
    rows = []
    for k, (p, r) in enumerate(zip(planned, results, strict=True)):
        row = dict(p.row)
        row.update(
            path=r.path,
            duration_s=round(r.duration_s, 6),
            sample_rate=r.sample_rate,
            num_channels=r.num_channels,
            file_size=r.file_size,
            audio_sha256=r.audio_sha256,
            event_timestamp=start_time + timedelta(seconds=60 * k),
        )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    for col in ("duration_s",):
        frame[col] = frame[col].astype("float64")
    for col in ("sample_rate", "num_channels", "file_size"):
        frame[col] = frame[col].astype("int64")
    return frame


def synthesize(
    out_dir: str | Path,
    *,
    per_language: int,
    seed: int = 0,
    languages: Sequence[str] = ("da", "is", "no", "sv"),
    conditions: Sequence[str] = ("clean",),
    clean_share: float = 0.5,
    workers: int | None = None,
    progress: Progress | None = None,
    start_time: datetime = DEFAULT_EPOCH,
    voice_set: str = voices.DEFAULT_VOICE_SET,
) -> pd.DataFrame:
    """Speak ``per_language`` utterances per language into ``out_dir``; return manifest rows.

    Paths in the result are absolute.  With several ``conditions`` each utterance gets one,
    drawn from the seed: ``clean`` with probability ``clean_share`` (when listed), the
    degraded ones evenly otherwise.  ``event_timestamp`` runs from ``start_time`` in
    one-minute steps (fixed default, so the manifest is reproducible).  ``progress`` is
    called with 1 after each rendered utterance.  ``voice_set`` names the espeak-ng variants
    the speakers are built from (:data:`corpus.voices.VOICE_SETS`).
    """
    _check_args(per_language, languages, conditions, clean_share)
    voices.named_variants(voice_set)  # an unknown name fails before anything is written
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    espeak_path = _espeak_overlay(out, voice_set, seed)  # built once for every language
    planned = [
        p
        for lang in dict.fromkeys(languages)
        for p in _plan_language(
            out, lang, per_language, seed, conditions, clean_share, voice_set, espeak_path
        )
    ]
    log.info("synthesizing %d utterances into %s", len(planned), out)
    results = _run([p.task for p in planned], workers, progress)
    return _frame(planned, results, start_time)


def _plan_holdout(
    out_dir: Path,
    lang: str,
    per_language: int,
    seed: int,
    conditions: Sequence[str],
    clean_share: float,
    stereo_share: float,
) -> list[_Planned]:
    rng = _lang_rng(seed, lang, "holdout")
    speakers = voices.holdout_speakers(lang)
    speakers = [speakers[i] for i in rng.permutation(len(speakers))]
    sents = texts.holdout_sentences(lang)
    order = [int(i) for i in rng.permutation(len(sents))]
    planned: list[_Planned] = []
    for j in range(per_language):
        speaker = speakers[j % len(speakers)]
        sent_idx = order[j % len(order)]
        pitch = speaker.pitch + int(rng.integers(-voices.PITCH_JITTER, voices.PITCH_JITTER + 1))
        speed = speaker.speed + int(rng.integers(-voices.SPEED_JITTER, voices.SPEED_JITTER + 1))
        cond = _draw_condition(rng, conditions, clean_share, holdout=True)
        rate = HOLDOUT_RATES[int(rng.integers(len(HOLDOUT_RATES)))]
        ext = HOLDOUT_FORMATS[int(rng.integers(len(HOLDOUT_FORMATS)))]
        channels = 2 if rng.random() < stereo_share else 1
        source_id = (
            f"holdout/seed{seed}/{lang}/{j:05d}/{speaker.speaker_id}"
            f"/h{sent_idx}/{cond['condition']}"
        )
        uid = utterance_id(SOURCE, source_id)
        path = out_dir / lang / f"{uid}.{ext}"
        task = RenderTask(
            path=str(path),
            voice=speaker.espeak_voice,
            text=sents[sent_idx],
            **_field_kwargs(cond, pitch, speed),
            noise_seed=(seed, int(cond["noise_seed"])),  # type: ignore[call-overload]
            out_rate=rate,
            channels=channels,
        )
        row: dict[str, object] = {
            "utterance_id": uid,
            "language": lang,
            "source": SOURCE,
            "source_language": voices.ESPEAK_VOICES[lang],
            "speaker_id": speaker.speaker_id,
            "gender": speaker.gender,
            "split": "test",
            "text": sents[sent_idx],
            "condition": str(cond["condition"]),
        }
        planned.append(_Planned(task, row))
    return planned


def synthesize_holdout(
    out_dir: str | Path,
    *,
    per_language: int,
    seed: int,
    languages: Sequence[str] = ("da", "is", "no", "sv"),
    conditions: Sequence[str] = ("clean",),
    clean_share: float = 0.5,
    stereo_share: float = 0.25,
    workers: int | None = None,
    progress: Progress | None = None,
    start_time: datetime = DEFAULT_EPOCH,
) -> pd.DataFrame:
    """Held-out audio never in the corpus; writes ``out_dir/labels.tsv`` and returns rows.

    Held-out sentences, voice variants and prosody outside the corpus's, sample rates of
    16/44.1/48 kHz, WAV/FLAC/OGG files and about ``stereo_share`` stereo files.
    ``labels.tsv`` has ``path`` (relative to ``out_dir``), ``language`` and ``condition``.
    """
    _check_args(per_language, languages, conditions, clean_share)
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    planned = [
        p
        for lang in dict.fromkeys(languages)
        for p in _plan_holdout(out, lang, per_language, seed, conditions, clean_share, stereo_share)
    ]
    log.info("synthesizing %d held-out utterances into %s", len(planned), out)
    results = _run([p.task for p in planned], workers, progress)
    frame = _frame(planned, results, start_time)
    labels = pd.DataFrame(
        {
            "path": [str(Path(p).relative_to(out)) for p in frame["path"]],
            "language": frame["language"],
            "condition": frame["condition"],
        }
    )
    with atomic_path(out / "labels.tsv") as tmp:
        labels.to_csv(tmp, sep="\t", index=False)
    return frame
