#!/usr/bin/env bash
# A Debian package of the appliance, built with dpkg-deb alone from what scripts/install.sh lays
# down: the venv (Python's minor version and the CPU architecture of this machine: build it on the
# kind of machine it is for, a Pi for a Pi) and the same unit, sysusers, tmpfiles and udev files in
# the package directories. Its maintainer scripts do what install.sh does on the live system.
#   sudo scripts/build-deb.sh [--booth] [-o DIR]     → DIR/printd_VERSION_ARCH.deb (default dist/)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$SRC/dist
STAGE_OPTIONS=()
while [ $# -gt 0 ]; do
    case $1 in
        --booth) STAGE_OPTIONS+=(--booth) ;;
        -o) OUT=${2:?-o needs a directory}; shift ;;
        -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

PYTHON=/usr/bin/python3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PKG=$WORK/pkg
bash "$SRC/scripts/install.sh" --root "$PKG" --stage "${STAGE_OPTIONS[@]}"

# Where a package keeps what install.sh puts in /etc for the admin: /etc stays the admin's to override.
move() { mkdir -p "$PKG/$(dirname "$2")" && mv "$PKG/$1" "$PKG/$2"; }
move etc/systemd/system/printd.service usr/lib/systemd/system/printd.service
move etc/sysusers.d/printd.conf usr/lib/sysusers.d/printd.conf
move etc/tmpfiles.d/printd.conf usr/lib/tmpfiles.d/printd.conf
move etc/udev/rules.d/99-printd.rules usr/lib/udev/rules.d/99-printd.rules
if [ -e "$PKG/etc/sysusers.d/printd-booth.conf" ]; then
    move etc/sysusers.d/printd-booth.conf usr/lib/sysusers.d/printd-booth.conf
    move etc/systemd/system/printd.service.d/booth.conf usr/lib/systemd/system/printd.service.d/booth.conf
fi
move usr/local/bin/printd usr/bin/printd  # a package owns /usr/bin, never /usr/local
find "$PKG/etc" -depth -type d -empty -delete
rmdir "$PKG/usr/local/bin" "$PKG/usr/local"

# The venv was made under the staging root: its scripts name that path. Bytecode is compiled on the
# target by postinst, so tracebacks name /opt/printd and the package stays a third smaller.
grep -rlF "$PKG/opt/printd" "$PKG/opt/printd/bin" "$PKG/opt/printd/pyvenv.cfg" | while read -r file; do
    sed -i "s|$PKG/opt/printd|/opt/printd|g" "$file"
done
find "$PKG/opt/printd" -name __pycache__ -type d -prune -exec rm -rf {} +

VERSION=$("$PKG/opt/printd/bin/python" -c 'import printd; print(printd.__version__)')
ARCH=$(dpkg --print-architecture)
PY=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
mkdir -p "$PKG/DEBIAN"
cat >"$PKG/DEBIAN/control" <<EOF
Package: printd
Version: $VERSION
Architecture: $ARCH
Maintainer: printd <printd@localhost>
Depends: python$PY, libusb-1.0-0, systemd
Recommends: tesseract-ocr
Section: misc
Priority: optional
Installed-Size: $(du -sk "$PKG" | cut -f1)
Description: photos to CP437 text art on Epson receipt printers
 The printd daemon (spool, printers, web page, MQTT, photo booth) in a venv in /opt/printd,
 run by printd.service as user printd.
EOF
echo /etc/printd/printd.yaml >"$PKG/DEBIAN/conffiles"  # dpkg keeps an edited config on upgrade
cat >"$PKG/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
[ "$1" = configure ] || exit 0
systemd-sysusers /usr/lib/sysusers.d/printd*.conf
systemd-tmpfiles --create /usr/lib/tmpfiles.d/printd.conf
chgrp printd /etc/printd/printd.yaml  # secrets live there: the service's group reads it, no one else
# As pip does, a file that does not compile (one meant for another Python) is left as it is.
/opt/printd/bin/python -m compileall -q -j 0 /opt/printd/lib >/dev/null || true
udevadm control --reload 2>/dev/null && udevadm trigger --subsystem-match=usb --action=change || true
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable printd.service
    systemctl restart printd.service
else
    systemctl enable printd.service
fi
EOF
cat >"$PKG/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl stop printd.service || true
fi
if [ "$1" = remove ]; then
    systemctl disable printd.service || true
fi
find /opt/printd -name __pycache__ -type d -prune -exec rm -rf {} +  # postinst's, unknown to dpkg
EOF
cat >"$PKG/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    rm -rf /var/spool/printd  # the jobs go with a purge only; the user printd stays, as Debian's do
fi
[ ! -d /run/systemd/system ] || systemctl daemon-reload
EOF
chmod 0755 "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/prerm" "$PKG/DEBIAN/postrm"

mkdir -p "$OUT"
# zstd: a venv with torch is a gigabyte, which xz takes many minutes over
dpkg-deb --root-owner-group -Zzstd --build "$PKG" "$OUT/printd_${VERSION}_${ARCH}.deb" >/dev/null
echo "build-deb.sh: $OUT/printd_${VERSION}_${ARCH}.deb ($(du -h "$OUT/printd_${VERSION}_${ARCH}.deb" | cut -f1))"
