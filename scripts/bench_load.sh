#!/usr/bin/env bash
# Loading benchmark: download+load time and peak memory of the web app for gpt2- and
# gpt2-large-shaped random checkpoints (124M and 774M parameters, f32) from a local server
# with the Hub's layout, cold and from the cache, in headless Chromium on WebGPU
# (tests/e2e/bench_load.mjs says what each number is).
#
#   scripts/bench_load.sh [MODEL...]      (default: gpt2 gpt2-large; also gpt2-xl, 6.2 GB)
#
# REPETITIONS (default 3) interleaved repetitions, then the medians. BACKEND=cpu loads into
# the CPU fallback (the weights in the wasm heap); PRECISION=f16 with f16 weights (and the
# cache keeping their f16 copy).
#
# Needs the venv of scripts/requirements-fixtures.txt at .venv and scripts/setup.sh. The
# checkpoints (0.5 and 3.1 GB) are generated on demand under $BENCH_DIR (default
# /tmp/invscale-bench), never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ "${#models[@]}" -gt 0 ] || models=(gpt2 gpt2-large)
examples=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
source scripts/bench_inputs.sh
# One short example: the model must be used, but this measures loading, not scoring.
task="$bench/load-task.csv"
printf ',prompt,classes,answer_index\n0,The capital of France is,"[\x27 Paris\x27, \x27 London\x27]",0\n' > "$task"
for m in "${models[@]}"; do
  [ -f "$bench/$m/model.safetensors" ] || "$py" scripts/make_bench_model.py "$bench/$m" --shape "$m"
done
trunk build --release
node tests/e2e/bench_load.mjs "$bench" "$task" "${models[@]}"
