#!/usr/bin/env bash
# Install CareBot on a Raspberry Pi OS (bookworm) board, from this checkout. Run it again to
# upgrade: it is idempotent, and it never overwrites the config or touches the state.
#
#   sudo scripts/install.sh [--root DIR] [--skip-system] [--skip-venv] [--screen-user NAME]
#
# What it does, in order:
#   1. system packages (apt-get): Python, espeak-ng, ALSA tools, libspeexdsp, picamera2 where offered
#   2. a `carebot` system user in the dialout, audio and video groups (no login, no home of its own)
#   3. /opt/carebot: the dialog packs, README and example configs, and a virtualenv in
#      /opt/carebot/venv with CareBot installed in it (with the system's site packages, for picamera2);
#      /usr/local/bin/carebot links to its command
#   4. /etc/carebot (root:carebot, 0750): carebot.toml from config/robot.example.toml and
#      carebot-sim.toml for the simulator, each only if missing; secret files in it are made
#      readable by the carebot user only (0600); /var/lib/carebot (0700) for the state
#   5. the services: carebot.service (enabled) and carebot-sim.service (the simulator; not enabled), and
#      carebot-screen.service, the resident's screen, run as the desktop user who owns the display (enabled
#      when there is one: --screen-user NAME, else the user named before, else lightdm's autologin-user,
#      else the user with UID 1000, Raspberry Pi OS's first user)
#   6. a udev rule giving the Pololu Maestro a stable name, /dev/carebot-servo
#   7. a journald drop-in that bounds the logs kept on the SD card
#
# --root DIR (or DESTDIR=DIR) installs into DIR instead of /, for packaging and tests.
# --skip-system records, instead of running, what changes the running system: apt-get, useradd,
#   chown, systemctl, udevadm. The commands are printed and written to
#   ROOT/opt/carebot/install-skipped.txt. Implied by a --root other than /.
# --skip-venv records the virtualenv step instead of running it (it needs PyPI and minutes).
# --screen-user NAME: the desktop user whose display shows the resident's screen (see 5).
set -euo pipefail
# shellcheck source=scripts/paths.sh
. "$(dirname "$0")/paths.sh"

die() { echo "install: $*" >&2; exit 2; }
root="${DESTDIR:-/}"
skip_system=""; skip_venv=""; screen_user=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root|--screen-user) [ $# -ge 2 ] || die "$1 needs a value" ;;&
        --root) root="$2"; shift 2 ;;
        --skip-system) skip_system=1; shift ;;
        --skip-venv) skip_venv=1; shift ;;
        --screen-user) screen_user="$2"; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
src="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$src/pyproject.toml" ] && [ -d "$src/robot" ] || die "run it from a CareBot checkout ($src is not one)"
root="$(mkdir -p "$root" && cd "$root" && pwd -P)"
[ "$root" = / ] || skip_system=1
r="${root%/}"  # prefix for every path: "" on a real install
[ "$root" = / ] && [ "$(id -u)" -ne 0 ] && die "run it as root (sudo), or give --root DIR"

# The paths this script changes, checked before it changes any (scripts/paths.sh).
check_paths

# The desktop user whose display shows the resident's screen (see 5), found before anything is changed.
screen_conf="$r/etc/systemd/system/carebot-screen.service.d/user.conf"
if [ -z "$screen_user" ] && [ -f "$screen_conf" ]; then
    screen_user="$(sed -n 's/^User=//p' "$screen_conf")"
fi
if [ -z "$screen_user" ]; then  # lightdm's autologin user (raspi-config sets it), else the first user
    screen_user="$(sed -nE 's/^[[:space:]]*autologin-user[[:space:]]*=[[:space:]]*([^[:space:]#]+).*/\1/p' \
                   "$r/etc/lightdm/lightdm.conf" 2>/dev/null | tail -n 1)" || true
    [ -n "$screen_user" ] || screen_user="$(awk -F: '$3 == 1000 { print $1 }' "$r/etc/passwd" 2>/dev/null)" || true
fi
if [ -n "$screen_user" ]; then
    # From the root's own user list (an image's, under --root): its UID for the runtime directory, its home.
    IFS=: read -r _ _ screen_uid _ _ screen_home _ < <(grep -m1 "^$screen_user:" "$r/etc/passwd" 2>/dev/null) || true
    [[ "$screen_user" =~ ^[a-z_][a-z0-9_-]*$ ]] && [[ "${screen_uid:-}" =~ ^[0-9]+$ ]] && [ "$screen_uid" -ne 0 ] \
        && [[ "${screen_home:-}" =~ ^/[A-Za-z0-9_./-]+$ ]] \
        || die "the screen's user '$screen_user' is no desktop user in $r/etc/passwd (give --screen-user NAME)"
