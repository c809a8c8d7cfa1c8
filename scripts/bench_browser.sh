#!/usr/bin/env bash
# Browser benchmark: the web app against transformers.js in headless Chromium, on the same
# gpt2-small-shaped random checkpoint and classification task: the app on WebGPU (SwiftShader
# here) vs transformers.js on WebGPU, and the app's CPU fallback vs transformers.js on WASM.
# Repetitions interleave the two; prints each run (scoring and load times, memory), the median
# examples/s, the ratio app / transformers.js and how far their class log-probs differ
# (tests/e2e/bench_app.mjs says what each number is).
#
#   [BACKENDS=webgpu,cpu] scripts/bench_browser.sh [EXAMPLES=100] [REPETITIONS=3]
#
# Needs the venv of scripts/requirements-fixtures.txt plus scripts/requirements-bench.txt at
# .venv (see scripts/make_fixtures.py) and scripts/setup.sh. The checkpoint (~500 MB), its ONNX
# export (scripts/export_onnx.py, ~500 MB) and the task are generated on demand under
# $BENCH_DIR (default /tmp/invscale-bench), never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-100}"
repetitions="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
source scripts/bench_inputs.sh
[ -f "$bench/gpt2-onnx/onnx/model.onnx" ] || "$py" scripts/export_onnx.py "$bench/gpt2" "$bench/gpt2-onnx"
(cd tests/e2e/transformersjs && npm ci --ignore-scripts --no-audit --no-fund --silent)
trunk build --release
node tests/e2e/bench_app.mjs "$bench" gpt2 "$task" "${BACKENDS:-webgpu,cpu}" "$repetitions" "$bench/gpt2-onnx" "$bench/task-$examples.json"
