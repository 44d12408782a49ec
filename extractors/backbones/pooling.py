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
    """Per-item moments of ``hidden`` ``(batch, frames, dim)`` over frames where ``mask``."""
    import torch

    h = hidden.detach().to(torch.float64)
    m = mask.to(torch.float64).unsqueeze(-1)
    counts = m.sum(dim=1)  # (batch, 1)
    safe = counts.clamp(min=1.0)
    mean = (h * m).sum(dim=1) / safe
    m2 = (((h - mean.unsqueeze(1)) ** 2) * m).sum(dim=1)
    counts_np = counts.squeeze(-1).cpu().numpy().astype(np.int64)
    mean_np = mean.cpu().numpy()
    m2_np = m2.cpu().numpy()
    return [Moments(int(counts_np[b]), mean_np[b], m2_np[b]) for b in range(h.shape[0])]


def as_float32_list(vector: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(vector, dtype=np.float32)]
