#!/usr/bin/env bash
# Clone HEAD (committed work only) into a temporary folder and run the README's test
# command there, as CI and a new user would.  Usage: scripts/fresh_clone_check.sh [--demo]
#   --demo  also run the README's main job (`make demo`) in the same clone first.
# Exit code: that of the last command.  The clone is removed unless KEEP=1.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
demo=0
[[ ${1:-} == --demo ]] && demo=1
dest=$(mktemp -d "${TMPDIR:-/tmp}/nordlid-fresh-XXXXXX")
cleanup() { [[ ${KEEP:-0} == 1 ]] && echo "fresh_clone_check: kept $dest" || rm -rf "$dest"; }
trap cleanup EXIT
git clone -q "$repo" "$dest"
cd "$dest"
echo "fresh_clone_check: $(git rev-parse --short HEAD) in $dest"
start=$(date +%s)
if ((demo)); then
  make demo
  echo "fresh_clone_check: make demo took $(($(date +%s) - start)) s"
fi
t0=$(date +%s)
make test
echo "fresh_clone_check: make test took $(($(date +%s) - t0)) s (total $(($(date +%s) - start)) s)"
