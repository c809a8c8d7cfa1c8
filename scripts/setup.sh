#!/usr/bin/env bash
# Installs what building and testing invscale needs on a fresh Debian machine. Idempotent:
# each step is skipped when its tool is already there.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Vulkan for the native wgpu backend (lavapipe runs it on the CPU where there is no GPU).
if ! dpkg -s mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1
fi

command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust with rustup first" >&2; exit 1; }