fi

opt="$r/opt/carebot"
mkdir -p "$opt"
skipped="$opt/install-skipped.txt"
rm -f "$skipped"

# Run a command that changes the running system, or record it.
system() {
    if [ -n "$skip_system" ]; then
        echo "install: would run: $*"
        echo "$*" >> "$skipped"
    else
        "$@"
    fi
}

# Install a file with a mode, replacing it only when its content differs.
put() {  # put MODE SOURCE DEST
    local mode="$1" from="$2" to="$3"
    mkdir -p "$(dirname "$to")"
    if ! cmp -s "$from" "$to" 2>/dev/null; then
        install -m "$mode" "$from" "$to"
        echo "install: wrote $to"
    fi
    chmod "$mode" "$to"
}

# 1. System packages.
# chromium and fonts: the resident's screen in kiosk mode on the robot's display
packages=(python3 python3-venv python3-dev espeak-ng libespeak-ng1 alsa-utils libspeexdsp1 ca-certificates
          chromium fonts-dejavu-core fonts-noto-cjk)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=("${packages[@]}")
if [ -z "$skip_system" ]; then
    missing=()
    for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
    if ((${#missing[@]})); then apt-get update -qq; fi
    # the Raspberry Pi camera module's library: offered on Raspberry Pi OS only
    if ! installed python3-picamera2 && apt-cache show python3-picamera2 >/dev/null 2>&1; then
        missing+=(python3-picamera2)
    fi
else
    echo "apt-get update -qq" >> "$skipped"
fi
if ((${#missing[@]})); then
    system env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. The carebot user.
if [ -n "$skip_system" ] || ! id carebot >/dev/null 2>&1; then
    system useradd --system --home-dir /var/lib/carebot --no-create-home --shell /usr/sbin/nologin \
        --user-group --groups dialout,audio,video carebot
fi
[ -n "$skip_system" ] || usermod -a -G dialout,audio,video carebot

# 3. /opt/carebot: what the running robot reads, and the virtualenv.
mkdir -p "$opt/dialogs" "$opt/config"
chmod 755 "$opt" "$opt/dialogs" "$opt/config"
for lang in "$src"/dialogs/*/; do
    lang="$(basename "$lang")"
    put 644 "$src/dialogs/$lang/pack.yaml" "$opt/dialogs/$lang/pack.yaml"
    put 644 "$src/dialogs/$lang/screen.yaml" "$opt/dialogs/$lang/screen.yaml"  # the resident's screen's words
    chmod 755 "$opt/dialogs/$lang"
done
put 644 "$src/README.md" "$opt/README.md"
put 644 "$src/config/robot.example.toml" "$opt/config/robot.example.toml"
put 644 "$src/config/carebot.toml" "$opt/config/carebot.toml"
venv="$opt/venv"
if [ -n "$skip_venv" ]; then
    echo "install: would run: python3 -m venv --system-site-packages $venv && $venv/bin/pip install $src"
    echo "python3 -m venv --system-site-packages $venv" >> "$skipped"
    echo "$venv/bin/pip install $src" >> "$skipped"
else
    # missing, or left half made by a run that was cut off (no pip in it): made afresh, or every later run fails
    "$venv/bin/python" -m pip --version >/dev/null 2>&1 || python3 -m venv --clear --system-site-packages "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q --upgrade "$src"
    echo "install: CareBot $("$venv/bin/carebot" version) in $venv"
fi

# The technician's command, on the PATH.
mkdir -p "$r/usr/local/bin"
ln -sfn /opt/carebot/venv/bin/carebot "$r/usr/local/bin/carebot"

# 4. Config and state. The config is the technician's: written once, never overwritten.
etc="$r/etc/carebot"
mkdir -p "$etc"
chmod 750 "$etc"
system chown root:carebot "$etc"
# Each written whole (a temporary file, then a rename): an install cut off by a power loss leaves no half
# config that later runs would keep. An empty one is such a leftover, never a technician's, and is written.
if [ ! -s "$etc/carebot.toml" ]; then
    cp "$src/config/robot.example.toml" "$etc/carebot.toml.new" && mv -f "$etc/carebot.toml.new" "$etc/carebot.toml"
    echo "install: wrote $etc/carebot.toml (edit it, then: carebot config check /etc/carebot/carebot.toml)"
fi
if [ ! -s "$etc/carebot-sim.toml" ]; then
    # On a board the simulator spares the SD card too: its status file in RAM, its audit log in batches.
    sed -e 's|^state_dir = .*|state_dir = "/var/lib/carebot-sim"|' -e 's|^path = "../dialogs"|path = "/opt/carebot/dialogs"|' \
        -e 's|^\[loop\]$|[loop]\nstatus_file = "/run/carebot-sim/status.json"|' \
        -e 's|^audit_flush_s = .*|audit_flush_s = 1.0|' "$src/config/carebot.toml" > "$etc/carebot-sim.toml.new"
    mv -f "$etc/carebot-sim.toml.new" "$etc/carebot-sim.toml"
    echo "install: wrote $etc/carebot-sim.toml"
fi
chmod 640 "$etc/carebot.toml" "$etc/carebot-sim.toml"
system chown root:carebot "$etc/carebot.toml" "$etc/carebot-sim.toml"
# Secrets: any file here that a config here names with *_file (password_file, site_key_file ...), and
# any *.password or *.key here, for carebot alone. A link is left as it is (chmod would follow it).
named=()
while IFS= read -r file; do
    named+=("$r$file")
done < <(sed -nE 's|^[a-z_]+_file *= *"(/etc/carebot/[^"/]+)".*|\1|p' "$etc"/*.toml 2>/dev/null)
for secret in "$etc"/mqtt-password "$etc"/site-key "$etc"/*.password "$etc"/*.key "${named[@]}"; do
    [ -f "$secret" ] && [ ! -L "$secret" ] || continue
    chmod 600 "$secret"
    system chown carebot:carebot "$secret"
done
for state in "$r/var/lib/carebot" "$r/var/lib/carebot-sim"; do
    mkdir -p "$state"
    chmod 700 "$state"
    system chown carebot:carebot "$state"
done

# 5-7. Services, the udev rule and the journald bounds.
units="$r/etc/systemd/system"
put 644 "$src/systemd/carebot.service" "$units/carebot.service"
put 644 "$src/systemd/carebot-sim.service" "$units/carebot-sim.service"
# The resident's screen: a system unit that runs the browser as the desktop user (README, "On a real robot",
# step 8). It replaces the user unit of earlier installs: one way to run the kiosk, not two.
put 755 "$src/scripts/screen-kiosk.sh" "$opt/scripts/screen-kiosk.sh"
chmod 755 "$opt/scripts"
put 644 "$src/systemd/carebot-screen.service" "$units/carebot-screen.service"
rm -f "$r/etc/systemd/user/carebot-screen.service"
screen_enable=""
if [ -n "$screen_user" ]; then
    mkdir -p "$units/carebot-screen.service.d"
    cat > "$screen_conf.new" <<EOF
# Written by scripts/install.sh: the desktop user who owns the display, as whom the browser runs
# (--screen-user NAME changes it). The list is emptied first: the unit's own names UID 1000's paths.
[Service]
User=$screen_user
Environment=XDG_RUNTIME_DIR=/run/user/$screen_uid XAUTHORITY=$screen_home/.Xauthority
BindReadOnlyPaths=
BindReadOnlyPaths=-/run/user/$screen_uid/wayland-0 -/run/user/$screen_uid/wayland-1 -/tmp/.X11-unix -$screen_home/.Xauthority
EOF
    put 644 "$screen_conf.new" "$screen_conf"
    rm -f "$screen_conf.new"
    screen_enable=1
else
    echo "install: no desktop user found: the resident's screen is installed but not enabled (--screen-user NAME)"
fi
put 644 "$src/config/udev/99-carebot-maestro.rules" "$r/etc/udev/rules.d/99-carebot-maestro.rules"
put 644 "$src/config/journald/carebot.conf" "$r/etc/systemd/journald.conf.d/carebot.conf"
# Reload what runs now, if anything runs: in a chroot (an image being built) nothing does, and
# enabling the unit is all there is to do (the links take effect at first boot).
if [ -n "$skip_system" ] || [ -d /run/systemd/system ]; then
    system udevadm control --reload-rules
    system udevadm trigger --subsystem-match=tty --action=add
    system systemctl daemon-reload
    system systemctl restart systemd-journald
fi
system systemctl enable carebot.service
[ -z "$screen_enable" ] || system systemctl enable carebot-screen.service

echo "install: done. Next: edit /etc/carebot/carebot.toml, put the MQTT password in /etc/carebot/mqtt-password"
echo "install: (then run this again to give it to the carebot user), run carebot selftest, and"
echo "install: systemctl start carebot. The simulator instead: systemctl start carebot-sim."
