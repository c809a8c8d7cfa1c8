#!/usr/bin/env bash
# Browser benchmark: the web app against transformers.js in headless Chromium, on the same
# random checkpoint (gpt2-small-shaped unless MODEL says) and classification task: the app on
# WebGPU (SwiftShader here) vs transformers.js on WebGPU, and the app's CPU fallback vs
# transformers.js on WASM.
# Repetitions interleave the two; prints each run (scoring and load times, memory), the median
# examples/s, the ratio app / transformers.js and how far their class log-probs differ
# (tests/e2e/bench_app.mjs says what each number is). It runs on two tasks, as
# scripts/bench_native.sh does: one whose examples share no text, and one made from a template.
#
#   [BACKENDS=webgpu,cpu] [TASKS="task template"] [MODEL=gpt2] scripts/bench_browser.sh [EXAMPLES=100] [REPETITIONS=3]
#
# MODEL is the gpt2-small-shaped benchmark checkpoint (`gpt2`) or a fixture of
# tests/fixtures/models (e.g. `tiny-hub`, 2 layers of width 8: a pass there is all per-pass
# cost, which is what an emulated GPU can say something about).
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
model="${MODEL:-gpt2}"
models="$bench"
[ "$model" = gpt2 ] || models=tests/fixtures/models
[ -f "$models/$model/config.json" ] || { echo "no model $model in $models" >&2; exit 2; }
[ -f "$bench/$model-onnx/onnx/model.onnx" ] || "$py" scripts/export_onnx.py "$models/$model" "$bench/$model-onnx"
(cd tests/e2e/transformersjs && npm ci --ignore-scripts --no-audit --no-fund --silent)
trunk build --release
for name in ${TASKS:-task template}; do
  echo "== $name: $bench/$name-$examples.csv, $model"
  node tests/e2e/bench_app.mjs "$models" "$model" "$bench/$name-$examples.csv" "${BACKENDS:-webgpu,cpu}" "$repetitions" "$bench/$model-onnx" "$bench/$name-$examples.json"
done
