#!/usr/bin/env bash
# The demo with its monitoring stack, all on 127.0.0.1: `headroom demo` (every simulated platform
# and the exporter, :9740), a Prometheus scraping it with the shipped rules (:9090) and an
# Alertmanager receiving its alerts (:9093). Installs Prometheus and Alertmanager from Debian's
# packages when they are missing. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-prometheus.sh

cargo build --release --quiet
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM

./target/release/headroom demo --listen 127.0.0.1:9740 >"$dir/demo.out" 2>"$dir/demo.log" &
for _ in $(seq 100); do
  grep -q "metrics:" "$dir/demo.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "metrics:" "$dir/demo.out" || { cat "$dir/demo.log"; exit 1; }

prometheus-alertmanager --config.file=alertmanager/alertmanager.example.yml --storage.path="$dir/am" \
  --web.listen-address=127.0.0.1:9093 --cluster.listen-address= >"$dir/alertmanager.log" 2>&1 &

cat >"$dir/prometheus.yml" <<YAML
global: {scrape_interval: 15s, evaluation_interval: 15s}
rule_files: ['$PWD/rules/headroom.rules.yml', '$PWD/rules/headroom.alerts.yml']
alerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:9093']}]}]}
scrape_configs:
  - job_name: headroom
    static_configs: [{targets: ['127.0.0.1:9740']}]
YAML
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
  --web.listen-address=127.0.0.1:9090 >"$dir/prometheus.log" 2>&1 &

cat "$dir/demo.out"
cat <<TEXT

  Prometheus (rules, alerts, queries): http://127.0.0.1:9090/alerts
  Alertmanager:                        http://127.0.0.1:9093/
Alerts fire after their 'for:' durations (15 minutes to an hour); the pressure command above
makes one fire. Grafana: add http://127.0.0.1:9090 as a Prometheus data source and import
dashboards/*.json (dashboards/README.md).
TEXT
wait
