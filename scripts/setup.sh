#!/usr/bin/env bash
# One-time (idempotent) set-up used by both README commands:
#   1. Debian packages (installed when run as root, otherwise named and we stop),
#   2. .venv with Python 3.11,
#   3. the project and its pinned dependencies (constraints.txt).
# A stamp keyed on pyproject.toml + constraints.txt makes a second call a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(espeak-ng redis-server libsndfile1 sox)
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them first, e.g.: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup: Python 3.11 is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv

stamp=.venv/.nordlid-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: installing nordlid and its pinned dependencies into .venv (first run takes a while)"
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  # Resemblyzer's wheel ships the pretrained GE2E voice encoder (validation's voice-leakage
  # check reads only its weights); without its dependencies: webrtcvad is an sdist that needs
  # a C compiler and the package itself is never imported
  .venv/bin/python -m pip install -q --no-deps -c constraints.txt resemblyzer
  echo "$want" > "$stamp"
fi
