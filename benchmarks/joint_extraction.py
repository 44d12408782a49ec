"""Extractors one after another vs one joint pass over the audio vs joint on lanes.

One run over (a sample of) a work dir's validated manifest, the same extractors three ways,
each into a fresh scratch work dir:

- ``separate``: ``run_extraction`` once per extractor — every extractor decodes every file
  and segments speech itself (the engine before the joint pass);
- ``joint``: one ``run_extraction`` of all of them — each file decoded once, the VAD
  segments shared by ``acoustic`` and ``quality``;
- ``lanes``: the joint pass with ``parallel=True`` (the extractors of a batch side by side,
  torch's threads split over them), as ``nordlid run``'s extract-lidnet stage uses it.

Usage: ``python benchmarks/joint_extraction.py WORKDIR [--names lidnet,lidnet-mini]
[--limit 800]`` (WORKDIR: after ``nordlid run``, which trained the lidnet models).  Prints
the wall seconds of each way and its ratio to ``separate``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def _scratch(src: Path, root: Path, tag: str, limit: int) -> Path:
    from corpus.manifest import read_manifest, write_manifest
    from nordlid.workdir import Workdir

    source = Workdir(src)
    wd = Workdir(root / tag).ensure()
    frame = read_manifest(source.validated_manifest).head(limit)
    write_manifest(frame, wd.validated_manifest)
    if source.models.exists():  # the trained lidnet checkpoints and their aliases
        shutil.copytree(source.models, wd.models, dirs_exist_ok=True)
    return wd.root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--names", default="lidnet,lidnet-mini")
    parser.add_argument("--limit", type=int, default=800)
    args = parser.parse_args()

    from extractors.engine import run_extraction
    from nordlid.workdir import Workdir

    names = args.names.split(",")
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nordlid-joint-bench-") as tmp:
        for way in ("separate", "joint", "lanes"):
            wd = Workdir(_scratch(args.workdir, Path(tmp), way, args.limit))
            os.environ["NORDLID_WORKDIR"] = str(wd.root)  # registry aliases resolve here
            started = time.perf_counter()
            if way == "separate":
                for name in names:
                    run_extraction(wd, [name], show_progress=False)
            else:
                run_extraction(wd, names, show_progress=False, parallel=way == "lanes")
            walls[way] = time.perf_counter() - started
            print(f"{way:>9}: {walls[way]:6.1f} s  ({walls[way] / walls['separate']:.2f}×)")


if __name__ == "__main__":
    main()
