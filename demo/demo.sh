#!/usr/bin/env bash
# virtswitch demo: the whole flow without libvirt. A private D-Bus with the
# shipped policy, virtswitchd plumbing into a network namespace of its own
# (veth pairs stand in for NICs), the CLI, and the hook run exactly as
# libvirt runs it. Needs root (network namespaces) and go, dbus-daemon, ip.
# Everything it creates is removed at the end.
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
EX=$ROOT/examples

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates a network namespace)" >&2; exit 1; }
for tool in go dbus-daemon ip; do
    command -v "$tool" >/dev/null || { echo "demo: $tool is needed" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/virtswitch-demo.XXXXXX)
NS=vswdemo-$$
BUS_PID="" VSWD_PID="" STANDINS=()

cleanup() {
    for p in "${STANDINS[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$VSWD_PID" ] && kill "$VSWD_PID" 2>/dev/null
    [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

B=$'\e[1m' N=$'\e[0m'
[ -t 1 ] || { B="" N=""; }
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
# show CMD...: print the command as typed, then run it (exit status shown
# when it fails, which some steps expect).
show() {
    printf '%s$ %s%s\n' "$B" "$*" "$N"
    "$@"
    local rc=$?
    [ $rc -eq 0 ] || printf '(exit status %d)\n' "$rc"
    return 0
}

# `make demo` has just built the binaries into VSW_BIN: use them (one
# build); run by hand, build them here.
if [ -n "${VSW_BIN:-}" ] && [ -x "$VSW_BIN/virtswitchd" ] && [ -x "$VSW_BIN/virtswitchctl" ] && [ -x "$VSW_BIN/virtswitch-hook" ]; then
    step "Using virtswitchd, virtswitchctl and virtswitch-hook from $VSW_BIN"
    export PATH=$VSW_BIN:$PATH
else
    step "Building virtswitchd, virtswitchctl and virtswitch-hook"
    mkdir -p "$WORK/bin"
    (cd "$ROOT" && for p in dbusd:virtswitchd virtswitchctl:virtswitchctl hookbin:virtswitch-hook; do
        go build -o "$WORK/bin/${p#*:}" "./${p%%:*}" || exit 1
    done) || exit 1
    export PATH=$WORK/bin:$PATH
fi

step "A network namespace standing in for the host: veth 'NICs' eth10, eth20-22, eth30-31 and a bridge br0"
ip netns add "$NS"
ip -n "$NS" link set lo up
for dev in eth10 eth20 eth21 eth22 eth30 eth31; do
    ip -n "$NS" link add "$dev" type veth peer name "w$dev"
    ip -n "$NS" link set "w$dev" up
done
ip -n "$NS" link add br0 type bridge
ip -n "$NS" link set br0 up
show ip -n "$NS" -br link

step "A private system-style bus with the shipped policy, and virtswitchd on it"
cat >"$WORK/bus.conf" <<EOF
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$WORK/bus.sock</listen>
  <include>$ROOT/testenv/system-default.conf</include>
  <include>$ROOT/packaging/dbus/io.github.virtswitch1.conf</include>
</busconfig>
EOF
dbus-daemon --config-file="$WORK/bus.conf" --nofork --nopidfile 2>"$WORK/bus.log" &
BUS_PID=$!
# virtswitchd exits if the bus is not there yet: wait for the socket (5 s).
for _ in $(seq 100); do
    [ -S "$WORK/bus.sock" ] && break
    if ! kill -0 "$BUS_PID" 2>/dev/null; then
        echo "demo: dbus-daemon exited:" >&2
        cat "$WORK/bus.log" >&2
        exit 1
    fi
    sleep 0.05
done
[ -S "$WORK/bus.sock" ] || { echo "demo: dbus-daemon made no socket in 5 s" >&2; exit 1; }
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/bus.sock
# The hook's environment for this demo; under libvirt it uses its defaults.
export VIRTSWITCH_CONFIG_DIR=$WORK/networks
mkdir -p "$WORK/networks" "$WORK/libvirt"

start_daemon() {
    virtswitchd --config-dir "$WORK/networks" --state-dir "$WORK/state" \
        --libvirt-state-dir "$WORK/libvirt" --netns "/run/netns/$NS" --libvirt-socket none >>"$WORK/virtswitchd.log" 2>&1 &
    VSWD_PID=$!
    local i
    for i in $(seq 100); do
        virtswitchctl net-list >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo: virtswitchd did not come up:" >&2
    cat "$WORK/virtswitchd.log" >&2
    exit 1
}
start_daemon
echo "virtswitchd is pid $VSWD_PID, on $DBUS_SYSTEM_BUS_ADDRESS, plumbing in netns $NS"

step "Networks: libvirt's own kinds are not ours"
show virtswitchctl net-validate "$EX/red-network-route.xml"

step "Define the seed's VEPA red-network, a private-mode pool with an 802.1Qbh profile, a macvtap-bridge pool, and a host bridge"
cat >"$WORK/lab-bridge.xml" <<'EOF'
<network>
  <name>lab-bridge</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>
EOF
for f in "$EX/red-network-vepa.xml" "$EX/blue-network-private-qbh.xml" "$EX/green-network-macvtap-bridge.xml" "$WORK/lab-bridge.xml"; do
    show virtswitchctl net-define "$f"
done
show virtswitchctl net-list

step "The seed's guest, in portable Form A"
cat >"$WORK/seed-guest.xml" <<'EOF'
<domain type='kvm'>
  <name>seed-guest</name>
  <uuid>0b4f8f4c-5b8e-4d5e-9d1e-5eed00000001</uuid>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='network'>
      <source network='red-network' portgroup='engineering'/>
      <virtualport type='802.1Qbg'>
        <parameters instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
      </virtualport>
      <mac address='de:ad:be:ef:ca:fe'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
EOF
show cat "$WORK/seed-guest.xml"

step "libvirt cannot start it as is; the hook says what to do (this is what 'virsh start' would print)"
show virtswitch-hook seed-guest prepare begin - <"$WORK/seed-guest.xml"

step "Encode it for libvirt (what 'virsh define' gets): an unmanaged ethernet interface + the binding in <metadata>"
virtswitchctl domain-encode --config-dir "$WORK/networks" "$WORK/seed-guest.xml" >"$WORK/seed-guest-B.xml"
show virtswitchctl domain-encode --config-dir "$WORK/networks" "$WORK/seed-guest.xml"

step "libvirt starts it: the hook's 'prepare begin' asks virtswitchd to plumb it"
show virtswitch-hook seed-guest prepare begin - <"$WORK/seed-guest-B.xml"
show ip -n "$NS" -d link show vswdeadbeefcafe
echo "A macvtap in vepa mode on eth10, carrying the guest's MAC. What the guest got, with the merged virtualport:"
show virtswitchctl domain-status 0b4f8f4c-5b8e-4d5e-9d1e-5eed00000001

# guest NAME UUID MAC NETWORK: a Form B guest document.
guest() {
    cat <<EOF | virtswitchctl domain-encode --config-dir "$WORK/networks" -
<domain type='kvm'>
  <name>$1</name>
  <uuid>$2</uuid>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='network'>
      <source network='$4'/>
      <mac address='$3'/>
    </interface>
  </devices>
</domain>
EOF
}
uuid() { printf '0b4f8f4c-5b8e-4d5e-9d1e-5eed%08d' "$1"; }

step "blue-network: private mode with 802.1Qbh needs a device per guest; three devices, four guests"
for i in 1 2 3 4; do
    guest "blue$i" "$(uuid "1$i")" "52:54:00:00:0b:0$i" blue-network >"$WORK/blue$i.xml"
    show virtswitch-hook "blue$i" prepare begin - <"$WORK/blue$i.xml"
done
show virtswitchctl net-info blue-network
echo "The fourth start fails, with the daemon's message on the hook's stderr (virsh shows it)."

step "A host-bridge guest: a tap enslaved to br0"
guest lab1 "$(uuid 21)" 52:54:00:00:1a:01 lab-bridge >"$WORK/lab1.xml"
show virtswitch-hook lab1 prepare begin - <"$WORK/lab1.xml"
show ip -n "$NS" -d link show vsw525400001a01

step "Restore / incoming migration of a Form A document: the hook prints the Form B XML for libvirt to use"
guest green1 "$(uuid 31)" 52:54:00:00:0c:01 green-network | virtswitchctl domain-decode - >"$WORK/green1-A.xml"
show virtswitch-hook green1 restore begin - <"$WORK/green1-A.xml"

step "Restart recovery: blue1 and blue2 'run' (stand-in processes carry their UUIDs, as QEMU's -uuid does); blue2's dies while virtswitchd is down"
for i in 1 2; do
    bash -c "exec -a 'qemu-stand-in -uuid $(uuid "1$i")' sleep 600" &
    STANDINS+=($!)
    echo $! >"$WORK/libvirt/blue$i.pid"
done
# blue3 has no process at all: it "stopped" too.
show virtswitchctl net-info blue-network
show kill -9 "$VSWD_PID"
wait "$VSWD_PID" 2>/dev/null
kill "${STANDINS[1]}"
wait "${STANDINS[1]}" 2>/dev/null
start_daemon
echo "virtswitchd restarted (pid $VSWD_PID): counts are rebuilt from the state dir, and only blue1 has a"
echo "live process; every other guest (blue2, blue3, seed-guest, lab1: no process here) is released"
show virtswitchctl net-info blue-network
show virtswitchctl net-list
show ip -n "$NS" -br link show type macvtap

step "libvirt stops blue1: the hook's 'release end' frees its device"
show virtswitch-hook blue1 release end - <"$WORK/blue1.xml"
show virtswitchctl net-list

step "Done; cleaning up (namespace, bus, daemon, files)"
