#!/usr/bin/env bash
# Runs every check and test of headroom on a fresh Debian machine with Rust: installs Prometheus
# and promtool (Debian package `prometheus`), Alertmanager (`prometheus-alertmanager`) and
# Chromium (`chromium`, for the status page test) when they are missing, then fmt, clippy (which also checks the benchmarks compile) and the test
# suite, and the release packages (scripts/package.sh: the glibc 2.17 binary, .deb, .rpm),
# which tests/packages.rs installs and checks.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/install-prometheus.sh

# tests/status_page.rs loads the status page in headless Chromium (Debian's `chromium`; about
# 20 s to install, with its libraries).
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (Debian package)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium --version

# The release packages build in the background (their own target folder) while the checks and
# the suite run: on two cores the suite spends much of its time waiting on Prometheus.
package_log=$(mktemp)
log=$(mktemp)
setsid ./scripts/package.sh >"$package_log" 2>&1 &
packaging=$!
# On any exit, the packaging build (its whole process group) stops too.
trap 'kill -- -"$packaging" 2>/dev/null || true; rm -f "$log" "$package_log"' EXIT

echo "== dashboards match their generator"
python3 dashboards/generate.py --check

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --all-targets 2>&1 | tee "$log"
echo "== packages (scripts/package.sh, built while the tests ran)"
if ! wait "$packaging"; then
  cat "$package_log"
  echo "scripts/package.sh failed" >&2
  exit 1
fi
tail -5 "$package_log"
cargo test --test packages 2>&1 | tee -a "$log"
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
