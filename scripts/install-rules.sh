#!/usr/bin/env bash
# Installs the shipped Prometheus rules into a directory Prometheus loads (`rule_files`), with
# every alert's runbook_url pointing at where the operators read the runbooks.
#
#   scripts/install-rules.sh DEST [--runbook-base URL]
#
# The rules carry runbook_url = file:///usr/share/doc/headroom/rules/README.md#<alert>, where the
# packages install the runbooks. Packages install this script as /usr/share/headroom/install-rules.sh. --runbook-base replaces that base (everything before '#') with
# URL, e.g. the README on your Git server or wiki:
#   scripts/install-rules.sh /etc/prometheus/headroom \
#     --runbook-base https://git.example.com/ops/headroom/blob/main/rules/README.md
# The copies are checked with promtool when it is on PATH, and are written next to their final
# name and renamed, so a Prometheus reloading meanwhile never reads half a file.
set -euo pipefail

usage() { echo "usage: $0 DEST [--runbook-base URL]" >&2; exit 2; }

default_base='file:///usr/share/doc/headroom/rules/README.md'
dest=''
base="$default_base"
while [ $# -gt 0 ]; do
  case "$1" in
    --runbook-base)
      [ $# -ge 2 ] || usage
      base="$2"; shift 2 ;;
    --runbook-base=*) base="${1#--runbook-base=}"; shift ;;
    -h|--help) usage ;;
    -*) echo "$0: unknown option $1" >&2; usage ;;
    *) [ -z "$dest" ] || usage; dest="$1"; shift ;;
  esac
done
[ -n "$dest" ] || usage
case "$base" in
  *'#'*) echo "$0: --runbook-base must not contain '#': the alert's anchor is appended" >&2; exit 2 ;;
  *'"'*|*'\'*|*$'\n'*) echo "$0: --runbook-base must not contain quotes, backslashes or newlines" >&2; exit 2 ;;
  http://*|https://*|file://*) ;;
  *) echo "$0: --runbook-base must be an absolute http(s):// or file:// URL, not '$base'" >&2; exit 2 ;;
esac

# Beside this script in the packages (/usr/share/headroom/rules), one folder up in the repository.
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/rules"
[ -f "$src/headroom.rules.yml" ] || src="$(dirname "$here")/rules"
mkdir -p "$dest"
for f in headroom.rules.yml headroom.alerts.yml; do
  tmp="$dest/.$f.tmp"
  # A literal replace: awk's index/substr, so no character of the URL is a pattern.
  awk -v from="$default_base#" -v to="$base#" '{
    out = ""
    while ((i = index($0, from)) > 0) { out = out substr($0, 1, i - 1) to; $0 = substr($0, i + length(from)) }
    print out $0
  }' "$src/$f" >"$tmp"
  if command -v promtool >/dev/null 2>&1; then
    promtool check rules "$tmp" >/dev/null || { rm -f "$tmp"; echo "$0: promtool rejects $f" >&2; exit 1; }
  fi
  mv "$tmp" "$dest/$f"
done
echo "installed headroom.rules.yml and headroom.alerts.yml in $dest (runbooks at $base)"
