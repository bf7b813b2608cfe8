#!/usr/bin/env bash
# virsh start + virsh destroy of one disk-less guest: virtswitch (Form B on a
# vepa pool network, through the hook and virtswitchd) against libvirt's own
# network driver (<interface type='network'> on an equivalent libvirt vepa
# network, no virtualport). BENCHMARKS.md, "Issue 8"; `make bench-e2e`.
#
# It sets up what `make e2e` sets up (e2e/run.sh, docs/E2E.md) with names of
# its own, using e2e/lib.sh's helpers: a real libvirtd and virtlogd, the
# hook at /etc/libvirt/hooks/qemu.d/virtswitch, virtswitchd on the system
# bus, veth "NICs" in the root namespace. Everything is removed or stopped
# at the end. It refuses to run while a libvirtd runs (e.g. `make e2e`).
#
# Needs: root, Debian 12 with libvirt and QEMU installed (`make e2e` installs
# them), go. Knobs: BENCH_RUNS (5), BENCH_ITER (guest lives per kind per run, 20).
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=e2e/lib.sh
. "$ROOT/e2e/lib.sh"
log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

RUNS=${BENCH_RUNS:-5}
ITER=${BENCH_ITER:-20}

HOOK_PATH=/etc/libvirt/hooks/qemu.d/virtswitch
POLICY_PATH=/etc/dbus-1/system.d/io.github.virtswitch1-bench.conf
CONFIG_DIR=/etc/virtswitch/networks
STATE_DIR=/run/virtswitch
BUS_SOCKET=/run/dbus/system_bus_socket
PREFIX=vswb
NIC_OURS=vswb-p0
NIC_NATIVE=vswb-p1
OURS=$PREFIX-ours
NATIVE=$PREFIX-native

[ "$(id -u)" = 0 ] || die "run as root"
command -v libvirtd >/dev/null && command -v qemu-system-x86_64 >/dev/null ||
    die "libvirt and QEMU are not installed; run 'make e2e' once (it installs them)"
getent passwd libvirt-qemu >/dev/null || die "no libvirt-qemu user; run 'make e2e' once (it creates it)"

WORK=$(mktemp -d /tmp/virtswitch-virsh-bench.XXXXXX)
BIN=$WORK/bin
STARTED_DBUS="" STARTED_VIRTLOGD="" STARTED_LIBVIRTD="" VSWD_PID=""
HOOK_BACKUP="" KVM_MODE="" MOUNTED_STATE="" MADE_CONFIG="" LINKS=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    log "cleaning up"
    if virsh -c qemu:///system version >/dev/null 2>&1; then
        local d
        for d in "$OURS" "$NATIVE"; do
            virsh_ destroy "$d" >/dev/null 2>&1
            virsh_ undefine "$d" >/dev/null 2>&1
        done
        virsh_ net-destroy "$NATIVE" >/dev/null 2>&1
        virsh_ net-undefine "$NATIVE" >/dev/null 2>&1
    fi
    rm -f /var/log/libvirt/qemu/"$PREFIX"-*.log
    if pid_alive "$VSWD_PID"; then
        vctl net-undefine "$PREFIX-vepa" >/dev/null 2>&1
    fi
    stop_pid "$VSWD_PID" virtswitchd
    rm -f "$CONFIG_DIR/$PREFIX-vepa.xml"
    [ -n "$MADE_CONFIG" ] && rmdir "$CONFIG_DIR" /etc/virtswitch 2>/dev/null
    if [ -n "$MOUNTED_STATE" ]; then
        umount "$STATE_DIR" 2>/dev/null
        rmdir "$STATE_DIR" 2>/dev/null
    fi
    [ -n "$STARTED_LIBVIRTD" ] && stop_pid "$STARTED_LIBVIRTD" libvirtd
    [ -n "$STARTED_VIRTLOGD" ] && stop_pid "$STARTED_VIRTLOGD" virtlogd
    if [ -n "$HOOK_BACKUP" ]; then mv -f "$HOOK_BACKUP" "$HOOK_PATH"; else rm -f "$HOOK_PATH"; fi
    rm -f "$POLICY_PATH"
    if [ -n "$STARTED_DBUS" ]; then
        stop_pid "$STARTED_DBUS" dbus-daemon
        rm -f /run/dbus/pid "$BUS_SOCKET"
    else
        dbus-send --system --dest=org.freedesktop.DBus --type=method_call /org/freedesktop/DBus \
            org.freedesktop.DBus.ReloadConfig >/dev/null 2>&1
    fi
    local l
    for l in "${LINKS[@]}"; do ip link del "$l" 2>/dev/null; done
    if [ -n "$KVM_MODE" ]; then
        chown "${KVM_MODE#* }" /dev/kvm
        chmod "${KVM_MODE%% *}" /dev/kvm
    fi
    if [ "$rc" = 0 ]; then rm -rf "$WORK"; else log "logs kept in $WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- setup (as e2e/run.sh) ---------------------------------------------------------

