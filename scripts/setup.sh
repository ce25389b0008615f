#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine: system libraries for
# headless rendering, a .venv, torch from the local wheel cache, then this package.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt_install [apt-get options] -- PACKAGES: installs those not installed yet (as root; else says how).
apt_install() {
    local opts=() missing=""
    while [ "$1" != "--" ]; do opts+=("$1"); shift; done; shift
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" = 0 ]; then
        echo "[setup] apt-get install$missing"
        [ -n "${apt_updated:-}" ] || { apt-get update -qq; apt_updated=1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${opts[@]}" $missing >/dev/null
    else
        echo "[setup] missing Debian packages:$missing (run: sudo apt-get install${opts[*]:+ ${opts[*]}}$missing)" >&2
    fi
}
# headless OpenGL for synthetic/ (Mesa's software rasteriser)
apt_install -- libegl1 libegl-mesa0 libgl1 libosmesa6 libgles2
# the browser the demo's end-to-end test drives (pip playwright downloads none); recommends would add
# ~100 desktop packages, the fonts are the one the screenshots need
apt_install --no-install-recommends -- chromium fonts-liberation

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch first and pinned: an unpinned "torch" would pull a multi-GB download.
.venv/bin/pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/pip install -q -e ".[dev]"
touch .venv/.installed
echo "[setup] done"
