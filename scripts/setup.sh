#!/usr/bin/env bash
# Set up CareBot on Debian / Raspberry Pi OS: system packages, then a virtualenv.
# Usage: scripts/setup.sh [VENV_DIR]      (called by `make run` and `make test`)
set -euo pipefail
venv="${1:-.venv}"

# alsa-utils: aplay speaks on the sound card, arecord is the robot's microphone
# chromium: the resident's screen in kiosk mode, and the browser tests (Playwright drives this binary)
# fonts-noto-cjk: Korean on the screen
# openssl: the local broker's TLS certificates (scripts/broker-setup.sh, make run's scenario)
# poppler-utils: the printed care-home sheets are checked to fit one page (scripts/print_sheets.py)
# tmux: the live view's test types into it and reads its screen (tests/test_live_view.py)
packages=(python3 python3-venv python3-dev espeak-ng libespeak-ng1 alsa-utils mosquitto mosquitto-clients libspeexdsp1
          chromium fonts-dejavu-core fonts-noto-cjk poppler-utils openssl tmux)
# npm: fetches axe-core, the accessibility checker the screen's browser tests run (only when npm is absent:
# a nodejs from elsewhere ships its own npm)
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python="$(command -v python3)"
if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating virtualenv $venv"
    "$python" -m venv "$venv"
fi
echo "setup: installing CareBot and its dependencies into $venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[dev]"
# axe-core for the screen's accessibility test, pinned, into the virtualenv (never the source tree). Offline
# this is skipped when it is there already, and npm's cache serves a reinstall; the test says so if it is missing.
axe="$venv/share/axe"
if [ ! -f "$axe/node_modules/axe-core/axe.min.js" ]; then
    echo "setup: installing axe-core into $axe"
    npm install --prefix "$axe" axe-core@4.14.1 --no-audit --no-fund --prefer-offline --silent \
        || echo "setup: WARNING: could not install axe-core (offline?): the screen's accessibility test will skip"
fi
echo "setup: done. carebot is $venv/bin/carebot"