pid=$(cat /run/libvirtd.pid 2>/dev/null)
pid_alive "$pid" && die "libvirtd is already running (pid $pid); stop it (or wait for 'make e2e') first"
for l in $NIC_OURS $NIC_NATIVE; do link_exists "$l" && die "link $l exists; remove it first"; done

log "building"
mkdir -p "$BIN"
(cd "$ROOT" &&
    CGO_ENABLED=0 go build -trimpath -o "$BIN/virtswitchd" ./dbusd &&
    CGO_ENABLED=0 go build -trimpath -o "$BIN/virtswitchctl" ./virtswitchctl &&
    CGO_ENABLED=0 go build -trimpath -o "$BIN/virtswitch-hook" ./hookbin) || die "build failed"

DOMTYPE=qemu
if [ -c /dev/kvm ] && timeout 20 qemu-system-x86_64 -accel kvm -machine none -nodefaults -display none \
    -S -monitor none -serial none -daemonize -pidfile "$WORK/kvmprobe.pid" >/dev/null 2>&1; then
    stop_pid "$(cat "$WORK/kvmprobe.pid")" "kvm probe"
    KVM_MODE="$(stat -c '%a %u:%g' /dev/kvm)"
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
    DOMTYPE=kvm
fi

# The system bus: the hook, run by libvirt with a cleared environment, only
# ever finds it at its default address.
unset DBUS_SYSTEM_BUS_ADDRESS
install -m 0644 "$ROOT/packaging/dbus/io.github.virtswitch1.conf" "$POLICY_PATH" || die "bus policy"
bus_up() { timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId >/dev/null 2>&1; }
if bus_up; then
    timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.ReloadConfig >/dev/null || die "the system bus did not reload"
else
    [ -f /run/dbus/pid ] && ! pid_alive "$(cat /run/dbus/pid)" && rm -f /run/dbus/pid "$BUS_SOCKET"
    mkdir -p /run/dbus
    STARTED_DBUS=$(timeout 20 dbus-daemon --system --fork --print-pid) || die "dbus-daemon did not start"
    wait_for 20 "the system bus" bus_up || die "no system bus"
fi
vswd_up() {
    timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:io.github.virtswitch1 2>/dev/null | grep -q 'boolean true'
}
vswd_up && die "something already owns io.github.virtswitch1"

# The state dir on tmpfs, as /run is on a host (this machine's /run is not).
if [ ! -e "$STATE_DIR" ]; then
    mkdir -m 0755 "$STATE_DIR" && mount -t tmpfs -o mode=0755,size=64m virtswitch-bench "$STATE_DIR" || die "tmpfs on $STATE_DIR"
    MOUNTED_STATE=1
elif ! mountpoint -q "$STATE_DIR"; then
    log "note: $STATE_DIR exists and is not a tmpfs mount; state writes pay fsyncs on disk"
fi
[ -d "$CONFIG_DIR" ] || { mkdir -p "$CONFIG_DIR" && MADE_CONFIG=1; }

