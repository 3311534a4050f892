#!/usr/bin/env bash
# Everything the tests need on a fresh Debian machine: Debian's chromium (the guest-page test drives
# it through Playwright; Playwright's own browser download is not used), Debian's mosquitto (the
# fleet tests start their own broker on a loopback port; no service is enabled) and the project
# with its test extras. Run as root, or with sudo for the apt step.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || [ ! -x /usr/sbin/mosquitto ]; then
    SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium mosquitto >/dev/null
fi
python3 -m pip install -q -c constraints.txt -e '.[test]'
