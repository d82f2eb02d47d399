#!/usr/bin/env bash
# Runs every check and test of headroom on a fresh Debian machine with Rust: installs promtool
# (Debian package `prometheus`) when it is missing, then fmt, clippy (which also checks the
# benchmarks compile) and the test suite.
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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets 2>&1 | tee "$log"
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
