#!/usr/bin/env bash
# Runs every check and test of headroom on a fresh Debian machine with Rust: installs Prometheus
# and promtool (Debian package `prometheus`) and Alertmanager (`prometheus-alertmanager`) when
# they are missing, then fmt, clippy (which also checks the benchmarks compile), the release
# packages (scripts/package.sh: the glibc 2.17 binary, .deb, .rpm; tests/packages.rs installs
# and checks them) and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/install-prometheus.sh

echo "== dashboards match their generator"
python3 dashboards/generate.py --check

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== packages (scripts/package.sh)"
./scripts/package.sh
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets 2>&1 | tee "$log"
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
