#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine: system libraries for
# headless rendering, a .venv, torch from the local wheel cache, then this package.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs="libegl1 libegl-mesa0 libgl1 libosmesa6 libgles2"
missing=""
for p in $apt_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "[setup] apt-get install$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "[setup] missing Debian packages:$missing (run: sudo apt-get install$missing)" >&2
    fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch first and pinned: an unpinned "torch" would pull a multi-GB download.
.venv/bin/pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/pip install -q -e ".[dev]"
touch .venv/.installed
echo "[setup] done"