mkdir -p /etc/libvirt/hooks/qemu.d
if [ -e "$HOOK_PATH" ]; then HOOK_BACKUP=$WORK/hook.backup && cp -a "$HOOK_PATH" "$HOOK_BACKUP"; fi
install -m 0755 "$BIN/virtswitch-hook" "$HOOK_PATH"
printf 'log_outputs="3:file:%s/virtlogd.log"\n' "$WORK" >"$WORK/virtlogd.conf"
printf 'log_outputs="3:file:%s/libvirtd.log"\n' "$WORK" >"$WORK/libvirtd.conf"
if ! pid_alive "$(cat /run/virtlogd.pid 2>/dev/null)"; then
    timeout 30 virtlogd -d -f "$WORK/virtlogd.conf" || die "virtlogd did not start"
    wait_for 20 "virtlogd" test -s /run/virtlogd.pid || die "virtlogd wrote no pid file"
    STARTED_VIRTLOGD=$(cat /run/virtlogd.pid)
fi
timeout 30 libvirtd -d -f "$WORK/libvirtd.conf" || die "libvirtd did not start"
wait_for 60 libvirtd virsh -c qemu:///system version || die "libvirtd does not answer"
STARTED_LIBVIRTD=$(cat /run/libvirtd.pid)

"$BIN/virtswitchd" --config-dir "$CONFIG_DIR" --state-dir "$STATE_DIR" >>"$WORK/virtswitchd.log" 2>&1 &
VSWD_PID=$!
wait_for 30 virtswitchd vswd_up || die "virtswitchd did not start; see $WORK/virtswitchd.log"

for l in $NIC_OURS $NIC_NATIVE; do
    ip link add "$l" type veth peer name "${l}p" || die "veth $l"
    LINKS+=("$l")
    ip link set "${l}p" up
done

cat >"$WORK/ours-net.xml" <<EOF
<network>
  <name>$PREFIX-vepa</name>
  <forward mode='vepa'>
    <interface dev='$NIC_OURS'/>
  </forward>
</network>
EOF
cat >"$WORK/native-net.xml" <<EOF
<network>
  <name>$NATIVE</name>
  <forward mode='vepa'>
    <interface dev='$NIC_NATIVE'/>
  </forward>
</network>
EOF
vctl net-define "$WORK/ours-net.xml" >/dev/null || die "virtswitchctl net-define"
virsh_ net-define "$WORK/native-net.xml" >/dev/null && virsh_ net-start "$NATIVE" >/dev/null || die "libvirt network"

guest() { # NAME MAC NETWORK
    cat <<EOF
<domain type='$DOMTYPE'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <interface type='network'>
      <source network='$3'/>
      <mac address='$2'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
EOF
}
guest "$OURS" 52:54:00:be:00:01 "$PREFIX-vepa" >"$WORK/ours.xml"
guest "$NATIVE" 52:54:00:be:00:02 "$NATIVE" >"$WORK/native.xml"
vctl domain-encode "$WORK/ours.xml" >"$WORK/ours-b.xml" || die "domain-encode"
virsh_ define "$WORK/ours-b.xml" >/dev/null || die "define $OURS"
virsh_ define "$WORK/native.xml" >/dev/null || die "define $NATIVE"

# ---- measure ---------------------------------------------------------------------------

