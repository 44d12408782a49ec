"""Render one synthetic utterance: espeak-ng → degradation → resample/channels → audio file.

Runs inside worker processes, so it imports only numpy and soundfile at module level (the
field conditions import pyroomacoustics/scipy when used) and takes a plain, picklable
:class:`RenderTask` that carries every drawn parameter.

Conditions (:data:`CONDITIONS`): ``clean``; ``noisy`` (white/pink/brown noise at 0–20 dB
SNR); ``telephone`` (300–3400 Hz, 8 kHz, µ-law); ``gain`` (quiet or hot and clipped); and
the field conditions (:data:`FIELD_CONDITIONS`, :mod:`corpus.field`): ``reverb`` (a
simulated ShoeBox room, RT60 0.3–1.0 s), ``babble`` (2–4 espeak-ng talkers of non-target
languages at 5–10 dB SNR under the target), ``codec`` (AMR-NB/GSM at 8 kHz or low-quality
Vorbis through sox), ``lownoise`` (noise at 0–5 dB SNR), ``short`` (a 0.8–1.5 s crop around
the energy centre) and ``extreme`` (speaking rate and pitch outside the corpus's ranges,
given to espeak-ng as the task's ``speed``/``pitch``).

Files are written under a temporary name and renamed, so an interrupted run never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from corpus import degrade, field
from nordlid.atomic import atomic_path
from nordlid.audio import pcm_sha256
from nordlid.errors import NordlidError

ESPEAK_RATE = 22_050
MIN_DURATION_S = 1.0  # shorter renders get silence padded at both ends (a recording's lead-in)
LEGACY_CONDITIONS: tuple[str, ...] = ("clean", "noisy", "telephone", "gain")
FIELD_CONDITIONS: tuple[str, ...] = ("reverb", "babble", "codec", "lownoise", "short", "extreme")
CONDITIONS: tuple[str, ...] = LEGACY_CONDITIONS + FIELD_CONDITIONS
FORMATS: dict[str, tuple[str, str]] = {  # extension → (libsndfile format, subtype)
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
}


class SynthError(NordlidError):
    """espeak-ng is missing or failed on an utterance."""


@dataclass(frozen=True)
class RenderTask:
    path: str
    voice: str  # espeak-ng voice, e.g. "da+m3"
    pitch: int
    speed: int
    text: str
    condition: str = "clean"
    snr_db: float = 20.0
    noise_kind: str = "white"
    gain_db: float = 0.0
    noise_seed: tuple[int, ...] = (0,)
    out_rate: int | None = None  # None: keep the rate after degradation
    channels: int = 1
    espeak_path: str | None = None  # ``espeak-ng --path``: an overlay with procedural variants
    # Field conditions (``lownoise`` uses snr_db/noise_kind, ``extreme`` pitch/speed above).
    room_dim: tuple[float, ...] = ()  # reverb: ShoeBox (x, y, z) in metres
    rt60_s: float = 0.0
    source_pos: tuple[float, ...] = ()
    mic_pos: tuple[float, ...] = ()
    babble: tuple[tuple[str, str, float], ...] = ()  # (espeak voice, text, start fraction)
    babble_snr_db: float = 10.0
    codec: str = ""  # amr-nb, gsm or vorbis
    codec_level: int = 0
    crop_s: float = 0.0  # short: crop length in seconds


@dataclass(frozen=True)
class RenderResult:
    path: str
    sample_rate: int
    num_channels: int
    num_frames: int
    file_size: int
    audio_sha256: str

    @property
    def duration_s(self) -> float:
        return self.num_frames / float(self.sample_rate)


def espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthError(
            "espeak-ng not found on PATH: install the Debian package espeak-ng "
            "(apt-get install espeak-ng)"
        )
    return exe


def speak(
    voice: str,
    pitch: int,
    speed: int,
    text: str,
    tmp_wav: Path,
    data_path: str | None = None,
) -> tuple[np.ndarray, int]:
    """Run espeak-ng once; returns mono float32 samples and espeak's native rate.
    ``data_path`` is the parent of an ``espeak-ng-data`` directory to use instead of the
    system's (:func:`corpus.procedural_voices.overlay_data_dir`)."""
    cmd = [
        espeak_binary(),
        *([f"--path={data_path}"] if data_path else []),
        "-v",
        voice,
        "-p",
        str(pitch),
        "-s",
        str(speed),
        "-w",
        str(tmp_wav),
        "--stdin",
    ]
    try:
        proc = subprocess.run(
            cmd, input=text.encode("utf-8"), capture_output=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SynthError(f"espeak-ng timed out on {text[:40]!r} (voice {voice})") from exc
    if proc.returncode != 0 or not tmp_wav.exists():
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise SynthError(f"espeak-ng failed (voice {voice}, exit {proc.returncode}): {err}")
    try:
        data, rate = sf.read(str(tmp_wav), dtype="float32", always_2d=True)
    finally:
        tmp_wav.unlink(missing_ok=True)
    if data.shape[0] == 0:
        raise SynthError(f"espeak-ng produced no audio for {text[:40]!r} (voice {voice})")
    return data.mean(axis=1).astype(np.float32), int(rate)


def pad_to(wave: np.ndarray, n: int) -> np.ndarray:
    """Pad with silence, split evenly before and after, to at least ``n`` samples."""
    short = n - wave.size
    if short <= 0:
        return wave
    return np.pad(wave, (short // 2, short - short // 2))


def apply_condition(wave: np.ndarray, sr: int, task: RenderTask) -> tuple[np.ndarray, int]:
    """The task's degradation; the result fits in [-1, 1]."""
    if task.condition == "clean":
        return wave, sr
    if task.condition == "noisy":
        rng = np.random.default_rng(list(task.noise_seed))
        noisy = degrade.add_noise(wave, task.snr_db, rng, kind=task.noise_kind)  # type: ignore[arg-type]
        return degrade.fit_to_range(noisy), sr
    if task.condition == "telephone":
        narrow, rate = degrade.telephone(wave, sr, keep_rate=True)  # corpus keeps the native rate
        return degrade.fit_to_range(narrow), rate
    if task.condition == "gain":
        return degrade.apply_gain(wave, task.gain_db), sr
    if task.condition in FIELD_CONDITIONS:
        return _apply_field(wave, sr, task), sr
    raise SynthError(f"unknown condition {task.condition!r} (choose from {', '.join(CONDITIONS)})")


def _speak_babble(task: RenderTask, sr: int) -> list[np.ndarray]:
    talkers = []
    with tempfile.TemporaryDirectory(prefix="nordlid-babble-") as tmp:
        for k, (voice, text, _) in enumerate(task.babble):
            wave, rate = speak(voice, 50, 175, text, Path(tmp, f"talker{k}.wav"))
            if rate != sr:
                wave = degrade.resample(wave, rate, sr).astype(np.float32)
            talkers.append(wave)
    return talkers


def _apply_field(wave: np.ndarray, sr: int, task: RenderTask) -> np.ndarray:
    if task.condition == "reverb":
        return field.reverb(wave, sr, task.room_dim, task.rt60_s, task.source_pos, task.mic_pos)
    if task.condition == "babble":
        offsets = [offset for _, _, offset in task.babble]
        return field.mix_babble(wave, _speak_babble(task, sr), offsets, task.babble_snr_db)
    if task.condition == "codec":
        return field.codec(wave, sr, task.codec, task.codec_level)
    if task.condition == "lownoise":
        rng = np.random.default_rng(list(task.noise_seed))
        noisy = degrade.add_noise(wave, task.snr_db, rng, kind=task.noise_kind)  # type: ignore[arg-type]
        return degrade.fit_to_range(noisy)
    if task.condition == "short":
        return field.short_crop(wave, sr, task.crop_s)
    # extreme: the prosody went to espeak-ng; the audio itself is left clean
    return wave


def _to_stereo(wave: np.ndarray, sr: int) -> np.ndarray:
    """Second channel: the same signal 0.5 ms later and 3 dB quieter (a two-mic recording)."""
    shift = max(1, int(round(sr * 0.0005)))
    right = np.concatenate([np.zeros(shift, dtype=np.float32), wave[:-shift]]) * np.float32(0.7)
    return np.stack([wave, right], axis=1)


def render(task: RenderTask) -> RenderResult:
    out = Path(task.path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ext = out.suffix.lstrip(".").lower()
    if ext not in FORMATS:
        raise SynthError(
            f"{out}: unsupported output format {ext!r} (choose from {', '.join(FORMATS)})"
        )
    wave, sr = speak(
        task.voice,
        task.pitch,
        task.speed,
        task.text,
        out.with_name(f".{out.name}.espeak.wav"),
        task.espeak_path,
    )
    wave = pad_to(wave, int(round(MIN_DURATION_S * sr)))
    wave, sr = apply_condition(wave, sr, task)
    if task.out_rate is not None and task.out_rate != sr:
        wave = degrade.fit_to_range(degrade.resample(wave, sr, task.out_rate))
        sr = task.out_rate
    data: np.ndarray = _to_stereo(wave, sr) if task.channels == 2 else wave
    fmt, subtype = FORMATS[ext]
    with atomic_path(out) as tmp:
        sf.write(str(tmp), data, sr, format=fmt, subtype=subtype)
    info = sf.info(str(out))
    return RenderResult(
        path=str(out),
        sample_rate=int(info.samplerate),
        num_channels=int(info.channels),
        num_frames=int(info.frames),
        file_size=out.stat().st_size,
        audio_sha256=pcm_sha256(out),
    )
