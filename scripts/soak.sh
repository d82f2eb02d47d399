#!/usr/bin/env bash
# Chaos soak of the release binary: the four simulators with faults switched on and off,
# SIGHUPs, restarts and 200 concurrent scrapers, for MINUTES (default 10); see scripts/soak.py
# for what it asserts. Exits non-zero on any problem. Not part of the test command (it takes
# minutes by design); run it before a release: `./scripts/soak.sh 10`.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-${SOAK_MINUTES:-10}}"
command -v python3 >/dev/null || { echo "soak.sh needs python3" >&2; exit 2; }
cargo build --release --quiet
exec python3 scripts/soak.py "$PWD/target/release/headroom" "$minutes"
