"""Field conditions: harsher degradations than ``noisy``/``telephone``/``gain``.

Each function takes a mono float waveform and the parameters drawn for it by
:func:`corpus.synth._draw_condition` (nothing random happens here, so a seeded plan gives
identical audio) and returns a new waveform in [-1, 1]:

- :func:`reverb` — a simulated ShoeBox room (``pyroomacoustics``, image-source method, wall
  absorption from Sabine's formula for the drawn RT60), convolved with the dry signal.
- :func:`mix_babble` — competing talkers (already spoken by espeak-ng in non-target
  languages by :mod:`corpus.render`) summed and mixed under the target at an exact SNR.
- :func:`codec` — a lossy codec round trip through ``sox`` (AMR-NB or GSM at 8 kHz, Vorbis
  at low quality), decoded back to the input rate.
- :func:`short_crop` — a crop of the drawn length centred on the signal's energy centre, so
  it holds speech rather than lead-in silence.

``lownoise`` (0–5 dB SNR, :func:`corpus.degrade.add_noise`) and ``extreme`` (speaking rate
and pitch outside the corpus's ranges, applied to the espeak-ng call) need no code here.
Heavy imports (pyroomacoustics, scipy) happen inside the functions: the render runs in
worker processes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from corpus import degrade
from nordlid.errors import NordlidError

# Image-source reflection order cap: the full order for RT60 1 s in an 8 m room is > 100 and
# takes seconds per file; 40 keeps the measured T30 within ~15 % of the target at ~0.1 s.
MAX_REFLECTION_ORDER = 40
CODECS: tuple[str, ...] = ("amr-nb", "gsm", "vorbis")
CODEC_RATE = 8_000  # AMR-NB and GSM are narrow-band codecs
VORBIS_QUALITIES: tuple[int, ...] = (-1, 0)  # sox -C: the lowest Vorbis qualities


class FieldError(NordlidError):
    """A field condition could not be applied (sox missing or failed, bad parameters)."""


def _rms_match(wet: np.ndarray, dry: np.ndarray) -> np.ndarray:
    p_wet = degrade.signal_power(wet)
    if p_wet == 0.0:
        return wet
    return wet * np.sqrt(degrade.signal_power(dry) / p_wet)


def room_rir(
    sr: int,
    room_dim: Sequence[float],
    rt60_s: float,
    source_pos: Sequence[float],
    mic_pos: Sequence[float],
) -> np.ndarray:
    """The room impulse response from ``source_pos`` to ``mic_pos`` (metres) at ``sr``."""
    import pyroomacoustics as pra

    e_absorption, max_order = pra.inverse_sabine(float(rt60_s), list(room_dim))
    room = pra.ShoeBox(
        list(room_dim),
        fs=int(sr),
        materials=pra.Material(e_absorption),
        max_order=min(int(max_order), MAX_REFLECTION_ORDER),
    )
    room.add_source(list(source_pos))
    room.add_microphone(list(mic_pos))
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float64)


def reverb(
    wave: np.ndarray,
    sr: int,
    room_dim: Sequence[float],
    rt60_s: float,
    source_pos: Sequence[float],
    mic_pos: Sequence[float],
) -> np.ndarray:
    """Convolve with the room's impulse response; the reverberant tail is kept (the output is
    longer than the input by the RIR length) and the level matches the dry signal's."""
    from scipy.signal import fftconvolve

    rir = room_rir(sr, room_dim, rt60_s, source_pos, mic_pos)
    wet = fftconvolve(np.asarray(wave, dtype=np.float64), rir)
    return degrade.fit_to_range(_rms_match(wet, wave).astype(np.float32))


