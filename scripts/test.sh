#!/usr/bin/env bash
# Runs every test: unit, parity against the reference (CPU and wgpu), tokenizer, parser
# errors and fuzzing, CLI, and the web app end to end in headless Chromium with WebGPU.
# Installs what they need first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Builds are slow: keep them in a cache outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
# With Vulkan installed, the wgpu parity test must run, not skip.
export INVSCALE_REQUIRE_WGPU="${INVSCALE_REQUIRE_WGPU:-1}"
# Lavapipe holds f16: the half-precision test must run on wgpu too.
export INVSCALE_REQUIRE_WGPU_F16="${INVSCALE_REQUIRE_WGPU_F16:-1}"

# --nocapture shows the parity tests' max errors.
cargo test --locked -- --nocapture

# The built-in tasks are what their generator writes.
python3 scripts/make_builtin_tasks.py --check

# The web app: release build, then the browser test against it.
trunk build --release
E2E_OUT="$CARGO_TARGET_DIR/e2e" node --test --test-concurrency=1 tests/e2e/app.test.mjs
echo "browser test screenshot: $CARGO_TARGET_DIR/e2e/app.png"
