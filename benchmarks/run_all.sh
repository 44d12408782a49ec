#!/usr/bin/env bash
# Run every benchmark with its default (small) sizes and keep each printed table under
# benchmarks/results/<name>.txt, stamped with the machine and the date.  Speed is always a
# ratio against a baseline measured in the same run; absolute numbers depend on the load.
set -uo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
PY=.venv/bin/python
stamp="$(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPU cores ($(uname -m)), load $(cut -d' ' -f1-3 /proc/loadavg)"
for bench in corpus_synth validate extract extract_backbones whisper_ct2 online materialize train serve drift scaleout; do
  echo "== $bench"
  { echo "# $bench — $stamp"; "$PY" "benchmarks/$bench.py" 2>&1; } | tee "$out/$bench.txt" | tail -25
done
