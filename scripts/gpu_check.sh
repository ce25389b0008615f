#!/usr/bin/env bash
# The one prepared GPU run (issue 23): build the CUDA ops, check them against the reference, time the
# config-F generator and the end-to-end paths (bench/gpu.py says what each stage does). Writes, under $OUT:
#   gpu_check.json          every result, rewritten after each stage (a killed run keeps what it measured)
#   gpu_check.log           the progress lines and the PASS/FAIL table
#   gpu_check_console.log   the whole console output (compiler noise, warnings, tracebacks)
#
# On a lent GPU machine, from the repository root, with nothing carried (the device image has python3 with
# torch, numpy, scipy, pillow, tqdm, safetensors, pytest, nvcc and ninja; nothing run here imports dlib,
# pyrender or gradio) and a timeout_s that leaves room for the machine's start:
#     bash scripts/gpu_check.sh                      # ~6 min at most on an H200; run with timeout_s=420
# On a machine without a CUDA device it says so, writes a JSON that says so, and exits 0:
#     OUT=/tmp/gpu_out bash scripts/gpu_check.sh
# Arguments go to bench/gpu.py: --dry-run-cpu, --stages parity,generator, --budget-s 300, ...
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
# $PYTHON, else this checkout's .venv (a development machine), else python3 (the device image's, with torch)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_DISABLE=1
export SGT_BUILD_DIR=${SGT_BUILD_DIR:-/tmp/sgt_gpu_check_build}  # fresh on a fresh machine: real build times
export MAX_JOBS=${MAX_JOBS:-$(nproc 2>/dev/null || echo 4)}
# bench/gpu.py keeps its stages inside --budget-s (360 s by default); this is the hard stop for a hang
# inside a kernel or a compiler, which a Python-level time box cannot interrupt.
LIMIT=${GPU_CHECK_TIMEOUT_S:-400}
echo "gpu_check: $PY, OUT=$OUT, hard limit ${LIMIT} s"
timeout --signal=TERM --kill-after=10 "$LIMIT" "$PY" bench/gpu.py --out "$OUT" "$@" 2>&1 \
    | tee "$OUT/gpu_check_console.log"
rc=${PIPESTATUS[0]}
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "gpu_check: killed at the ${LIMIT} s hard limit; marking the unfinished stage in $OUT/gpu_check.json"
    "$PY" bench/gpu.py --out "$OUT" --mark-killed "$LIMIT"
fi
echo "gpu_check: exit $rc; results in $OUT/gpu_check.json"
exit "$rc"
