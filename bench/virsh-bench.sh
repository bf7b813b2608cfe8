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
NICS=(vswb-p0 vswb-p1 vswb-p2) # ours, native, bash hook
BRIDGE=
GUEST_LINKS='vsw525400be00*'
OURS=$PREFIX-ours
NATIVE=$PREFIX-native
BASHG=$PREFIX-bash
BASH_HOOK_PATH=/etc/libvirt/hooks/qemu.d/$PREFIX-bash-hook
WORK=$(mktemp -d /tmp/virtswitch-virsh-bench.XXXXXX)
BIN=$WORK/bin
# shellcheck source=e2e/host.sh
. "$ROOT/e2e/host.sh"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    rm -f "$BASH_HOOK_PATH"
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
# The admin's way without virtswitch: an unmanaged macvtap that a bash
# qemu.d hook (bench/bash-hook.sh, its settings written in) makes on
# prepare and deletes on release.
form_a "$BASHG" 52:54:00:be:00:03 unused |
    sed "s|<interface type='network'>|<interface type='ethernet'>|; s|<source network='unused'/>|<target dev='vsw525400be0003' managed='no'/>|" \
        >"$WORK/bash.xml"
virsh_ define "$WORK/bash.xml" >/dev/null || die "define $BASHG"
{
    echo '#!/bin/bash'
    echo "VSW_DEV=${NICS[2]} VSW_TARGET=vsw525400be0003"
    sed 1d "$HERE/bash-hook.sh"
} >"$WORK/bash-hook"
chmod 0755 "$WORK/bash-hook"

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
# awk's print writes a non-integer of 1e6 or more as 1.46361e+06 (OFMT
# %.6g), which sort -n reads as 1.46: medians print with %.10g and sort -g.
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) printf "%.10g\n", a[(NR+1)/2]; else printf "%.10g\n", (a[NR/2]+a[NR/2+1])/2}'; }
ms() { awk -v x="$1" 'BEGIN {printf "%.1f", x/1000}'; }
# with_hook HOOK NAME FILE: one life of guest NAME on a host whose qemu.d
# holds only HOOK (bash: the bash hook; none: nothing), then virtswitch's
# hook back alone. libvirt lists qemu.d at every hook call, so the swap
# takes effect at once. "bare" is the native guest on a host without
# virtswitch; plain "native" pays for libvirt running virtswitch's hook
# (which does nothing for it) at each of its five hook points.
with_hook() {
    mv "$HOOK_PATH" "$WORK/hook.aside" || die "moving the hook aside"
    [ "$1" = bash ] && { cp "$WORK/bash-hook" "$BASH_HOOK_PATH" || die "installing the bash hook"; }
    life "$2" "$3"
    rm -f "$BASH_HOOK_PATH"
    mv "$WORK/hook.aside" "$HOOK_PATH" || die "putting the hook back"
}
# one KIND FILE: a life of the kind's guest. Kinds: o (virtswitch), n
# (native, virtswitch installed), b (native bare), s (bash hook).
one() {
    case $1 in
    o) life "$OURS" "$2" ;;
    n) life "$NATIVE" "$2" ;;
    b) with_hook none "$NATIVE" "$2" ;;
    s) with_hook bash "$BASHG" "$2" ;;
    esac
}
stats() { # FILE -> "start destroy life" medians, µs
    echo "$(cut -d' ' -f1 "$1" | median) $(cut -d' ' -f2 "$1" | median) $(awk '{print $1+$2}' "$1" | median)"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }
med() { tr ' ' '\n' <<<"${fig[$1]}" | grep . | median; } # median of the per-run figures

log "warming up ($DOMTYPE guests)"
KINDS=(o n b s)
for _ in 1 2; do for k in "${KINDS[@]}"; do one "$k" /dev/null; done; done
# A started guest must really run on its macvtap (the e2e suite checks the
# details; here: the link exists while it runs, and is gone after).
virsh_ start "$OURS" >/dev/null || die "start"
link_exists vsw525400be0001 || die "virtswitch's macvtap is missing while $OURS runs"
virsh_ destroy "$OURS" >/dev/null
link_exists vsw525400be0001 && die "virtswitch's macvtap left after destroy"
mv "$HOOK_PATH" "$WORK/hook.aside" && cp "$WORK/bash-hook" "$BASH_HOOK_PATH" || die "hook swap"
virsh_ start "$BASHG" >/dev/null || die "start $BASHG"
link_exists vsw525400be0003 || die "the bash hook's macvtap is missing while $BASHG runs"
virsh_ destroy "$BASHG" >/dev/null
link_exists vsw525400be0003 && die "the bash hook's macvtap left after destroy"
rm -f "$BASH_HOOK_PATH" && mv "$WORK/hook.aside" "$HOOK_PATH" || die "hook swap back"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, kernel $(uname -r), libvirt $(libvirtd --version | awk '{print $NF}'), QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), guests type $DOMTYPE"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kinds: o = virtswitch (Form B, vepa pool); n = libvirt network driver, virtswitch's hook installed;"
echo "       b = libvirt network driver, no hook (bare); s = unmanaged macvtap made by a bash qemu.d hook"
echo "run | start o n b s | destroy o n b s | life o n b s | start o/n o/b s/b | life o/n o/b s/b |"
declare -A fig cur # fig: per-run figures, space-separated; cur: this run's
PAIRS=(o/n o/b s/b)
for run in $(seq "$RUNS"); do
    for k in "${KINDS[@]}"; do : >"$WORK/$k"; done
    for i in $(seq "$ITER"); do
        # Rotate the order so no kind always follows another.
        for j in 0 1 2 3; do
            k=${KINDS[$(((i + j) % 4))]}
            one "$k" "$WORK/$k"
        done
    done
    for k in "${KINDS[@]}"; do
        read -r "cur[start$k]" "cur[destroy$k]" "cur[life$k]" <<<"$(stats "$WORK/$k")"
        for m in start destroy life; do fig[$m$k]+="${cur[$m$k]} "; done
    done
    for p in "${PAIRS[@]}"; do
        for m in start life; do
            cur[$m$p]=$(ratio "${cur[$m${p%/*}]}" "${cur[$m${p#*/}]}")
            fig[$m$p]+="${cur[$m$p]} "
        done
    done
    row="$run |"
    for m in start destroy life; do
        for k in "${KINDS[@]}"; do row+=" $(ms "${cur[$m$k]}")"; done
        row+=" |"
    done
    for m in start life; do
        for p in "${PAIRS[@]}"; do row+=" ${cur[$m$p]}"; done
        row+=" |"
    done
    echo "$row"
done
echo "ms, medians of $ITER guest lives per kind per run; life = start + destroy"
for m in start destroy life; do
    row="median over $RUNS runs, $m (ms):"
    for k in "${KINDS[@]}"; do row+=" $k $(ms "$(med "$m$k")")"; done
    echo "$row"
done
for m in start life; do
    row="median over $RUNS runs, $m ratios:"
    for p in "${PAIRS[@]}"; do row+=" $p $(med "$m$p")"; done
    echo "$row"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
