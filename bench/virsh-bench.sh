#!/usr/bin/env bash
# virsh start + virsh destroy of one disk-less guest: virtswitch (Form B on a
# vepa pool network, through the hook and virtswitchd) against libvirt's own
# network driver (<interface type='network'> on an equivalent libvirt vepa
# network, no virtualport). BENCHMARKS.md, "Issue 8"; `make bench-e2e`.
#
# It sets up what `make e2e` sets up (e2e/run.sh, docs/E2E.md) with names of
# its own, with the same code (e2e/lib.sh, e2e/host.sh): a real libvirtd and virtlogd, the
# hook at /etc/libvirt/hooks/qemu.d/virtswitch, virtswitchd on the system
# bus, veth "NICs" in the root namespace. Everything is removed or stopped
# at the end. It refuses to run while a libvirtd runs (e.g. `make e2e`).
#
# Needs: root, Debian 12, go; installs libvirt and QEMU as `make e2e` does.
# Knobs: BENCH_RUNS (5), BENCH_ITER (guest lives per kind per run, 20).
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=e2e/lib.sh
. "$ROOT/e2e/lib.sh"
log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

RUNS=${BENCH_RUNS:-5}
ITER=${BENCH_ITER:-20}

[ "$(id -u)" = 0 ] || die "run as root"

PREFIX=vswb
NICS=(vswb-p0 vswb-p1) # ours, native
BRIDGE=
GUEST_LINKS='vsw525400be00*'
OURS=$PREFIX-ours
NATIVE=$PREFIX-native
WORK=$(mktemp -d /tmp/virtswitch-virsh-bench.XXXXXX)
BIN=$WORK/bin
# shellcheck source=e2e/host.sh
. "$ROOT/e2e/host.sh"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    host_cleanup "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- setup (as e2e/run.sh) ---------------------------------------------------------

install_packages
build
choose_accel
start_bus
start_libvirt
# The state dir on tmpfs, as /run is on a host (this machine's /run is not).
if [ ! -e "$STATE_DIR" ]; then
    mkdir_tracked "$STATE_DIR"
    mount -t tmpfs -o mode=0755,size=64m virtswitch-bench "$STATE_DIR" || die "tmpfs on $STATE_DIR"
    MOUNTS+=("$STATE_DIR")
elif ! mountpoint -q "$STATE_DIR"; then
    log "note: $STATE_DIR exists and is not a tmpfs mount; state writes pay fsyncs on disk"
fi
start_vswd
make_links

cat >"$WORK/ours-net.xml" <<EOF
<network>
  <name>$PREFIX-vepa</name>
  <forward mode='vepa'>
    <interface dev='${NICS[0]}'/>
  </forward>
</network>
EOF
cat >"$WORK/native-net.xml" <<EOF
<network>
  <name>$NATIVE</name>
  <forward mode='vepa'>
    <interface dev='${NICS[1]}'/>
  </forward>
</network>
EOF
vctl net-define "$WORK/ours-net.xml" >/dev/null || die "virtswitchctl net-define"
virsh_ net-define "$WORK/native-net.xml" >/dev/null && virsh_ net-start "$NATIVE" >/dev/null || die "libvirt network"

form_a "$OURS" 52:54:00:be:00:01 "$PREFIX-vepa" >"$WORK/ours.xml"
form_a "$NATIVE" 52:54:00:be:00:02 "$NATIVE" >"$WORK/native.xml"
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
