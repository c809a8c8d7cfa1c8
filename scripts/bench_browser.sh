#!/usr/bin/env bash
# Browser benchmark: the web app in headless Chromium scoring a gpt2-small-shaped random
# checkpoint on WebGPU (SwiftShader here) and on the CPU fallback. Prints time per example,
# load time and memory (tests/e2e/bench_app.mjs says what each number is).
#
#   scripts/bench_browser.sh [EXAMPLES=100]
#
# Needs the venv of scripts/requirements-fixtures.txt at .venv (see scripts/make_fixtures.py)
# and scripts/setup.sh. The checkpoint (~500 MB) and task are generated on demand under
# $BENCH_DIR (default /tmp/invscale-bench), never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-100}"
bench="${BENCH_DIR:-/tmp/invscale-bench}"
py=.venv/bin/python
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"

[ -f "$bench/gpt2/model.safetensors" ] || "$py" scripts/make_bench_model.py "$bench/gpt2" --shape gpt2
[ -f "$bench/task.csv" ] || "$py" scripts/make_bench_task.py "$bench/task.csv" --examples 200
"$py" - "$bench/task.csv" "$examples" "$bench/task-$examples.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
csv.writer(open(sys.argv[3], "w", newline=""), lineterminator="\n").writerows(rows[: int(sys.argv[2]) + 1])
PY
trunk build --release
node tests/e2e/bench_app.mjs "$bench" gpt2 "$bench/task-$examples.csv"
