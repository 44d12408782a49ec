"""A one-cycle learning-rate schedule whose length can be fixed after training has begun.

``torch.optim.lr_scheduler.OneCycleLR`` needs its total number of steps up front.  A
training run with a wall-clock budget only knows how many epochs fit after it has timed
the first one; a schedule sized for more epochs than fit stops with the learning rate
still high and the weights far from where the anneal would have taken them.
:class:`OneCycle` is the same shape (linear warm-up for ``pct_start`` of the steps, then a
cosine anneal to ``max_lr / final_div``) with :meth:`OneCycle.resize`, used as the
multiplier of a ``torch.optim.lr_scheduler.LambdaLR``.
"""

from __future__ import annotations

import math


class OneCycle:
    """Multiplier of the base learning rate at step ``i`` (call it with the step count)."""

    def __init__(
        self,
        total_steps: int,
        pct_start: float = 0.15,
        div: float = 25.0,
        final_div: float = 1e4,
    ) -> None:
        if not 0.0 < pct_start < 1.0:
            raise ValueError(f"pct_start must be in (0, 1), got {pct_start}")
        if div <= 1.0 or final_div <= 1.0:
            raise ValueError(f"div and final_div must exceed 1, got {div} and {final_div}")
        self.pct_start = pct_start
        self.div = div
        self.final_div = final_div
        self.total_steps = 1
        self.resize(total_steps)

    def resize(self, total_steps: int) -> None:
        """Set the schedule's length (steps already taken keep their place on it)."""
        if total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {total_steps}")
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        start = 1.0 / self.div
        end = 1.0 / self.final_div
        warm = float(max(1, round(self.pct_start * self.total_steps)))
        if step < warm:
            return start + (1.0 - start) * step / warm
        rest = max(1.0, self.total_steps - warm)
        t = min(1.0, (step - warm) / rest)
        return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * t))
