#!/usr/bin/env bash
# Remove CareBot from a board: the services (the resident's screen's too), the udev rule, the journald bounds and /opt/carebot.
# The config (/etc/carebot), the state (/var/lib/carebot: audit log, outbox with any alert not yet
# delivered, models) and the carebot user stay, unless --purge is given.
#
#   sudo scripts/uninstall.sh [--root DIR] [--skip-system] [--purge]
#
# --root DIR (or DESTDIR=DIR) and --skip-system work as in scripts/install.sh: what would change
# the running system (systemctl, udevadm, userdel) is printed instead of run.
set -euo pipefail
# shellcheck source=scripts/paths.sh
. "$(dirname "$0")/paths.sh"

die() { echo "uninstall: $*" >&2; exit 2; }
root="${DESTDIR:-/}"
skip_system=""; purge=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || die "$1 needs a value" ;;&
        --root) root="$2"; shift 2 ;;
        --skip-system) skip_system=1; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ -d "$root" ] || die "no such root: $root"
root="$(cd "$root" && pwd -P)"
[ "$root" = / ] || skip_system=1
r="${root%/}"
[ "$root" = / ] && [ "$(id -u)" -ne 0 ] && die "run it as root (sudo), or give --root DIR"

# The paths this script changes, checked before it changes any (scripts/paths.sh).
check_paths

system() {
    if [ -n "$skip_system" ]; then
        echo "uninstall: would run: $*"
    else
        "$@" || echo "uninstall: '$*' failed; carrying on" >&2
    fi
}

units="$r/etc/systemd/system"
for unit in carebot.service carebot-sim.service carebot-screen.service; do
    if [ -e "$units/$unit" ]; then
        if [ -n "$skip_system" ] || [ -d /run/systemd/system ]; then
            system systemctl disable --now "$unit"
        else
            system systemctl disable "$unit"  # in a chroot: nothing runs to stop
        fi
        rm -f "$units/$unit"
        echo "uninstall: removed $units/$unit"
    fi
done
rm -f "$r/etc/udev/rules.d/99-carebot-maestro.rules" "$r/etc/systemd/journald.conf.d/carebot.conf" \
    "$units/carebot-screen.service.d/user.conf" "$r/etc/systemd/user/carebot-screen.service"  # the last: older installs'
rmdir "$r/etc/systemd/journald.conf.d" "$units/carebot-screen.service.d" 2>/dev/null || true
if [ -n "$skip_system" ] || [ -d /run/systemd/system ]; then
    system systemctl daemon-reload
    system udevadm control --reload-rules
fi
rm -rf "$r/opt/carebot"
[ "$(readlink "$r/usr/local/bin/carebot" 2>/dev/null)" != /opt/carebot/venv/bin/carebot ] || rm -f "$r/usr/local/bin/carebot"
echo "uninstall: removed $r/opt/carebot"

if [ -n "$purge" ]; then
    rm -rf "$r/etc/carebot" "$r/var/lib/carebot" "$r/var/lib/carebot-sim"
    echo "uninstall: purged the config and the state (audit log, outbox, models)"
    if [ -n "$skip_system" ] || id carebot >/dev/null 2>&1; then
        system userdel carebot
    fi
else
    echo "uninstall: kept $r/etc/carebot, $r/var/lib/carebot and the carebot user (--purge removes them)"
fi
