"""Early stopping on a dev metric for the torch training loops (heads and lidnet members).

After every epoch the loop calls :meth:`EarlyStopping.update` with the epoch's dev score;
a strictly better score snapshots the watched modules' state, ``patience`` epochs in a row
without one stop training, and :meth:`EarlyStopping.restore` loads the best snapshot back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class _Stateful(Protocol):
    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> Any: ...


class EarlyStopping:
    """Patience on a dev score (higher is better), keeping the best epoch's weights."""

    def __init__(self, patience: int, modules: Sequence[_Stateful]) -> None:
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.patience = patience
        self.modules = list(modules)
        self.best_score = float("-inf")
        self.best_epoch = 0
        self.stale = 0
        self._best_states: list[dict[str, Any]] | None = None

    def update(self, epoch: int, score: float) -> bool:
        """Record one epoch's score; True when it is the best so far (and was snapshotted)."""
        if score > self.best_score:
            self.best_score, self.best_epoch, self.stale = score, epoch, 0
            self._best_states = [
                {k: v.detach().clone() for k, v in m.state_dict().items()} for m in self.modules
            ]
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        """``patience`` epochs in a row without a better score."""
        return self.stale >= self.patience

    def restore(self) -> None:
        """Load the best epoch's state back into the watched modules."""
        if self._best_states is None:
            raise RuntimeError("early stopping: no epoch was recorded, nothing to restore")
        for module, state in zip(self.modules, self._best_states, strict=True):
            module.load_state_dict(state)
