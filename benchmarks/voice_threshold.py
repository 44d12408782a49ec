"""Choose the voice-leakage threshold on a synthetic corpus (the default of validation).

Embeds every utterance of a manifest with the pretrained GE2E voice encoder and prints,
for candidate cosine thresholds, the share of utterances whose nearest *other-voice*
utterance in another split reaches it (false voice matches: the corpus's splits are
voice-independent) and the share whose nearest *same-voice* utterance does (what a leak
of that voice would show).  A voice is the espeak-ng variant and pitch/speed setting:
the synthetic speaker id without its language (one voice speaks every language).

    .venv/bin/nordlid corpus synth --out /tmp/voices --per-language 120 \\
        --conditions clean,noisy,telephone
    .venv/bin/python benchmarks/voice_threshold.py /tmp/voices/manifest.parquet
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

THRESHOLDS = (0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98)


def voice_of(speaker_id: str) -> str:
    """``syn-da-michel-p42-s150`` → ``michel-p42-s150`` (the same voice in every language)."""
    return re.sub(r"^syn-[a-z]{2}-", "", speaker_id)


def main() -> None:
    from nordlid.audio import load_for_model
    from validation.voice_encoder import VoiceEncoder
    from validation.voice_leakage import embed_manifest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    frame = pd.read_parquet(args.manifest)
    paths = [
        str((args.manifest.parent / p) if not Path(p).is_absolute() else p)
        for p in frame["path"].astype(str)
    ]
    encoder = VoiceEncoder()
    start = time.perf_counter()
    emb, usable = embed_manifest(paths, encoder.embed, load_for_model)
    seconds = time.perf_counter() - start
    voices = frame["speaker_id"].astype(str).map(voice_of).to_numpy()
    splits = frame["split"].astype(str).to_numpy()
    audio_s = float(frame["duration_s"].sum())
    print(
        f"{int(usable.sum())} utterances, {len(set(voices))} voices, {audio_s:.0f} s of audio; "
        f"embedding took {seconds:.1f} s ({audio_s / seconds:.0f} audio-s/s)"
    )
    report("utterances", emb[usable], voices[usable], splits[usable])
    centroids, c_voices, c_splits = speaker_centroids(
        emb[usable], frame["speaker_id"].astype(str).to_numpy()[usable], splits[usable]
    )
    report("speakers (centroid of each speaker id's utterances)", centroids, c_voices, c_splits)


def speaker_centroids(
    emb: np.ndarray, speakers: np.ndarray, splits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from validation.voice_leakage import group_centroids

    keys = np.array([f"{s}|{k}" for s, k in zip(splits, speakers, strict=True)])
    centroids, first = group_centroids(emb, keys)
    return centroids, np.array([voice_of(speakers[i]) for i in first]), splits[first]


def report(title: str, emb: np.ndarray, voices: np.ndarray, splits: np.ndarray) -> None:
    sims = emb @ emb.T
    np.fill_diagonal(sims, -1.0)
    same = voices[:, None] == voices[None, :]
    np.fill_diagonal(same, False)
    cross = splits[:, None] != splits[None, :]
    has_same = same.any(axis=1)
    nearest_same = np.where(same, sims, -1.0).max(axis=1)[has_same]
    nearest_other = np.where(~same & cross, sims, -1.0).max(axis=1)
    q = [0.01, 0.1, 0.5, 0.9, 0.99, 1.0]
    print(f"\n{title}: {len(emb)} items, {int(has_same.sum())} with another of the same voice")
    print(f"  quantiles {q}")
    print("  nearest same-voice similarity      ", np.round(np.quantile(nearest_same, q), 3))
    print("  nearest other-voice, other split   ", np.round(np.quantile(nearest_other, q), 3))
    print("| threshold | false voice matches (other voice, other split) | same-voice hits |")
    print("|---|---|---|")
    for t in THRESHOLDS:
        print(
            f"| {t:.2f} | {100 * np.mean(nearest_other >= t):.1f} % | "
            f"{100 * np.mean(nearest_same >= t):.1f} % |"
        )


if __name__ == "__main__":
    main()
