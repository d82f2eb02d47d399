#!/usr/bin/env bash
# Runs every check and test of headroom on a fresh Debian machine with Rust: installs Prometheus
# and promtool (Debian package `prometheus`) and Alertmanager (`prometheus-alertmanager`) when
# they are missing, then fmt, clippy (which also checks the benchmarks compile) and the test suite.
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

# Alertmanager for the end-to-end alerting test, unpacked the same way. Debian's build reads its
# default notification templates from /usr/share/prometheus/alertmanager, so they go there.
am_templates=/usr/share/prometheus/alertmanager/default.tmpl
if ! command -v prometheus-alertmanager >/dev/null 2>&1 \
   && { [ ! -x /opt/headroom-alertmanager/usr/bin/prometheus-alertmanager ] || [ ! -f "$am_templates" ]; }; then
  echo "== installing Alertmanager (Debian package prometheus-alertmanager, unpacked without its service)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq prometheus-alertmanager)
  $SUDO mkdir -p /opt/headroom-alertmanager /usr/share/prometheus/alertmanager
  $SUDO dpkg -x "$tmp"/prometheus-alertmanager_*.deb /opt/headroom-alertmanager
  $SUDO cp /opt/headroom-alertmanager/usr/share/prometheus/alertmanager/*.tmpl /usr/share/prometheus/alertmanager/
  rm -rf "$tmp"
fi
if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  export PATH="/opt/headroom-alertmanager/usr/bin:$PATH"
fi
prometheus-alertmanager --version 2>&1 | head -1

echo "== dashboards match their generator"
python3 dashboards/generate.py --check

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
