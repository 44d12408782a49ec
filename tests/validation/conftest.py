"""Fixtures for the validation tests: short espeak-ng speech and a random SQUIM model."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from nordlid.audio import resample


def espeak_wave(text: str, voice: str = "da") -> tuple[np.ndarray, int]:
    """Mono float32 speech from espeak-ng at its native rate (22 050 Hz)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is required for the validation tests (apt-get install espeak-ng)")
    raw = subprocess.run(
        [exe, "-v", voice, "--stdout", text], capture_output=True, check=True
    ).stdout
    wave, sr = sf.read(io.BytesIO(raw), dtype="float32")
    return wave.astype(np.float32), int(sr)


@pytest.fixture(scope="session")
def espeak() -> Callable[..., tuple[np.ndarray, int]]:
    """The :func:`espeak_wave` helper, for test modules (conftest is not importable)."""
    return espeak_wave


@pytest.fixture(scope="session")
def speech16k() -> np.ndarray:
    """About 3 s of Danish speech at 16 kHz, with 1 s of silence before and after."""
    wave, sr = espeak_wave("Hej, jeg hedder Peter og jeg bor i København ved havnen.")
    w16 = resample(wave, sr)
    pad = np.zeros(16_000, dtype=np.float32)
    return np.concatenate([pad, w16, pad])


@pytest.fixture(scope="session")
def squim_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A randomly initialised squim_objective_base saved as safetensors and as a state dict."""
    import torch
    from safetensors.torch import save_file
    from torchaudio.models import squim_objective_base

    torch.manual_seed(0)
    model = squim_objective_base()
    out = tmp_path_factory.mktemp("squim")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "squim.safetensors"))
    torch.save(state, out / "squim.pth")
    return {"safetensors": out / "squim.safetensors", "pth": out / "squim.pth"}
