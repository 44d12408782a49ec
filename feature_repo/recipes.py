"""Named model recipes: the lists of feature views that training and serving refer to.

A recipe is a list of view names (``spec.view_name``).  ``lid_mini`` is the cheap first
stage of the serving cascade: the embedding of ``lidnet-mini``, one narrow encoder (the
acoustic statistics when it has not been trained); ``lid_premium`` the escalation stage:
one LID embedding and nothing else.  When the ``lidnet`` checkpoint has not been trained
yet, the premium recipe falls back to the best available backbone, in the order listed.

Premium leaves the acoustic statistics out: the 762 MFCC/SDC statistics describe the voice
as much as the language, and a head over acoustic + lidnet fitted the training voices —
on audio of unseen voices (the run's held-out stage) it scored 94.5 % clean / 90.9 %
degraded against 95.8 / 91.1 % for the same head over the lidnet embedding alone
(same corpus and backbone checkpoint, 800 files; test accuracy 98.3 vs 97.7 %).
"""

from __future__ import annotations

from collections.abc import Iterable

MINI = "lid_mini"
PREMIUM = "lid_premium"
FUSION = "lid_fusion"

RECIPES: dict[str, tuple[str, ...]] = {
    MINI: ("lidnet_mini",),
    PREMIUM: ("lidnet",),
    # nordlid's own backbone beside real pretrained Whisper base statistics (a comparison
    # model of the default run, not part of the serving cascade)
    FUSION: ("lidnet", "whisper_base"),
}

COMPLETE_ONLY: frozenset[str] = frozenset({FUSION})
"""Recipes that exist only when every one of their views does (a fusion of one is no fusion)."""

PREMIUM_FALLBACK: tuple[str, ...] = (
    "ecapa",
    "titanet",
    "mms",
    "xlsr",
    "whisper_base",
    "whisper_tiny",
)
"""Backbones tried, best first, when ``lidnet`` is missing (reference report LID accuracy)."""


def resolve_recipe(
    name: str, available_views: Iterable[str], extracted: Iterable[str] | None = None
) -> list[str]:
    """The views of recipe ``name`` that exist; an empty list means the recipe cannot be built.

    ``extracted`` (default: every available view) names the views whose features have been
    written: the mini stage uses ``lidnet_mini`` only once that backbone has features (a
    registered but untrained backbone has none to train on)."""
    available = set(available_views)
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    wanted = [v for v in RECIPES[name] if v in available]
    if name in COMPLETE_ONLY and len(wanted) != len(RECIPES[name]):
        return []
    if name == MINI and extracted is not None:
        wanted = [v for v in wanted if v in set(extracted)]
    if name == MINI and not wanted:
        # no trained mini backbone: the weight-free acoustic statistics (88 % on test, so
        # the cascade escalates nearly everything — train lidnet to get a useful mini)
        return ["acoustic"] if "acoustic" in available else []
    if name == PREMIUM and "lidnet" not in available:
        # premium = one embedding; without any it cannot be built
        fallback = next((v for v in PREMIUM_FALLBACK if v in available), None)
        if fallback is None:
            return []
        wanted.append(fallback)
    return wanted


def recipe_views(
    available_views: Iterable[str], extracted: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """All recipes that can be built from the available views (name → view list)."""
    views = list(available_views)
    done = None if extracted is None else list(extracted)
    out: dict[str, list[str]] = {}
    for name in RECIPES:
        resolved = resolve_recipe(name, views, done)
        if resolved:
            out[name] = resolved
    return out
