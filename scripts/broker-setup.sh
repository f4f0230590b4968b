#!/usr/bin/env bash
# Generate a mosquitto set-up for one care home: a CA, the broker's TLS certificate, one
# account per robot and per staff station, and an ACL in which a robot may write only its
# own topic tree and read only its own commands, and staff may read the site and send commands.
# Client ids are the account names (use_username_as_clientid), so no account can take over another's
# session: give each robot and each staff station its own account.
#
#   scripts/broker-setup.sh DIR --site SITE --robot ID [--robot ID ...] --staff NAME [--staff NAME ...]
#                           [--host HOSTNAME] [--port 8883] [--bind ADDRESS] [--days 825] [--run-as USER]
#                           [--home-assistant NAME] [--discovery-prefix homeassistant] [--nursecall NAME]
#                           [--bridge HOST:PORT --bridge-dir DIR [--uplink-port PORT] [--bridge-queue 5000]
#                            [--bridge-commands pause,resume,remind,quiet_hours]]
#
# mosquitto started as root switches to the user "mosquitto" (or --run-as USER) before it
# reads the password file and key, so those are given to that user.
#
# --home-assistant NAME adds an account for Home Assistant that may read each robot's `status` and
# `device` topics and the discovery topics, and nothing else: no alert or activity can reach it.
#
# --bridge HOST:PORT links this home to a care group's central broker (scripts/central-setup.sh, or an EMQX
# cluster: docs/fleet.md) over TLS with the home's own client certificate, from --bridge-dir (ca.crt, bridge.crt,
# bridge.key: what central-setup.sh writes to its homes/SITE/). Only this site's tree crosses: status, heartbeat,
# device, activity and the alert lifecycle go up; staff commands for this site's robots come down; nothing else.
#
# The bridge runs in a broker of its own, the uplink (DIR/uplink/mosquitto.conf), never in the home's broker:
# mosquitto 2.0.11 (Debian bookworm, Raspberry Pi OS) busy-loops and stops serving every client within seconds
# when a bridge's TLS handshake is cut short (a central load balancer that accepts and closes), and ignores
# SIGTERM. In the uplink that costs the centre's copy until `carebot fleet uplink-check` kills and restarts it;
# in the home's broker it would cost the home its alerts. The uplink logs in to the home's broker as the account
# "uplink" (ACL: read the upward topics, write the commands), and both its sessions are persistent
# (cleansession false): alerts raised while the link is down wait, at most --bridge-queue messages, and go up
# when it returns. Its state is published (retained, 1 up, 0 down) on carebot/v1/SITE/_bridge/state, here and at
# the centre. Its loopback listener (--uplink-port, default the home port + 1) serves only the health check.
#
# --bridge-commands: the staff commands the centre may send this home's robots (comma-separated), by default
# pause, resume, remind and quiet_hours. Not ack and resolve unless named: an ack tells the resident "help is on
# the way" and stops the home's escalation to its own team, so only a centre that dispatches this home's staff
# may send it. The home's broker enforces the list (the uplink's account may write those commands only).
#
# Writes DIR/mosquitto.conf, passwd, acl, ca.crt, ca.key, server.crt, server.key, and
# DIR/secrets/<account>.password (give each robot its own file; mode 600).
# Then: mosquitto -c DIR/mosquitto.conf
set -euo pipefail
# shellcheck source=scripts/tls.sh
. "$(dirname "$0")/tls.sh"

die() { echo "broker-setup: $*" >&2; exit 2; }
[ $# -ge 1 ] || die "usage: $0 DIR --site SITE --robot ID... --staff NAME... [--host H] [--port P] [--bind A]"
dir="$1"; shift
site=""; host="localhost"; port=8883; bind="0.0.0.0"; days=825; run_as="mosquitto"
robots=(); staff=(); ha=""; prefix="homeassistant"; nursecall=""
bridge=""; bridge_dir=""; bridge_queue=5000; uplink_port=""; bridge_commands="pause,resume,remind,quiet_hours"
while [ $# -gt 0 ]; do
    case "$1" in
        --site) site="$2"; shift 2 ;;
        --robot) robots+=("$2"); shift 2 ;;
        --staff) staff+=("$2"); shift 2 ;;
        --host) host="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --bind) bind="$2"; shift 2 ;;
        --days) days="$2"; shift 2 ;;
        --run-as) run_as="$2"; shift 2 ;;
        --home-assistant) ha="$2"; shift 2 ;;
        --discovery-prefix) prefix="$2"; shift 2 ;;
        --nursecall) nursecall="$2"; shift 2 ;;
        --bridge) bridge="$2"; shift 2 ;;
        --bridge-dir) bridge_dir="$2"; shift 2 ;;
        --bridge-queue) bridge_queue="$2"; shift 2 ;;
        --uplink-port) uplink_port="$2"; shift 2 ;;
        --bridge-commands) bridge_commands="$2"; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
