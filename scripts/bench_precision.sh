#!/usr/bin/env bash
# Half precision: `invscale eval --precision f16` against float32 on the gpt2-small-shaped
# random checkpoint and classification task of the other benchmarks, interleaved repetitions.
# Prints each run's examples/s and peak memory (RSS), the medians and ratios, and how far f16
# moved the numbers: the largest |f16 − f32| loss and total log-prob, and how many
# predictions changed.
#
#   scripts/bench_precision.sh [EXAMPLES=50] [REPETITIONS=3]      (BACKEND=wgpu for the GPU)
#
# Needs the venv of scripts/requirements-fixtures.txt at .venv; the checkpoint is generated
# on demand under $BENCH_DIR (default /tmp/invscale-bench), never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-50}"
repetitions="${2:-3}"
backend="${BACKEND:-cpu}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
source scripts/bench_inputs.sh

if [ "$backend" = cpu ]; then cargo build --release --quiet --no-default-features; else cargo build --release --quiet; fi
"$py" - "$CARGO_TARGET_DIR/release/invscale" "$task" "$bench/gpt2" "$bench/precision" "$examples" "$repetitions" "$backend" <<'PY'
import csv, os, statistics, subprocess, sys, time
invscale, task, model, out, examples, repetitions, backend = sys.argv[1:]
examples, repetitions = int(examples), int(repetitions)
runs = {"f32": [], "f16": []}
for rep in range(1, repetitions + 1):
    for precision in runs:
        start = time.perf_counter()
        child = subprocess.Popen([invscale, "eval", "--task", task, "--model", model, "--out", f"{out}/{precision}",
                                  "--backend", backend, "--precision", precision], stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak memory
        seconds = time.perf_counter() - start
        if status != 0:
            sys.exit(f"invscale eval --precision {precision} failed")
        runs[precision].append((examples / seconds, usage.ru_maxrss / 1024))
        print(f"repetition {rep}: {precision} {examples / seconds:.3f} examples/s, peak RSS {usage.ru_maxrss / 1024:.0f} MiB (wall time, load included)")
speed = {p: statistics.median(s for s, _ in r) for p, r in runs.items()}
memory = {p: statistics.median(m for _, m in r) for p, r in runs.items()}
print(f"median ({backend}): f32 {speed['f32']:.3f} examples/s, {memory['f32']:.0f} MiB; "
      f"f16 {speed['f16']:.3f} examples/s, {memory['f16']:.0f} MiB; "
      f"speed f16/f32 {speed['f16'] / speed['f32']:.2f}x, memory f16/f32 {memory['f16'] / memory['f32']:.2f}x")
full = list(csv.DictReader(open(f"{out}/f32/gpt2.csv")))
half = list(csv.DictReader(open(f"{out}/f16/gpt2.csv")))
worst = {k: max(abs(float(a[k]) - float(b[k])) for a, b in zip(full, half)) for k in ("loss", "total_logprob")}
changed = sum(a["predicted"] != b["predicted"] for a, b in zip(full, half))
print(f"f16 vs f32: max |loss diff| {worst['loss']:.2e}, max |total_logprob diff| {worst['total_logprob']:.2e}, "
      f"predictions changed {changed} of {len(full)}")
PY
