# Sourced by scripts/test.sh and scripts/demo-stack.sh: makes Prometheus, promtool and
# Alertmanager available, installing them from Debian's packages when they are missing. The
# packages are unpacked under /opt/headroom-* (no service is installed or started) and their
# bin folders put on PATH. Debian's Alertmanager reads its default notification templates from
# /usr/share/prometheus/alertmanager, so they are copied there.

headroom_unpack_deb() { # package, target folder
  echo "== installing $1 (Debian package, unpacked without its service)"
  local sudo="" tmp
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "$1")
  $sudo mkdir -p "$2"
  $sudo dpkg -x "$tmp"/"$1"_*.deb "$2"
  rm -rf "$tmp"
}

if ! command -v promtool >/dev/null 2>&1 && [ ! -x /opt/headroom-prometheus/usr/bin/promtool ]; then
  headroom_unpack_deb prometheus /opt/headroom-prometheus
fi
if ! command -v promtool >/dev/null 2>&1; then
  export PATH="/opt/headroom-prometheus/usr/bin:$PATH"
fi
promtool --version | head -1

if ! command -v prometheus-alertmanager >/dev/null 2>&1 \
   && { [ ! -x /opt/headroom-alertmanager/usr/bin/prometheus-alertmanager ] \
        || [ ! -f /usr/share/prometheus/alertmanager/default.tmpl ]; }; then
  headroom_unpack_deb prometheus-alertmanager /opt/headroom-alertmanager
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo mkdir -p /usr/share/prometheus/alertmanager
  $sudo cp /opt/headroom-alertmanager/usr/share/prometheus/alertmanager/*.tmpl /usr/share/prometheus/alertmanager/
fi
if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  export PATH="/opt/headroom-alertmanager/usr/bin:$PATH"
fi
prometheus-alertmanager --version 2>&1 | head -1