now_us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
# life NAME FILE: one virsh start and one virsh destroy, appending "start destroy" (µs).
life() {
    local t0 t1 t2
    t0=$(now_us)
    virsh_ start "$1" >/dev/null 2>>"$WORK/errors" || die "virsh start $1 failed: $(tail -n1 "$WORK/errors")"
    t1=$(now_us)
    virsh_ destroy "$1" >/dev/null 2>>"$WORK/errors" || die "virsh destroy $1 failed"
    t2=$(now_us)
    echo "$((t1 - t0)) $((t2 - t1))" >>"$2"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ms() { awk -v x="$1" 'BEGIN {printf "%.1f", x/1000}'; }
# bare: the native guest with virtswitch's hook moved out of qemu.d for
# that life (libvirt lists qemu.d at every hook call), i.e. a host without
# virtswitch; the plain native guest pays for libvirt running virtswitch's
# hook (which does nothing for it) at each of its five hook points.
life_bare() {
    mv "$HOOK_PATH" "$WORK/hook.aside" || die "moving the hook aside"
    life "$NATIVE" "$1"
    mv "$WORK/hook.aside" "$HOOK_PATH" || die "putting the hook back"
}
stats() { # FILE -> "start destroy life" medians, µs
    echo "$(cut -d' ' -f1 "$1" | median) $(cut -d' ' -f2 "$1" | median) $(awk '{print $1+$2}' "$1" | median)"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }

log "warming up ($DOMTYPE guests)"
for _ in 1 2; do life "$OURS" /dev/null; life "$NATIVE" /dev/null; life_bare /dev/null; done
# A started guest must really run on our macvtap (the e2e suite checks the
# details; here: the link exists while it runs, and the count went to 1).
virsh_ start "$OURS" >/dev/null || die "start"
link_exists vsw525400be0001 || die "virtswitch's macvtap is missing while $OURS runs"
virsh_ destroy "$OURS" >/dev/null
link_exists vsw525400be0001 && die "virtswitch's macvtap left after destroy"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, kernel $(uname -r), libvirt $(libvirtd --version | awk '{print $NF}'), QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), guests type $DOMTYPE"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s | %-26s | %-26s | %-26s | %-13s | %-13s\n' run "ours start/destroy/life" "native (hook installed)" "native bare (no hook)" "start o/n o/b" "life o/n o/b"
declare -A fig
for run in $(seq "$RUNS"); do
    : >"$WORK/o" && : >"$WORK/n" && : >"$WORK/b"
    for i in $(seq "$ITER"); do
        # Rotate the order so no kind always follows another.
        case $((i % 3)) in
        0) life "$OURS" "$WORK/o"; life "$NATIVE" "$WORK/n"; life_bare "$WORK/b" ;;
        1) life "$NATIVE" "$WORK/n"; life_bare "$WORK/b"; life "$OURS" "$WORK/o" ;;
        2) life_bare "$WORK/b"; life "$OURS" "$WORK/o"; life "$NATIVE" "$WORK/n" ;;
        esac
    done
    read -r os od ol <<<"$(stats "$WORK/o")"
    read -r ns nd nl <<<"$(stats "$WORK/n")"
    read -r bs bd bl <<<"$(stats "$WORK/b")"
    rs=$(ratio "$os" "$ns") rsb=$(ratio "$os" "$bs") rl=$(ratio "$ol" "$nl") rlb=$(ratio "$ol" "$bl")
    for k in os ns bs ol nl bl rs rsb rl rlb; do fig[$k]+="${!k} "; done
    printf '%-4s | %8s %8s %8s | %8s %8s %8s | %8s %8s %8s | %6s %6s | %6s %6s\n' "$run" \
        "$(ms "$os")" "$(ms "$od")" "$(ms "$ol")" "$(ms "$ns")" "$(ms "$nd")" "$(ms "$nl")" \
        "$(ms "$bs")" "$(ms "$bd")" "$(ms "$bl")" "$rs" "$rsb" "$rl" "$rlb"
done
med() { printf '%s\n' ${fig[$1]} | median; }
echo "ms, medians of $ITER guest lives per kind per run; life = start + destroy; o/n = ours / native, o/b = ours / native bare"
echo "median over $RUNS runs: start ours $(ms "$(med os)"), native $(ms "$(med ns)"), bare $(ms "$(med bs)") ms;" \
    "life ours $(ms "$(med ol)"), native $(ms "$(med nl)"), bare $(ms "$(med bl)") ms;" \
    "ratios start o/n $(med rs) o/b $(med rsb), life o/n $(med rl) o/b $(med rlb)"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
