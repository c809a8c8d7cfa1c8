#!/usr/bin/env bash
# Installs what building, serving and testing invscale needs on a fresh Debian machine.
# Idempotent: each step is skipped when its tool is already there at the right version.
#   scripts/setup.sh        everything (tests)
#   scripts/setup.sh web    only what building and serving the web app needs
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust with rustup first" >&2; exit 1; }
# The gates in scripts/test.sh: rustfmt and clippy come with rustup's default profile.
if [ "$what" != web ]; then
  command -v clippy-driver >/dev/null && cargo fmt --version >/dev/null 2>&1 ||
    { echo "setup: clippy and rustfmt are missing; add them with: rustup component add clippy rustfmt" >&2; exit 1; }
fi
# A C compiler: `ring` (TLS for the CLI's Hub downloads) and some of Trunk's dependencies build C.
apt_install gcc libc6-dev

# The browser build: the wasm target, Trunk, and wasm-bindgen-cli at exactly the version of
# the wasm-bindgen crate in Cargo.lock (Trunk runs offline and must not download it).
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# Both are built lean: Trunk's own release profile (fat LTO, one codegen unit) took ~22 min on
# 2 cores. Trunk only copies files and runs wasm-bindgen, so it is built unoptimised, without
# debug info, and without its TLS and update check (it runs offline): 6 min cold. wasm-bindgen
# rewrites the ~20 MB module, so it keeps opt-level 1: 4 min cold.
lean=(CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=0)
if ! trunk --version 2>/dev/null | grep -q '0\.21\.14'; then
  env "${lean[@]}" CARGO_PROFILE_RELEASE_OPT_LEVEL=0 cargo install trunk --version 0.21.14 --locked --no-default-features
fi
bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if ! wasm-bindgen --version 2>/dev/null | grep -q "$bindgen_version"; then
  # Not --locked: one of its locked dependencies is no longer on crates.io.
  env "${lean[@]}" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install wasm-bindgen-cli --version "=$bindgen_version"
fi
[ "$what" = web ] && exit 0

# Vulkan for the native wgpu backend (lavapipe runs it on the CPU where there is no GPU);
# Chromium (with WebGPU on SwiftShader) and playwright-core for the browser test.
apt_install mesa-vulkan-drivers libvulkan1 chromium
(cd tests/e2e && npm ci --no-audit --no-fund --silent)
