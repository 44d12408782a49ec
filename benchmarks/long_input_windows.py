"""Long clips after ``nordlid run``: the lidnet embedding of the whole clip against the mean
over windows (``extractors.lidnet.long_input_windows``), scored by the ``@premium`` head.

Each clip joins four clean held-out files of one language (``data/holdout``, ~11 s); three
versions of it: clean, a quarter of it under loud (-5 dB) brownish noise, and a quarter under
an equally loud held-out talker of another language.  Prints accuracy per version and mode.

    .venv/bin/python benchmarks/long_input_windows.py [--workdir .] [--clips 300]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    import pandas as pd
    import torch

    from extractors.lidnet import LidnetExtractor
    from nordlid.audio import load_for_model
    from nordlid.workdir import Workdir
    from serving.adapters import RegistryModelLoader
    from serving.predictor import frame_for

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("."))
    ap.add_argument("--clips", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    wd = Workdir(args.workdir.resolve())
    ext = LidnetExtractor(models_root=wd.models)
    model = RegistryModelLoader(wd).load("@premium")
    labels = list(model.card.labels)
    holdout = wd.data / "holdout"
    table = pd.read_csv(holdout / "labels.tsv", sep="\t")
    clean = table[table.condition == "clean"]
    rng = np.random.default_rng(0)

    def load(rel: str) -> np.ndarray:
        return load_for_model(str(holdout / rel))

    def predict(emb: np.ndarray) -> str:
        frame = frame_for(model, {"lidnet": {"embedding": emb.tolist()}})
        return labels[int(np.argmax(model.predict_proba(frame)[0]))]

    def whole(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out: np.ndarray = ext.model(torch.from_numpy(x)[None])[0].numpy()
        return out

    right: dict[tuple[str, str], list[bool]] = {}
    for clip in range(args.clips):
        lang = labels[clip % len(labels)]
        files = clean[clean.language == lang].sample(4, random_state=int(rng.integers(1 << 30)))
        x = np.concatenate([load(p) for p in files.path]).astype(np.float32)
        a = int(rng.integers(0, x.size - x.size // 4))
        b = a + x.size // 4
        power = float(np.mean(x[a:b] ** 2)) + 1e-9
        noise = np.cumsum(rng.standard_normal(b - a)).astype(np.float32)
        noise = (noise - noise.mean()) * 0.02 + rng.standard_normal(b - a).astype(np.float32)
        noisy = x.copy()
        noisy[a:b] += noise * np.sqrt(power * 10**0.5 / float(np.mean(noise**2)))
        other = load(clean[clean.language != lang].sample(1, random_state=clip).path.iloc[0])
        other = np.resize(other, b - a) if other.size < b - a else other[: b - a]
        talker = x.copy()
        talker[a:b] += other * np.sqrt(power / (float(np.mean(other**2)) + 1e-12))
        for version, sig in (("clean", x), ("noisy quarter", noisy), ("talker quarter", talker)):
            right.setdefault((version, "whole"), []).append(predict(whole(sig)) == lang)
            right.setdefault((version, "windowed"), []).append(predict(ext.embed(sig)) == lang)
    for (version, mode), hits in right.items():
        print(f"{version:15s} {mode:9s} {100 * np.mean(hits):5.1f} % (n={len(hits)})")


if __name__ == "__main__":
    main()
