#!/usr/bin/env bash
# Runs every check and test of headroom on a fresh Debian machine with Rust: installs promtool
# (Debian package `prometheus`) when it is missing, then fmt, clippy and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1 && [ ! -x /opt/headroom-prometheus/usr/bin/promtool ]; then
  echo "== installing promtool (Debian package prometheus, unpacked without its service)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq prometheus)
  $SUDO mkdir -p /opt/headroom-prometheus
  $SUDO dpkg -x "$tmp"/prometheus_*.deb /opt/headroom-prometheus
  rm -rf "$tmp"
fi
if ! command -v promtool >/dev/null 2>&1; then
  export PATH="/opt/headroom-prometheus/usr/bin:$PATH"
fi
promtool --version | head -1

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --all-targets
echo "== cargo bench --no-run (benchmarks still build)"
cargo bench --no-run --quiet
