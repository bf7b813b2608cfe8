#!/usr/bin/env bash
# make e2e-metrics (part of make e2e): Debian's Prometheus server scrapes a
# real virtswitchd on loopback and a virtswitch series is read back through
# Prometheus's HTTP API (issue 14, point 5). Root; installs the prometheus
# package when missing. Everything it starts is stopped by PID, and its
# namespace, bus and files are removed, also after a failure.
#
# The daemon runs on a private bus (a dbus-daemon of its own) and plumbs in
# a network namespace of its own; nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '%s e2e-metrics: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespace, virtswitchd)"
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    log "installing prometheus"
    timeout 900 apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -qq --no-install-recommends prometheus >/dev/null ||
        die "apt-get install prometheus failed"
fi

WORK=$(mktemp -d /tmp/vsw-e2e-metrics.XXXXXX)
NS=vswmetrics$$
PIDS=()
cleanup() {
    local rc=$? p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        log "failed; logs kept in $WORK"
        tail -n 20 "$WORK"/*.log >&2 || true
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

mkdir -p "$WORK/bin"
for p in dbusd:virtswitchd virtswitchctl:virtswitchctl; do
    go build -o "$WORK/bin/${p#*:}" "./${p%%:*}" || die "building ${p%%:*}"
done

# A host stand-in: a namespace with a 2-device passthrough pool (veths, the
# "cable" peer up).
ip netns add "$NS"
for d in eth0 eth1; do
    ip -n "$NS" link add "$d" type veth peer name "w$d"
    ip -n "$NS" link set "w$d" up
done

# A private bus with a system bus's default policy and the shipped one
# (as testenv.StartBus and the demo make it).
cat >"$WORK/bus.conf" <<CONF
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$WORK/bus.sock</listen>
  <include>$PWD/testenv/system-default.conf</include>
  <include>$PWD/packaging/dbus/io.github.virtswitch1.conf</include>
</busconfig>
CONF
dbus-daemon --config-file="$WORK/bus.conf" --nofork --nopidfile >"$WORK/bus.log" 2>&1 &
PIDS+=($!)
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$WORK/bus.sock"
for _ in $(seq 100); do [ -S "$WORK/bus.sock" ] && break; sleep 0.05; done
[ -S "$WORK/bus.sock" ] || die "the private bus did not start"

mkdir -p "$WORK/libvirt"
"$WORK/bin/virtswitchd" --config-dir "$WORK/networks" --state-dir "$WORK/state" --libvirt-state-dir "$WORK/libvirt" \
    --drain-file "$WORK/drained" --netns "/run/netns/$NS" --metrics-address 127.0.0.1:0 >"$WORK/virtswitchd.log" 2>&1 &
PIDS+=($!)
URL=""
for _ in $(seq 200); do
    URL=$(sed -n 's/.*msg="serving metrics" url=\(http:[^ ]*\).*/\1/p' "$WORK/virtswitchd.log")
    [ -n "$URL" ] && grep -q "virtswitchd ready" "$WORK/virtswitchd.log" && break
    sleep 0.05
done
[ -n "$URL" ] || die "virtswitchd did not serve metrics; see $WORK/virtswitchd.log"
TARGET=${URL#http://}
TARGET=${TARGET%/metrics}
log "virtswitchd serves $URL"

ctl() { timeout 60 "$WORK/bin/virtswitchctl" "$@"; }
ctl net-define - >/dev/null <<'NET'
<network>
  <name>e2e-pass</name>
  <forward mode='passthrough'>
    <interface dev='eth0'/>
    <interface dev='eth1'/>
  </forward>
</network>
NET
ctl domain-reserve - --ttl 600 >/dev/null <<'DOM'
<domain type='kvm'>
  <name>e2e-metrics</name>
  <uuid>6d6f6e69-746f-4072-8000-000000000014</uuid>
  <devices>
    <interface type='network'>
      <source network='e2e-pass'/>
      <mac address='52:54:00:14:00:01'/>
    </interface>
  </devices>
</domain>
DOM
ctl net-drain e2e-pass eth1 >/dev/null
ctl metrics >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" || die "promtool check metrics refused virtswitchctl metrics"
log "promtool check metrics: ok"

# Prometheus on a free loopback port, scraping every second.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PPORT=19090
while ! port_free "$PPORT"; do PPORT=$((PPORT + 1)); done
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: virtswitch
    static_configs:
      - targets: ['$TARGET']
YML
promtool check config "$WORK/prometheus.yml" >/dev/null || die "prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
log "prometheus on 127.0.0.1:$PPORT scraping $TARGET"

# query EXPR: the API's JSON for an instant query (bash's /dev/tcp: no curl
# needed on a fresh machine).
query() {
    local q="" c i
    for ((i = 0; i < ${#1}; i++)); do
        c=${1:i:1}
        case $c in
        [A-Za-z0-9._~-]) q+=$c ;;
        *) q+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    exec 3<>"/dev/tcp/127.0.0.1/$PPORT" || return 1
    printf 'GET /api/v1/query?query=%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$q" >&3
    sed '1,/^\r$/d' <&3
    exec 3>&-
}
want() { # EXPR VALUE: wait (60 s at most) until the query's single value is VALUE
    local out=""
    for _ in $(seq 120); do
        out=$(query "$1" 2>/dev/null || true)
        if printf '%s' "$out" | grep -q "\"value\":\[[0-9.]*,\"$2\"\]"; then
            log "query $1 = $2: ok"
            return 0
        fi
        sleep 0.5
    done
    die "query $1: want $2, last answer: $out"
}
want 'virtswitch_network_connections{network="e2e-pass"}' 1
want 'virtswitch_device_drained{network="e2e-pass",device="eth1"}' 1
want 'virtswitch_reservations' 1
want 'up{job="virtswitch"}' 1
log "PASS"
