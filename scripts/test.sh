#!/usr/bin/env bash
# Runs every test: the gates (rustfmt, clippy, the JS checker), the Rust tests (unit, parity
# against the reference on CPU and wgpu, the official pipeline's file format, tokenizer, parser
# errors and fuzzing, CLI), then the web app end to end in headless Chromium with WebGPU.
# Installs what they need first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Builds are slow: keep them in a cache outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
# With Vulkan installed, the wgpu tests must run, not skip.
export INVSCALE_REQUIRE_WGPU="${INVSCALE_REQUIRE_WGPU:-1}"
# Lavapipe holds f16: the half-precision test must run on wgpu too.
export INVSCALE_REQUIRE_WGPU_F16="${INVSCALE_REQUIRE_WGPU_F16:-1}"

step() { echo "== $1 ($(date +%T))"; }

step "gates: rustfmt, the JS checker"
cargo fmt --check
tests/e2e/node_modules/.bin/eslint -c tests/e2e/eslint.config.mjs src/web/*.js scripts/*.mjs tests/e2e/*.mjs tests/e2e/transformersjs/*.mjs

step "Rust tests"
# --nocapture shows the parity tests' max errors.
cargo test --locked -- --nocapture

# The built-in tasks are what their generator writes.
python3 scripts/make_builtin_tasks.py --check

step "the web app: release build, then the browser test"
trunk build --release
E2E_OUT="$CARGO_TARGET_DIR/e2e" node --test --test-concurrency=1 tests/e2e/app.test.mjs
echo "browser test screenshot: $CARGO_TARGET_DIR/e2e/app.png"

step "gates: clippy, warnings denied (native, wasm32)"
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown --lib --bin invscale-web -- -D warnings
step "done"