def babble_track(
    talkers: Sequence[np.ndarray], offsets: Sequence[float], n: int, snr_db: float, ref: np.ndarray
) -> np.ndarray:
    """The babble to add under ``ref``: each talker looped to ``n`` samples from its start
    ``offset`` (a fraction of its length), normalised to equal power, summed, and scaled so
    that ``snr_db(ref, babble) == snr_db`` (whole-signal power, as :func:`degrade.add_noise`)."""
    if not talkers:
        raise FieldError("babble needs at least one talker")
    total = np.zeros(n, dtype=np.float64)
    for wave, offset in zip(talkers, offsets, strict=True):
        x = np.asarray(wave, dtype=np.float64)
        p = degrade.signal_power(x)
        if x.size == 0 or p == 0.0:
            continue
        start = int(offset * x.size) % x.size
        looped = np.resize(np.roll(x, -start), n)
        total += looped / np.sqrt(p)
    p_total = degrade.signal_power(total)
    if p_total == 0.0:
        raise FieldError("babble talkers are silent")
    target = degrade.signal_power(ref) / (10.0 ** (snr_db / 10.0))
    return total * np.sqrt(target / p_total)


def mix_babble(
    wave: np.ndarray,
    talkers: Sequence[np.ndarray],
    offsets: Sequence[float],
    snr_db: float,
) -> np.ndarray:
    x = np.asarray(wave, dtype=np.float32)
    babble = babble_track(talkers, offsets, x.size, snr_db, x)
    return degrade.fit_to_range((x.astype(np.float64) + babble).astype(np.float32))


def _sox() -> str:
    exe = shutil.which("sox")
    if exe is None:
        raise FieldError("sox not found on PATH: install sox and libsox-fmt-all")
    return exe


def codec(wave: np.ndarray, sr: int, name: str, level: int = 0) -> np.ndarray:
    """Encode with ``name`` (``amr-nb``, ``gsm``, ``vorbis``) through sox and decode back to
    ``sr``; same length as the input.  ``level``: AMR-NB mode 0–7 (4.75–12.2 kbit/s) or
    Vorbis quality (-1 or 0); GSM has none."""
    if name not in CODECS:
        raise FieldError(f"unknown codec {name!r} (choose from {', '.join(CODECS)})")
    x = degrade.fit_to_range(np.asarray(wave, dtype=np.float32))
    if name == "vorbis":
        enc_args = ["-C", str(int(level))]
        ext = "ogg"
    elif name == "amr-nb":
        enc_args = ["-r", str(CODEC_RATE), "-C", str(int(level))]
        ext = "amr-nb"
    else:
        enc_args = ["-r", str(CODEC_RATE)]
        ext = "gsm"
    with tempfile.TemporaryDirectory(prefix="nordlid-codec-") as tmp:
        src, enc, dec = Path(tmp, "in.wav"), Path(tmp, f"enc.{ext}"), Path(tmp, "dec.wav")
        sf.write(str(src), x, sr, subtype="PCM_16")
        for cmd in (
            [_sox(), "-V1", "-R", "-D", str(src), "-c", "1", *enc_args, str(enc)],
            [_sox(), "-V1", "-R", "-D", str(enc), "-r", str(sr), "-b", "16", "-c", "1", str(dec)],
        ):
            proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
            if proc.returncode != 0:
                err = proc.stderr.decode("utf-8", "replace").strip()
                raise FieldError(f"sox {name} round trip failed: {err}")
        out, _ = sf.read(str(dec), dtype="float32", always_2d=True)
    y = out.mean(axis=1).astype(np.float32)
    if y.size >= x.size:
        y = y[: x.size]
    else:
        y = np.pad(y, (0, x.size - y.size))
    return degrade.fit_to_range(y)


def energy_centre(wave: np.ndarray) -> int:
    """Sample index of the energy centroid ``sum(t * x²) / sum(x²)``."""
    e = np.square(np.asarray(wave, dtype=np.float64))
    total = float(e.sum())
    if total == 0.0:
        return wave.size // 2
    # an elementwise sum, not np.dot: BLAS threads cost ~10 ms per call on a busy machine
    return int(round(float((np.arange(e.size, dtype=np.float64) * e).sum()) / total))


def short_crop(wave: np.ndarray, sr: int, crop_s: float) -> np.ndarray:
    """A ``crop_s``-second window centred on the energy centre (kept inside the signal);
    a signal already shorter than that is returned whole."""
    x = np.asarray(wave, dtype=np.float32)
    n = int(round(crop_s * sr))
    if n <= 0:
        raise FieldError(f"crop length must be positive, got {crop_s} s")
    if x.size <= n:
        return x.copy()
    start = min(max(0, energy_centre(x) - n // 2), x.size - n)
    return x[start : start + n].copy()
