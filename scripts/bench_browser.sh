#!/usr/bin/env bash
# Browser benchmark: the web app in headless Chromium scoring a gpt2-small-shaped random
# checkpoint on WebGPU (SwiftShader here) and on the CPU fallback. Prints time per example,
# load time and memory (tests/e2e/bench_app.mjs says what each number is).
#
#   [BACKENDS=webgpu,cpu] scripts/bench_browser.sh [EXAMPLES=100]
#
# Needs the venv of scripts/requirements-fixtures.txt at .venv (see scripts/make_fixtures.py)
# and scripts/setup.sh. The checkpoint (~500 MB) and task are generated on demand under
# $BENCH_DIR (default /tmp/invscale-bench), never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-100}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
source scripts/bench_inputs.sh
trunk build --release
node tests/e2e/bench_app.mjs "$bench" gpt2 "$task" "${BACKENDS:-webgpu,cpu}"
