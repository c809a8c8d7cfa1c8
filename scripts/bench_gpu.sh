#!/usr/bin/env bash
# GPU benchmark, for a machine with a GPU: `invscale eval` on the native wgpu backend, then the
# web app on the browser's WebGPU adapter (headless Chromium on the real GPU), on gpt2- and
# gpt2-large-shaped random checkpoints and the plain and template-made bench tasks. Natively it
# prints examples/s and tokens/s (scoring, loading apart), the passes, the kernels compiled
# (and how far into the run the last was: early, once each bucket's shapes are met) and the
# kernel launches per pass and per example, read from CubeCL's compilation and launch logs (a cubecl.toml in
# the run's directory). The page prints examples/s and the adapter it ran on.
#
#   [FEATURES=fusion,autotune] scripts/bench_gpu.sh [EXAMPLES=100] [MODELS="gpt2 gpt2-large"]
#
# FEATURES builds the CLI with burn's kernel fusion and/or autotuning (off by default) to
# compare them; PROFILE=dev reuses the test build's optimised dependencies (a quicker build);
# INVSCALE=path runs a CLI built elsewhere instead (no cargo needed). MODELS may name any
# checkpoint folder under $BENCH_DIR.
# Needs the venv of scripts/requirements-fixtures.txt at .venv (or PY=a python with torch,
# numpy and tokenizers) and scripts/setup.sh (Chromium, Vulkan); without Chromium, Node.js or
# Trunk it says so and skips the page (PAGE=0 skips it anyway). Checkpoints (gpt2-large's is 3.1 GB) and tasks are generated under $BENCH_DIR
# (default /tmp/invscale-bench). On a machine without a GPU it runs on lavapipe and
# SwiftShader, which emulate one on the CPU: kernel counts are then real, speeds are not.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-100}"
models="${2:-gpt2 gpt2-large}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
source scripts/bench_inputs.sh
for model in $models; do
  [ -f "$bench/$model/model.safetensors" ] || "$py" scripts/make_bench_model.py "$bench/$model" --shape "$model"
done

if [ -n "${INVSCALE:-}" ]; then
  invscale="$(realpath "$INVSCALE")"
else
  profile="${PROFILE:-release}"
  cargo build --profile "$profile" --locked --quiet --features "${FEATURES:-wgpu}"
  invscale="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")/invscale"
fi
gpu="$( (nvidia-smi -L 2>/dev/null || vulkaninfo --summary 2>/dev/null | grep -m1 deviceName) | head -1 | sed 's/^ *//' || true)"
built="${INVSCALE:+$invscale}"
echo "== native wgpu, ${built:-features ${FEATURES:-wgpu}}${gpu:+, $gpu}"
for model in $models; do
  for name in task template; do
    dir="$bench/gpu-$model-$name"
    rm -rf "$dir" && mkdir -p "$dir"
    # CubeCL reads cubecl.toml from the working directory: a line per kernel compiled, a line
    # per kernel launched (no timing, so launches are not serialised).
    printf '[compilation.logger]\nlevel = "basic"\nstderr = true\n[profiling.logger]\nlevel = "minimal"\nstderr = true\n' > "$dir/cubecl.toml"
    if ! (cd "$dir" && "$invscale" eval --task "$bench/$name-$examples.csv" --model "$bench/$model" --out out --backend wgpu 2> log > /dev/null); then
      echo "$model, $name task: invscale eval failed; the end of $dir/log:" && grep -v -E "Executing |\[Compiling kernel\]" "$dir/log" | tail -5
      continue
    fi
    summary=$(grep -E "^$model: [0-9]+ examples in" "$dir/log")
    awk -v model="$model" -v task="$name" -v summary="$summary" '
      /\[Compiling kernel\]/ { compiled++; last = launches }
      /Executing / { launches++ }
      END {
        split(summary, w, " "); examples = w[2]
        match(summary, /in [0-9]+ passes/); passes = substr(summary, RSTART + 3, RLENGTH - 10)
        printf "%s, %s task: %s\n  kernels compiled %d, the last before launch %d of %d (%.0f%%); launches %.1f per pass, %.1f per example\n",
          model, task, summary, compiled, last, launches, 100 * last / launches, launches / passes, launches / examples
      }' "$dir/log"
  done
done

echo "== the page on the browser's WebGPU adapter"
missing="$(for tool in chromium node trunk; do command -v "$tool" > /dev/null || printf ' %s' "$tool"; done)"
if [ "${PAGE:-1}" = 0 ] || [ -n "$missing" ]; then
  if [ -n "$missing" ]; then echo "skipped: not installed here:$missing"; else echo "skipped (PAGE=0)"; fi
  exit 0
fi
trunk build --release
for model in $models; do
  # Without a GPU, Chromium's Vulkan adapter request never answers: the page then waits.
  timeout "${PAGE_TIMEOUT:-1800}" node tests/e2e/bench_app.mjs "$bench" "$model" "$task" gpu 1 ||
    echo "$model: the page did not finish within ${PAGE_TIMEOUT:-1800} s (no WebGPU adapter on Vulkan here?)"
done
