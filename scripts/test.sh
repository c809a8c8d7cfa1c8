#!/usr/bin/env bash
# Runs every test: the gates (rustfmt, clippy with warnings denied, the JS checker, no import
# cycle among the page's modules), the Rust tests (unit, parity against the reference on CPU and
# wgpu, the official pipeline's file format, tokenizer, parser errors and fuzzing, CLI), then the
# web app: its build, the type check of its modules, and the browser test (headless Chromium
# with WebGPU).
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

# Clippy lints our crate, warnings denied, while the tests and the web app build, as
# `cargo clippy` does (its driver as the workspace's compiler) but sharing their builds: a
# separate check build of every dependency, native and wasm32, took ~13 min cold.
export RUSTC_WORKSPACE_WRAPPER="${RUSTC_WORKSPACE_WRAPPER-clippy-driver}"
export CLIPPY_ARGS="${CLIPPY_ARGS--D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__}"

step "gates: rustfmt, the JS checker, no import cycle among the page's modules"
cargo fmt --check
tests/e2e/node_modules/.bin/eslint -c tests/e2e/eslint.config.mjs src/web/*.js scripts/*.mjs tests/e2e/*.mjs tests/e2e/transformersjs/*.mjs
node scripts/import_cycles.mjs src/web

step "Rust tests (and clippy on the native targets)"
# The fuzzers' address-space limit (KiB): room for the test binary and its threads; every case
# is small, so a case that reserves more is a reader that trusted a size it should have checked.
FUZZ_MEMORY_KIB="${FUZZ_MEMORY_KIB:-$((4 * 1024 * 1024))}"
# --nocapture shows the parity tests' max errors.
cargo test --locked -- --nocapture --skip checkpoint_fuzz:: --skip parser_fuzz::
# The fuzzers apart, under a memory limit: a hostile file is refused, never given what the
# machine has (an allocation past the limit fails the test).
(ulimit -v "$FUZZ_MEMORY_KIB" && cargo test --locked --test suite -- checkpoint_fuzz:: parser_fuzz::)

# The built-in tasks are what their generator writes.
python3 scripts/make_builtin_tasks.py --check

step "the web app: release build (and clippy on wasm32), the page's type check, then the browser test"
trunk build --release
# Against the module's declaration the build just wrote (dist/invscale-web.d.ts).
tests/e2e/node_modules/.bin/tsc -p src/web/tsconfig.json
E2E_OUT="$CARGO_TARGET_DIR/e2e" node --test --test-concurrency=1 tests/e2e/app.test.mjs
echo "browser test screenshot: $CARGO_TARGET_DIR/e2e/app.png"
step "done"
