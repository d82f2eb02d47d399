#!/usr/bin/env bash
# Builds headroom's release artefacts into dist/:
#   headroom-VERSION-x86_64-linux-gnu.tar.gz   the binary and everything below, as files
#   headroom_VERSION-1_amd64.deb               Debian, Ubuntu, UOS, Kylin (apt/dpkg)
#   headroom-VERSION-1.x86_64.rpm              RHEL/CentOS 7+, openEuler, Kylin V10 (yum/dnf)
# The binary needs glibc 2.17 or later (CentOS 7; every OS these clouds' management hosts run):
# it is linked by zig against glibc 2.17's symbols (cargo-zigbuild), and this script fails if it
# references a newer symbol version.
#
# Tools, installed when missing and kept for the next run: zig from the PyPI package `ziglang`
# and cargo-zigbuild from crates.io (both under /opt/headroom-tools, pinned), dpkg-deb (Debian),
# rpmbuild (Debian's `rpm` package).
#
# Usage: scripts/package.sh            (HEADROOM_PACKAGE_PROFILE=release by default)
set -euo pipefail
cd "$(dirname "$0")/.."

ZIGLANG_VERSION=0.17.1
ZIGBUILD_VERSION=0.24.1
TOOLS=/opt/headroom-tools
TARGET=x86_64-unknown-linux-gnu
GLIBC=2.17
PROFILE="${HEADROOM_PACKAGE_PROFILE:-release}"

sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo mkdir -p "$TOOLS"
if ! PYTHONPATH="$TOOLS/python" python3 -m ziglang version 2>/dev/null | grep -qx "${ZIGLANG_VERSION%%.post*}"; then
  echo "== installing zig (PyPI ziglang $ZIGLANG_VERSION) into $TOOLS/python"
  $sudo python3 -m pip install --quiet --disable-pip-version-check --upgrade --target "$TOOLS/python" "ziglang==$ZIGLANG_VERSION"
fi
if [ ! -x "$TOOLS/bin/cargo-zigbuild" ] || ! "$TOOLS/bin/cargo-zigbuild" --version | grep -q "$ZIGBUILD_VERSION"; then
  echo "== installing cargo-zigbuild $ZIGBUILD_VERSION into $TOOLS"
  # --debug: 49 s to build instead of about 3 min on 2 cores; its speed does not matter (it
  # only starts zig).
  $sudo cargo install --quiet --debug --locked --version "$ZIGBUILD_VERSION" --root "$TOOLS" cargo-zigbuild
fi
if ! command -v rpmbuild >/dev/null 2>&1; then
  echo "== installing rpmbuild (Debian package rpm)"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq rpm >/dev/null
fi
command -v dpkg-deb >/dev/null || { echo "dpkg-deb is missing (a Debian system has it)" >&2; exit 1; }
export PATH="$TOOLS/bin:$PATH"
# cargo-zigbuild runs zig as `python3 -m ziglang`, which finds the package here.
export PYTHONPATH="$TOOLS/python${PYTHONPATH:+:$PYTHONPATH}"

# A target folder of its own, so a `cargo test` running meanwhile (scripts/test.sh) does not
# wait on this build's lock, nor this one on its.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/package"
echo "== building headroom for $TARGET with glibc $GLIBC ($PROFILE profile)"
cargo zigbuild --quiet --locked --profile "$PROFILE" --target "$TARGET.$GLIBC"
dir="$PROFILE"; [ "$PROFILE" = dev ] && dir=debug
bin="$CARGO_TARGET_DIR/$TARGET/$dir/headroom"
highest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n -u | tail -1)
if [ "$(printf '%s\n%s\n' "$highest" "$GLIBC" | sort -t. -k1,1n -k2,2n | tail -1)" != "$GLIBC" ]; then
  echo "error: $bin needs GLIBC_$highest, above $GLIBC" >&2
  exit 1
fi
echo "   highest glibc symbol version: GLIBC_$highest"

