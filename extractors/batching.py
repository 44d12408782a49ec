"""Length-bucketed dynamic batches under a budget of padded audio seconds (pure Python)."""

from __future__ import annotations

from collections.abc import Sequence

from nordlid.errors import ConfigError

DEFAULT_BATCH_SECONDS = 120.0
MAX_BATCH_ITEMS = 256


def plan_batches(
    durations: Sequence[float],
    budget_s: float,
    *,
    keys: Sequence[str] | None = None,
    max_items: int = MAX_BATCH_ITEMS,
) -> list[list[int]]:
    """Group item indices into batches whose padded size ``n × longest`` fits ``budget_s``.

    Items are sorted longest first (ties by ``keys``, then index) so neighbours have similar
    lengths and little padding; an item longer than the budget forms a batch of its own
    (the extractor chunks it — nothing is truncated).  Deterministic for equal inputs.
    """
    if budget_s <= 0:
        raise ConfigError(f"batch seconds must be positive, got {budget_s}")
    if max_items < 1:
        raise ConfigError(f"max batch items must be >= 1, got {max_items}")
    tie = list(keys) if keys is not None else [""] * len(durations)
    order = sorted(range(len(durations)), key=lambda i: (-float(durations[i]), tie[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0.0
    for i in order:
        d = max(float(durations[i]), 0.0)
        if current and ((len(current) + 1) * longest > budget_s or len(current) >= max_items):
            batches.append(current)
            current = []
        if not current:
            longest = d
        current.append(i)
    if current:
        batches.append(current)
    return batches
