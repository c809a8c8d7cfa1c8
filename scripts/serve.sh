#!/usr/bin/env bash
# Builds the web app and serves it locally (prints the URL). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh web
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
exec trunk serve --release --address 127.0.0.1 --port "${PORT:-8080}"