version=$("$bin" --version | awk '{print $2}')
release=1
rm -rf dist/stage dist/rpmbuild
mkdir -p dist
stage=dist/stage/root
doc=$stage/usr/share/doc/headroom
share=$stage/usr/share/headroom
install -Dm0755 "$bin" "$stage/usr/bin/headroom"
install -Dm0644 systemd/headroom.service "$stage/usr/lib/systemd/system/headroom.service"
install -d -m0755 "$stage/etc/headroom"
install -d -m0750 "$stage/etc/headroom/secrets"
# The runbook URLs of the shipped alerts point at this README (rules/README.md).
install -Dm0644 README.md "$doc/README.md"
install -Dm0644 METRICS.md "$doc/METRICS.md"
install -Dm0644 rules/README.md "$doc/rules/README.md"
install -Dm0644 dashboards/README.md "$doc/dashboards/README.md"
install -Dm0644 config.example.yaml "$doc/config.example.yaml"
install -Dm0644 web-config.example.yml "$doc/web-config.example.yml"
for f in rules/headroom.rules.yml rules/headroom.alerts.yml rules/tests/*.yml alertmanager/alertmanager.example.yml dashboards/*.json; do
  install -Dm0644 "$f" "$share/$f"
done
install -Dm0755 scripts/install-rules.sh "$share/install-rules.sh"

# A man page from the --help of the binary itself, so it never disagrees with it.
man=$stage/usr/share/man/man1/headroom.1
mkdir -p "$(dirname "$man")"
{
  echo ".TH HEADROOM 1 \"\" \"headroom $version\" \"User Commands\""
  echo ".SH NAME"
  echo "headroom \\- capacity telemetry exporter for private clouds"
  echo ".SH SYNOPSIS"
  echo ".B headroom"
  echo "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR"
  echo ".SH DESCRIPTION"
  echo ".nf"
  "$bin" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
  echo ".fi"
  for cmd in run once check-config hash-password demo simulate; do
    echo ".SH \"headroom $cmd\""
    echo ".nf"
    "$bin" "$cmd" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
    echo ".fi"
  done
  echo ".SH FILES"
  echo ".TP"
  echo "/etc/headroom/config.yaml"
  echo "the configuration (start from /usr/share/doc/headroom/config.example.yaml)"
  echo ".TP"
  echo "/etc/headroom/secrets/"
  echo "passwords, keys and tokens, one per file, group headroom, mode 0640"
  echo ".TP"
  echo "/usr/share/headroom/"
  echo "Prometheus rules, Grafana dashboards, an Alertmanager example"
  echo ".SH SEE ALSO"
  echo "/usr/share/doc/headroom/README.md"
} >"$man"
gzip -9n "$man"

# The tarball: the same tree.
tar -C "$stage" --owner=0 --group=0 -czf "dist/headroom-$version-x86_64-linux-gnu.tar.gz" .

# The .deb.
deb=dist/stage/deb
rm -rf "$deb"; cp -a "$stage" "$deb"
mkdir -p "$deb/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$deb" | cut -f1)
cat >"$deb/DEBIAN/control" <<EOF
Package: headroom
Version: $version-$release
Architecture: amd64
Maintainer: headroom developers <headroom@localhost>
Installed-Size: $size
Depends: libc6 (>= $GLIBC), adduser
Section: net
Priority: optional
Description: capacity telemetry exporter for private clouds
 Polls Huawei ESM / HCS Online, Sangfor SCP, H3C CloudOS and CECSTACK management APIs at
 their documented throughput and exports compute, memory, storage, GPU, IP and quota
 capacity to Prometheus, with Grafana dashboards and alerting rules.
EOF
: >"$deb/DEBIAN/conffiles"
cat >"$deb/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd headroom >/dev/null; then
    adduser --system --group --no-create-home --home /nonexistent --quiet headroom
  fi
  chown root:headroom /etc/headroom/secrets
  chmod 0750 /etc/headroom/secrets
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
  fi
fi
# Not enabled or started: write /etc/headroom/config.yaml first, then
#   systemctl enable --now headroom
exit 0
EOF
cat >"$deb/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop headroom >/dev/null 2>&1 || true
fi
exit 0
EOF
cat >"$deb/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
EOF
chmod 0755 "$deb/DEBIAN/postinst" "$deb/DEBIAN/prerm" "$deb/DEBIAN/postrm"
dpkg-deb --root-owner-group --build "$deb" "dist/headroom_${version}-${release}_amd64.deb" >/dev/null

# The .rpm, from the same tree (nothing is compiled by rpmbuild).
top=$PWD/dist/rpmbuild
mkdir -p "$top"/{BUILD,RPMS,SPECS,SOURCES,SRPMS,BUILDROOT}
cat >"$top/SPECS/headroom.spec" <<EOF
Name: headroom
Version: $version
Release: $release
Summary: Capacity telemetry exporter for private clouds
License: Apache-2.0
BuildArch: x86_64
Requires(pre): shadow-utils
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none

%description
Polls Huawei ESM / HCS Online, Sangfor SCP, H3C CloudOS and CECSTACK management APIs at
their documented throughput and exports compute, memory, storage, GPU, IP and quota
capacity to Prometheus, with Grafana dashboards and alerting rules.

%install
mkdir -p %{buildroot}
cp -a $PWD/$stage/. %{buildroot}/

%pre
getent group headroom >/dev/null || groupadd -r headroom
getent passwd headroom >/dev/null || useradd -r -g headroom -d / -s /sbin/nologin -c "headroom exporter" headroom
exit 0

%post
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi

%preun
if [ \$1 -eq 0 ] && [ -d /run/systemd/system ]; then systemctl stop headroom >/dev/null 2>&1 || :; fi

%postun
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi

%files
%attr(0755,root,root) /usr/bin/headroom
/usr/lib/systemd/system/headroom.service
%dir /etc/headroom
%dir %attr(0750,root,headroom) /etc/headroom/secrets
/usr/share/headroom
%doc /usr/share/doc/headroom
/usr/share/man/man1/headroom.1.gz
EOF
rpmbuild --quiet --define "_topdir $top" --define "_binary_payload w9.gzdio" -bb "$top/SPECS/headroom.spec" >/dev/null
cp "$top"/RPMS/x86_64/headroom-"$version"-"$release".x86_64.rpm dist/
rm -rf dist/stage dist/rpmbuild
echo "== dist/"
ls -l dist/
