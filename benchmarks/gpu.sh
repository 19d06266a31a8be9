#!/usr/bin/env bash
# Issue 7 on one GPU, once: correctness of relukit.kernels against torch's CUDA ops, then the 2^28 targets
# (forward vs copy bandwidth, forward+backward vs torch eager, bias_act vs relu(x + b)), a block-size sweep
# and `relukit bench --device cuda`. Budget: under 4 minutes on an H100 (most of it Triton compiles).
#
# Run from the repository root:   bash benchmarks/gpu.sh
# The machine has torch + triton (tested for torch 2.11 / triton 3.6, Python 3.12) and no network.
# relukit needs two more wheels, carried in .whl/ (ignored by git); make them here with:
#   pip download array-api-compat==1.16.0 --no-deps -d .whl
#   pip download numpy==2.4.6 --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --no-deps -d .whl
# i.e. .whl/array_api_compat-1.16.0-py3-none-any.whl and
#      .whl/numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
# (numpy is installed only if the machine lacks it). Results: stdout, and JSON under $OUT when set.
# Copy .whl/ along with the working tree to the GPU machine; the whole run needs under 280 s.
# Check the script itself without a GPU first (CPU, tiny sizes, Triton interpreter, ~15 s):
#   TRITON_INTERPRET=1 PYTHONPATH=src .venv/bin/python benchmarks/gpu_bench.py --dry-run
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEPS=${TMPDIR:-/tmp}/relukit-deps
nvidia-smi --query-gpu=name,memory.total,clocks.max.memory --format=csv || true
for module in array_api_compat numpy; do
    if ! "$PYTHON" -c "import $module" 2>/dev/null; then
        "$PYTHON" -m pip install -q --no-index --find-links .whl --target "$DEPS" "${module//_/-}"
    fi
done
export PYTHONPATH="$PWD/src:$DEPS${PYTHONPATH:+:$PYTHONPATH}"
OUT_DIR=${OUT:-/tmp}
timeout 230 "$PYTHON" benchmarks/gpu_bench.py --json "$OUT_DIR/gpu_bench.json"
