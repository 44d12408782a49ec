"""Balance of the validated corpus: counts, imbalance ratio, confounds and PNG plots.

- counts by language × source × gender × split;
- imbalance ratio per split and overall: largest / smallest count over the label languages
  present (a label language with no utterances is listed as missing instead);
- source–language confound: a language that comes from a single source while the corpus
  has several sources (a head could learn the channel instead of the language).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

UNKNOWN = "unknown"


@dataclass
class BalanceSummary:
    counts: pd.DataFrame  # language, source, gender, split, utterances, hours
    by_language_split: pd.DataFrame  # index language, columns split
    imbalance: dict[str, float]  # split (and "all") -> ratio
    missing_languages: list[str]
    confounds: list[str]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


def summarize_balance(
    kept: pd.DataFrame, languages: list[str], splits: list[str], max_imbalance_ratio: float
) -> BalanceSummary:
    frame = pd.DataFrame(
        {
            "language": kept["language"].astype(str),
            "source": kept["source"].astype(str),
            "gender": kept["gender"]
            .astype(object)
            .where(kept["gender"].notna(), UNKNOWN)
            .astype(str),
            "split": kept["split"].astype(str),
            "duration_s": pd.to_numeric(kept["duration_s"], errors="coerce").fillna(0.0),
        }
    )
    keys = ["language", "source", "gender", "split"]
    counts = (
        frame.groupby(keys)
        .agg(utterances=("duration_s", "size"), hours=("duration_s", "sum"))
        .reset_index()
    )
    counts["hours"] = counts["hours"] / 3600.0
    by_ls = (
        frame.groupby(["language", "split"])
        .size()
        .unstack("split", fill_value=0)
        .reindex(index=languages, columns=splits, fill_value=0)
    )
    imbalance: dict[str, float] = {}
    for split in [*splits, "all"]:
        col = by_ls.sum(axis=1) if split == "all" else by_ls[split]
        present = col[col > 0]
        imbalance[split] = float(present.max() / present.min()) if len(present) else float("nan")
    missing = [lang for lang in languages if int(by_ls.loc[lang].sum()) == 0]

    sources = sorted(frame["source"].unique())
    confounds: list[str] = []
    notes: list[str] = []
    if len(sources) > 1:
        for lang, part in frame.groupby("language"):
            src = sorted(part["source"].unique())
            if len(src) == 1:
                confounds.append(
                    f"language {lang!r} comes only from source {src[0]!r}: a head can learn the "
                    "channel/recording conditions instead of the language"
                )
        for src, part in frame.groupby("source"):
            langs = sorted(part["language"].unique())
            if len(langs) == 1 and len(frame["language"].unique()) > 1:
                confounds.append(f"source {src!r} provides only language {langs[0]!r}")
    elif sources:
        notes.append(
            f"all utterances come from one source ({sources[0]!r}): no source–language "
            "confound, but nothing shows how the features transfer to other channels"
        )
    warnings: list[str] = []
    if missing:
        warnings.append(f"label languages with no kept utterances: {', '.join(missing)}")
    for split, ratio in imbalance.items():
        if np.isfinite(ratio) and ratio > max_imbalance_ratio:
            warnings.append(
                f"language imbalance in {split}: ratio {ratio:.2f} > {max_imbalance_ratio:g}"
            )
    for split in splits:
        empty = [
            lang for lang in languages if lang not in missing and int(by_ls.at[lang, split]) == 0
        ]
        if empty:
            warnings.append(f"split {split!r} has no utterances for {', '.join(empty)}")
    return BalanceSummary(counts, by_ls, imbalance, missing, confounds, notes, warnings)


def _bar(ax: object, table: pd.DataFrame, title: str, ylabel: str) -> None:
    table.plot(kind="bar", ax=ax, rot=0)
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.set_ylabel(ylabel)  # type: ignore[attr-defined]


def write_plots(
    kept: pd.DataFrame, checks: pd.DataFrame, summary: BalanceSummary, out_dir: Path
) -> list[Path]:
    """PNG plots (matplotlib, Agg backend) into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if kept.empty:
        return paths
    frame = kept.assign(
        gender=kept["gender"].astype(object).where(kept["gender"].notna(), UNKNOWN),
        duration_s=pd.to_numeric(kept["duration_s"], errors="coerce"),
    )

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    _bar(axes[0], summary.by_language_split, "Utterances by language and split", "utterances")
    _bar(
        axes[1],
        frame.groupby(["language", "gender"]).size().unstack("gender", fill_value=0),
        "Utterances by language and gender",
        "utterances",
    )
    _bar(
        axes[2],
        frame.groupby(["language", "source"]).size().unstack("source", fill_value=0),
        "Utterances by language and source",
        "utterances",
    )
    fig.tight_layout()
    paths.append(out_dir / "balance_counts.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for lang, part in frame.groupby("language"):
        axes[0].hist(part["duration_s"].dropna(), bins=30, alpha=0.5, label=str(lang))
    axes[0].set_title("Duration by language")
    axes[0].set_xlabel("seconds")
    axes[0].legend()
    ratio = pd.to_numeric(checks.get("speech_ratio"), errors="coerce").dropna()
    if len(ratio):
        axes[1].hist(ratio, bins=30, range=(0, 1), color="tab:green")
        axes[1].set_title("VAD speech ratio (all readable rows)")
        axes[1].set_xlabel("share of samples in speech")
    else:
        axes[1].text(0.5, 0.5, "VAD not run", ha="center", va="center")
        axes[1].set_axis_off()
    fig.tight_layout()
    paths.append(out_dir / "durations_speech_ratio.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    return paths