token='^[a-z0-9][a-z0-9_-]{0,31}$'
[[ "$site" =~ $token ]] || die "--site must be a lower-case token, got '$site'"
((${#robots[@]})) || die "name at least one --robot"
for r in "${robots[@]}"; do
    [[ "$r" =~ $token ]] || die "robot id '$r' is not a lower-case token"
    [[ "$r" != staff* ]] || die "robot id '$r' may not start with 'staff'"
    [ "$r" != uplink ] || die "robot id 'uplink' is the bridge's account"
done
for s in "${staff[@]}"; do [[ "$s" =~ ^staff[a-z0-9_-]*$ ]] || die "staff account '$s' must start with 'staff'"; done
if [ -n "$ha" ]; then
    [[ "$ha" =~ $token ]] || die "--home-assistant account '$ha' is not a lower-case token"
    for r in "${robots[@]}"; do [ "$r" != "$ha" ] || die "--home-assistant account '$ha' is also a robot id"; done
fi
if [ -n "$nursecall" ]; then
    [[ "$nursecall" =~ $token ]] || die "--nursecall account '$nursecall' is not a lower-case token"
    [[ "$nursecall" != staff* ]] || die "--nursecall account '$nursecall' may not start with 'staff'"
    for r in "${robots[@]}"; do [ "$r" != "$nursecall" ] || die "--nursecall account '$nursecall' is also a robot id"; done
fi
[[ "$prefix" =~ ^[a-z0-9_-]{1,32}$ ]] || die "--discovery-prefix must be a lower-case token, got '$prefix'"
if [ -n "$bridge" ]; then
    [[ "$bridge" =~ ^[A-Za-z0-9.:-]+:[0-9]{1,5}$ ]] || die "--bridge must be HOST:PORT, got '$bridge'"
    [ -n "$bridge_dir" ] || die "--bridge needs --bridge-dir with ca.crt, bridge.crt and bridge.key"
    for f in ca.crt bridge.crt bridge.key; do
        [ -s "$bridge_dir/$f" ] || die "--bridge-dir $bridge_dir has no $f (scripts/central-setup.sh writes them)"
    done
    [[ "$bridge_queue" =~ ^[0-9]+$ ]] && [ "$bridge_queue" -ge 100 ] || die "--bridge-queue must be 100 or more"
    [ -n "$uplink_port" ] || uplink_port=$((port + 1))
    [[ "$uplink_port" =~ ^[0-9]+$ ]] && [ "$uplink_port" != "$port" ] || die "--uplink-port must be a port other than --port"
    IFS=, read -r -a down <<< "$bridge_commands"
    for c in "${down[@]}"; do
        [[ "$c" =~ ^(ack|resolve|pause|resume|remind|quiet_hours)$ ]] || \
            die "--bridge-commands: '$c' is no command (ack, resolve, pause, resume, remind, quiet_hours)"
    done
fi
command -v mosquitto_passwd >/dev/null || die "mosquitto_passwd not found (apt-get install mosquitto)"

mkdir -p "$dir/secrets"
chmod 700 "$dir/secrets"
dir="$(cd "$dir" && pwd)"
umask 077

# Certificates: a CA for this site, and the broker's certificate for its host name.
tls_ca "$dir" "CareBot CA $site" "$days"
tls_cert "$dir" server "$host" "$days" "subjectAltName=$(tls_server_san "$host")\nextendedKeyUsage=serverAuth\n"

# Accounts: a random password per account, kept in its own file.
: > "$dir/passwd"
accounts=("${robots[@]}" "${staff[@]}")
[ -z "$ha" ] || accounts+=("$ha")
[ -z "$nursecall" ] || accounts+=("$nursecall")
[ -z "$bridge" ] || accounts+=(uplink)
for account in "${accounts[@]}"; do
    secret="$dir/secrets/$account.password"
    [ -s "$secret" ] || openssl rand -hex 24 > "$secret"
    mosquitto_passwd -b "$dir/passwd" "$account" "$(cat "$secret")"
done

# ACL: %u is the connecting account, so each robot is confined to its own tree.
{
    echo "# Generated by scripts/broker-setup.sh for site $site."
    echo "# Robots: write only their own tree, read only their own commands."
    for kind in status heartbeat alert activity device; do
        echo "pattern write carebot/v1/$site/%u/$kind"
    done
    echo "pattern write carebot/v1/$site/%u/alert/+"   # each open alert, retained until it closes
    echo "pattern read carebot/v1/$site/%u/cmd/+"
    echo "pattern write $prefix/+/%u/+/config"
    for s in "${staff[@]}"; do
        echo
        echo "# Staff station $s: read the whole site, send commands, nothing else."
        echo "user $s"
        echo "topic deny carebot/v1/$site/$s/#"   # the robot patterns would let it pose as a robot named $s
        echo "topic read carebot/v1/$site/#"
        echo "topic write carebot/v1/$site/+/cmd/+"
    done
    if [ -n "$ha" ]; then
        echo
        echo "# Home Assistant $ha: robot status entities only; alerts and activity are out of its reach."
        echo "user $ha"
        echo "topic deny carebot/v1/$site/$ha/#"   # the robot patterns would let it pose as a robot named $ha
        echo "topic read carebot/v1/$site/+/status"
        echo "topic read carebot/v1/$site/+/device"
        echo "topic readwrite $prefix/#"
    fi
    if [ -n "$nursecall" ]; then
        echo
        echo "# Nurse-call gateway $nursecall: reads the site's alerts like a staff station; writes only its own"
        echo "# status and fault alerts, like a robot (the patterns above); sends no commands."
        echo "user $nursecall"
        echo "topic read carebot/v1/$site/+/alert"
        echo "topic read carebot/v1/$site/+/alert/+"
    fi
    if [ -n "$bridge" ]; then
        echo
        echo "# The uplink to the care group's centre: reads the upward topics, writes commands and its state."
        echo "user uplink"
        echo "topic deny carebot/v1/$site/uplink/#"   # the robot patterns would let it pose as a robot named uplink
        for kind in status heartbeat device activity alert; do
            echo "topic read carebot/v1/$site/+/$kind"
        done
        echo "topic read carebot/v1/$site/+/alert/+"
        for c in "${down[@]}"; do echo "topic write carebot/v1/$site/+/cmd/$c"; done   # --bridge-commands
        echo "topic write carebot/v1/$site/_bridge/state"
    fi
} > "$dir/acl"

cat > "$dir/mosquitto.conf" <<CONF
# Generated by scripts/broker-setup.sh for site $site.
user $run_as
per_listener_settings false
allow_anonymous false
password_file $dir/passwd
acl_file $dir/acl
listener $port $bind
protocol mqtt
# The client id is the account name: no account can take over another's session (and knock a robot
# off the broker) by connecting with its client id. One session per account: a second login takes over.
# (A listener setting: it must follow the listener line.)
use_username_as_clientid true
cafile $dir/ca.crt
certfile $dir/server.crt
keyfile $dir/server.key
tls_version tlsv1.2
max_packet_size 65536
max_inflight_messages 20
persistence true
persistence_location $dir/data/
# Save on every change, not every 30 minutes: after a power cut a console started later must still see
# each open alert (retained) and a nurse station's queued messages. A care home's broker is small.
autosave_on_changes true
autosave_interval 1
CONF
if [ -n "$bridge" ]; then
    # What waits for the uplink while it is down or restarting (QoS 1 messages). The setting is every client's,
    # the staff stations' and the nurse-call gateway's too: never below mosquitto's own 1000 for them.
    printf '\n# What waits for a client (the uplink, a staff station) while it is away (QoS 1 messages).\nmax_queued_messages %s\n' \
        "$((bridge_queue > 1000 ? bridge_queue : 1000))" >> "$dir/mosquitto.conf"
    up="$dir/uplink"
    mkdir -p "$up/data"
    chmod 755 "$up"
    cp "$bridge_dir/ca.crt" "$up/central-ca.crt"
    cp "$bridge_dir/bridge.crt" "$bridge_dir/bridge.key" "$up/"
    chmod 644 "$up/central-ca.crt" "$up/bridge.crt"
    secret="$dir/secrets/health.password"
    [ -s "$secret" ] || openssl rand -hex 24 > "$secret"
    : > "$up/passwd"
    mosquitto_passwd -b "$up/passwd" health "$(cat "$secret")"
    printf '# Generated by scripts/broker-setup.sh: the health check may read the uptime, nothing else.\nuser health\ntopic read $SYS/broker/uptime\n' > "$up/acl"
    chmod 644 "$up/acl"
    p="carebot/v1/$site/"
    # crossing PREFIX UP DOWN: the bridge topic lines, the same for both connections: what goes up to the
    # centre (heartbeats at QoS 0, the rest at QoS 1) and the commands that come down (--bridge-commands).
    crossing() {
        local kind
        for kind in status heartbeat device activity alert alert/+; do
            echo "topic +/$kind $2 $([ "$kind" = heartbeat ] && echo 0 || echo 1) $1 $1"
        done
        for kind in "${down[@]}"; do echo "topic +/cmd/$kind $3 1 $1 $1"; done
    }
    cat > "$up/mosquitto.conf" <<CONF
# Generated by scripts/broker-setup.sh for site $site: the uplink between this home's broker and the centre.
# It holds the home's account password: readable by its user only.
user $run_as
per_listener_settings false
allow_anonymous false
password_file $up/passwd
acl_file $up/acl
persistence true
persistence_location $up/data/
autosave_on_changes true
autosave_interval 1
# Messages held for the centre while the link is down (QoS 1; heartbeats, QoS 0, are not held).
max_queued_messages $bridge_queue

# Loopback only, for \`carebot fleet uplink-check\`: a broker that answers here is not wedged.
listener $uplink_port 127.0.0.1
protocol mqtt

# This home's broker: the upward topics come in, the centre's commands go out.
connection home
address 127.0.0.1:$port
bridge_protocol_version mqttv311
remote_clientid uplink
remote_username uplink
remote_password $(cat "$dir/secrets/uplink.password")
local_clientid uplink-home
cleansession false
local_cleansession false
bridge_cafile $dir/ca.crt
bridge_tls_version tlsv1.2
bridge_insecure false
keepalive_interval 15
restart_timeout 1 5
notifications false
$(crossing "$p" in out)
topic _bridge/state out 1 $p $p

# The centre: the same topics up, this site's commands down, nothing else.
connection central
address $bridge
bridge_protocol_version mqttv311
remote_clientid bridge-$site
local_clientid uplink-central
cleansession false
local_cleansession false
bridge_cafile $up/central-ca.crt
bridge_certfile $up/bridge.crt
bridge_keyfile $up/bridge.key
bridge_tls_version tlsv1.2
bridge_insecure false
keepalive_interval 15
restart_timeout 1 10
notifications true
notification_topic ${p}_bridge/state
$(crossing "$p" out in)
CONF
    chmod 600 "$up/mosquitto.conf" "$up/bridge.key" "$up/passwd"
fi
chmod 644 "$dir/mosquitto.conf" "$dir/acl"
chmod 600 "$dir/passwd"
mkdir -p "$dir/data"
if [ "$(id -u)" -eq 0 ] && id "$run_as" >/dev/null 2>&1; then
    chown "$run_as": "$dir/passwd" "$dir/server.key" "$dir/data"
    [ -z "$bridge" ] || chown -R "$run_as": "$dir/uplink"
fi
echo "broker-setup: wrote $dir/mosquitto.conf; accounts: ${accounts[*]}"
[ -z "$bridge" ] || echo "broker-setup: wrote $dir/uplink/mosquitto.conf: the uplink to $bridge (health on 127.0.0.1:$uplink_port)"
