"""Masked mean / std pooling over real frames, mergeable across chunks.

Statistics are kept as (count, mean, M2) in float64 so that chunks of one utterance merge
exactly (Chan et al.'s parallel update) and the result is the mean and population std over
all real frames of the utterance, whatever the padding or chunking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Moments:
    """Frame count, mean and sum of squared deviations of one sequence of vectors."""

    count: int
    mean: np.ndarray  # (dim,) float64
    m2: np.ndarray  # (dim,) float64

    def merge(self, other: Moments) -> Moments:
        if self.count == 0:
            return other
        if other.count == 0:
            return self
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta * delta * (self.count * other.count / n)
        return Moments(n, mean, m2)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.m2 / max(self.count, 1), 0.0))


def merge_all(parts: list[Moments]) -> Moments:
    if not parts:
        raise ValueError("no frames to pool")
    total = parts[0]
    for part in parts[1:]:
        total = total.merge(part)
    return total


def frame_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``(batch, num_frames)`` bool mask, True on the first ``lengths[b]`` frames."""
    import torch

    positions = torch.arange(num_frames, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def masked_moments(hidden: torch.Tensor, mask: torch.Tensor) -> list[Moments]:
    """Per-item moments of ``hidden`` ``(batch, frames, dim)`` over frames where ``mask``.

    Two passes on the tensor's device, the frame sums as batched matrix products with the
    mask (no masked copies of the hidden states): float32 for float32/bf16/fp16 states,
    float64 for float64 ones, never under autocast; one transfer to the host at the end.
    """
    import torch

    work = torch.float64 if hidden.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        h = hidden.detach().to(work)
        m = mask.to(work).unsqueeze(1)  # (batch, 1, frames)
        counts = m.sum(dim=2)  # (batch, 1)
        mean = torch.bmm(m, h).squeeze(1) / counts.clamp(min=1.0)  # (batch, dim)
        dev = h - mean.unsqueeze(1)
        m2 = torch.bmm(m, dev.square_()).squeeze(1)
        host = torch.cat([counts, mean, m2], dim=1).to(torch.float64).cpu().numpy()
    dim = h.shape[2]
    return [Moments(int(round(row[0])), row[1 : 1 + dim], row[1 + dim :]) for row in host]


def as_float32_list(vector: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(vector, dtype=np.float32)]
