"""Splitting long waves into chunks and grouping chunks into padded batches.

Pure NumPy / Python: long audio is cut into equal chunks no longer than the model's
maximum (never truncated); chunks are grouped so that a batch's *padded* size stays
within a sample budget, longest first so that neighbours have similar lengths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nordlid.errors import AudioDecodeError, ConfigError


@dataclass(frozen=True)
class Chunk:
    """A piece of utterance ``utt`` (index into the extractor's input list).

    ``whole``: the chunk is the entire input wave, neither cut nor padded (per-utterance
    preprocessing may then be applied to the chunk alone, e.g. on the device).
    """

    utt: int
    wave: np.ndarray
    whole: bool = False

    @property
    def length(self) -> int:
        return int(self.wave.shape[0])


def check_waves(waves: Sequence[np.ndarray]) -> list[np.ndarray]:
    """1-D float32 views of the inputs; empty or non-finite input is an AudioDecodeError
    naming the wave (the engine's and every backbone's one check)."""
    out: list[np.ndarray] = []
    for i, wave in enumerate(waves):
        arr = np.asarray(wave, dtype=np.float32)
        if arr.ndim != 1:
            raise AudioDecodeError(
                f"wave[{i}]", f"expected 1-D mono audio, got shape {arr.shape}", "bad_shape"
            )
        if arr.size == 0:
            raise AudioDecodeError(f"wave[{i}]", "empty audio (0 samples)", "empty")
        if not np.isfinite(arr).all():
            raise AudioDecodeError(
                f"wave[{i}]", "audio contains NaN or infinite samples", "non_finite"
            )
        out.append(arr)
    return out


def check_batch_options(
    name: str, max_chunk_seconds: float, max_batch_seconds: float, max_pad_fraction: float | None
) -> None:
    """Positive chunk and batch sizes, a padding share in [0, 1] (None: the device default)."""
    if max_chunk_seconds <= 0 or max_batch_seconds <= 0:
        raise ConfigError(
            f"extractor {name!r}: max_chunk_seconds={max_chunk_seconds} and "
            f"max_batch_seconds={max_batch_seconds} must be positive"
        )
    if max_pad_fraction is not None and not 0.0 <= max_pad_fraction <= 1.0:
        raise ConfigError(
            f"extractor {name!r}: max_pad_fraction={max_pad_fraction} must be between 0 and 1"
        )


def split_chunks(waves: list[np.ndarray], max_samples: int, min_samples: int = 1) -> list[Chunk]:
    """Cut each wave into ``ceil(n / max_samples)`` near-equal chunks.

    Waves shorter than ``min_samples`` (the model's receptive field) are zero-padded to it
    so that they still produce one frame.  A wave of ``min_samples`` to ``max_samples``
    samples is one chunk marked ``whole``.
    """
    if max_samples < max(min_samples, 1):
        raise ValueError(f"max_samples={max_samples} is below min_samples={min_samples}")
    chunks: list[Chunk] = []
    for utt, wave in enumerate(waves):
        n = wave.shape[0]
        if min_samples <= n <= max_samples:
            chunks.append(Chunk(utt, wave, whole=True))
            continue
        if n < min_samples:
            wave = np.pad(wave, (0, min_samples - n))
            n = min_samples
        pieces = max(1, math.ceil(n / max_samples))
        bounds = np.linspace(0, n, pieces + 1).round().astype(int)
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            piece = wave[start:end]
            if piece.shape[0] < min_samples:  # can only happen for a tail; borrow context
                piece = wave[max(0, end - min_samples) : end]
            chunks.append(Chunk(utt, piece))
    return chunks


def plan_batches(
    lengths: list[int],
    max_batch_samples: int,
    *,
    equal_lengths_only: bool = False,
    max_pad_fraction: float = 1.0,
) -> list[list[int]]:
    """Indices grouped into batches, longest first; padded size ``max_len * count`` stays
    within ``max_batch_samples`` (a single item over the budget forms its own batch).

    ``max_pad_fraction`` bounds the share of a batch that is padding (work spent on
    nothing): on a CPU one utterance already keeps the matrix units busy, so padding is
    pure loss there; on a GPU bigger batches pay for some padding.
    ``equal_lengths_only`` puts only equal-length items together (for models whose output
    depends on padding, e.g. wav2vec2 with group-norm feature extractors).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        if current:
            longest = lengths[current[0]]
            padded = longest * (len(current) + 1)
            fits = padded <= max_batch_samples
            same = lengths[i] == longest
            waste_ok = 1.0 - (real + lengths[i]) / padded <= max_pad_fraction
            if fits and waste_ok and (same or not equal_lengths_only):
                current.append(i)
                real += lengths[i]
                continue
            batches.append(current)
        current = [i]
        real = lengths[i]
    if current:
        batches.append(current)
    return batches


def pad_batch(waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded ``(batch, max_len)`` array and the real lengths."""
    lengths = np.array([w.shape[0] for w in waves], dtype=np.int64)
    out = np.zeros((len(waves), int(lengths.max())), dtype=np.float32)
    for row, wave in enumerate(waves):
        out[row, : wave.shape[0]] = wave
    return out, lengths
