#!/usr/bin/env bash
# Runs every test: unit, parity against the reference (CPU and wgpu), tokenizer, parser
# errors and fuzzing, CLI. Installs what they need first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Builds are slow: keep them in a cache outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
# With Vulkan installed, the wgpu parity test must run, not skip.
export INVSCALE_REQUIRE_WGPU="${INVSCALE_REQUIRE_WGPU:-1}"

# --nocapture shows the parity tests' max errors.
cargo test --locked -- --nocapture
