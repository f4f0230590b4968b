#!/usr/bin/env bash
# Open the resident's screen in Chromium's kiosk mode (systemd/carebot-screen.service runs this as the desktop user).
#
# The display is the desktop session's: Wayland when WAYLAND_DISPLAY is set or XDG_RUNTIME_DIR holds labwc's
# wayland-0 or wayfire's wayland-1, else X11 (DISPLAY, :0 by default).
# --wait-for-display: only wait up to a minute for that display's socket (the unit runs this before it sets up
# its sandbox, which can bind in only a socket that is already there) and for the robot's own screen server on
# the page's port (not another user's process that took it); exit 1 if either does not come.
#
# The page needs the screen key, which the robot writes to CAREBOT_SCREEN_KEY_FILE (mode 0640, group carebot).
# It is handed over in the address fragment, which a browser never sends to a server, through a launcher
# file private to this user: the key never appears on a command line, where every process could read it.
#
# CAREBOT_SCREEN_HEADLESS=1 (tests only; there is no display on a build machine): the same profile and
# flags, headless at 800x480, with DevTools on a loopback port that Chromium writes to the profile's
# DevToolsActivePort file, so that a test can drive this very browser. Never set it on a robot: anything
# on the robot that can reach that port can drive the screen.
set -euo pipefail
url="${CAREBOT_SCREEN_URL:-http://127.0.0.1:8090/}"
key_file="${CAREBOT_SCREEN_KEY_FILE:-/run/carebot/screen.key}"
# The unit's RuntimeDirectory= (in RAM, 0700, removed when the unit stops), else the user's runtime directory.
run_dir="${RUNTIME_DIRECTORY:-${XDG_RUNTIME_DIR:-/tmp/carebot-screen-$(id -u)}}"

# The session's display socket, if it is there: "wayland NAME", "x11", or nothing.
display() {
    local name
    for name in ${WAYLAND_DISPLAY:-wayland-0 wayland-1}; do
        case "$name" in /*) ;; *) name="${XDG_RUNTIME_DIR:-/nonexistent}/$name" ;; esac
        [ -S "$name" ] && { echo "wayland $name"; return; }
    done
    local x="${DISPLAY:-:0}"
    x="${x#*:}"
    [ -S "/tmp/.X11-unix/X${x%%.*}" ] && echo x11
    return 0
}
# Whether the robot's own user (the key file's owner) listens on the page's loopback address and port. Any
# local user may listen on a port above 1023: one that took the screen's port while the robot was down would
# be handed the page's address, key and all. Read from /proc/net as root, outside the unit's sandbox, whose
# user namespace shows every other user as "nobody".
served() {
    local hostport="${url#*://}" owner table address
    hostport="${hostport%%/*}"
    owner="$(stat -c %u "$key_file" 2>/dev/null)" || return 1
    case "$hostport" in
        127.0.0.1:*) table=/proc/net/tcp address=0100007F ;;
        "[::1]:"*) table=/proc/net/tcp6 address=00000000000000000000000001000000 ;;
        *) return 1 ;;
    esac
    awk -v want="$address:$(printf '%04X' "${hostport##*:}")" -v uid="$owner" \
        '$2 == want && $4 == "0A" && $8 == uid { found = 1 } END { exit !found }' "$table"
}
if [ "${1:-}" = --wait-for-display ]; then
    [ -z "${CAREBOT_SCREEN_HEADLESS:-}" ] || exit 0
    for _ in $(seq 120); do
        [ -n "$(display)" ] && served && exit 0
        sleep 0.5
    done
    [ -n "$(display)" ] || { echo "screen-kiosk: no display yet (no Wayland socket in ${XDG_RUNTIME_DIR:-?}, no X socket for ${DISPLAY:-:0}): is the desktop logged in?" >&2; exit 1; }
    echo "screen-kiosk: the robot's user does not listen on $url (is the robot running, with [screen] enabled on that address and port? is another process holding it?)" >&2
    exit 1
fi

browser="$(command -v chromium || command -v chromium-browser)" || { echo "screen-kiosk: chromium is not installed" >&2; exit 1; }

for _ in $(seq 120); do  # the robot makes the key at start: wait up to a minute for it
    [ -r "$key_file" ] && break
    sleep 0.5
done
[ -r "$key_file" ] || { echo "screen-kiosk: cannot read $key_file (is this user in the carebot group?)" >&2; exit 1; }
key="$(tr -dc 'A-Za-z0-9_-' < "$key_file")"

mkdir -p -m 0700 "$run_dir"
# The fallback under /tmp could have been made first by another user, to read or swap the launcher or the profile.
[ -d "$run_dir" ] && [ ! -L "$run_dir" ] && [ -O "$run_dir" ] || {
    echo "screen-kiosk: $run_dir is not this user's own directory: refusing to put the screen key there" >&2; exit 1; }
chmod 0700 "$run_dir"
launcher="$run_dir/carebot-screen.html"
umask 0077
printf '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s#key=%s"><title>CareBot</title>\n' \
    "$url" "$key" > "$launcher"
# The unit hides the home directory: caches (Mesa's shaders, fontconfig) and settings go to RAM with the profile.
export XDG_CACHE_HOME="$run_dir/cache" XDG_CONFIG_HOME="$run_dir/config"

if [ -n "${CAREBOT_SCREEN_HEADLESS:-}" ]; then
    mode=(--headless=new --window-size=800,480 --remote-debugging-address=127.0.0.1 --remote-debugging-port=0)
else
    read -r kind socket <<< "$(display)" || true
    if [ "$kind" = wayland ]; then
        # labwc, wayfire. Chromium's own guess looks at XDG_SESSION_TYPE, which a service does not have.
        export WAYLAND_DISPLAY="$socket"
        mode=(--kiosk --ozone-platform=wayland)
    else
        export DISPLAY="${DISPLAY:-:0}"
        mode=(--kiosk)  # X11
    fi
fi
# A minimal profile for one local page: incognito (no history, cookies or disk cache are kept); no
# extensions, sync, component updates, background fetches or first-run dialogs (the robot has no internet
# and must not try); no translation, pinch or swipe navigation; and V8 without its JIT, because the unit
# forbids writable executable memory (the page is a few hundred lines of script and needs no WebAssembly).
exec "$browser" "${mode[@]}" --incognito --noerrdialogs --disable-infobars --no-first-run --no-default-browser-check \
    --disable-extensions --disable-sync --disable-background-networking --disable-component-update \
    --disable-default-apps --disable-translate --js-flags=--jitless \
    --disable-features=Translate,TouchpadOverscrollHistoryNavigation,MediaRouter --overscroll-history-navigation=0 \
    --disable-pinch --check-for-update-interval=31536000 --password-store=basic \
    --user-data-dir="$run_dir/chromium" "file://$launcher"
