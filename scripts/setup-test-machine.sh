#!/usr/bin/env bash
# Everything the tests need on a fresh Debian machine: Debian's chromium (the guest-page test drives
# it through Playwright; Playwright's own browser download is not used), Debian's mosquitto (the
# fleet tests start their own broker on a loopback port; no service is enabled), systemd's tools
# and python3-venv (the install test runs scripts/install.sh into a temporary root: systemd-sysusers,
# systemd-tmpfiles, systemctl --root, systemd-analyze verify, a venv from Debian's Python), Debian's
# tesseract-ocr (the renderer's lettering reads signs with it), the project with its test extras and
# the face detector's weights (weights.txt).
# Run as root, or with sudo for the apt step.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || [ ! -x /usr/sbin/mosquitto ] || ! command -v systemd-sysusers >/dev/null 2>&1 \
    || ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || ! command -v tesseract >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium mosquitto systemd python3-venv tesseract-ocr >/dev/null
fi
python3 -m pip install -q -c constraints.txt -e '.[test]'
python3 -m pip install -q --no-deps --require-hashes -r weights.txt
