#!/usr/bin/env bash
# Live migration between two real libvirt hosts whose hardware differs
# (issue 13; docs/E2E.md "Migration suite", docs/MIGRATION.md). `make
# e2e-migrate` runs it; `make e2e` too.
#
# Host A and host B are network + mount namespaces on this machine, each with
# its own system bus, libvirtd, virtswitchd and hook (e2e/twohost.sh). Their
# pool NICs (veth pairs) have different names and their networks of the same
# name differ in devices and pool size. Migration traffic runs over a veth
# between them. Assertions read libvirt (virsh), the kernel (ip, /sys, /proc)
# and the daemons' D-Bus API, never logs.
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=e2e/twohost.sh
. "$HERE/twohost.sh"

[ "$(id -u)" = 0 ] || die "run as root: the suite makes namespaces and runs libvirtd"
[ -f /etc/debian_version ] || die "this suite targets Debian 12 (apt packages, paths)"

WORK=$(mktemp -d /tmp/virtswitch-migrate.XXXXXX)
BIN=$WORK/bin
PREFIX=vswmig
# install_packages, build, choose_accel (and form_a) come from host.sh; its
# other functions work on the machine's own libvirt and are not used here.
# shellcheck source=e2e/host.sh
. "$HERE/host.sh"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    log "cleaning up"
    th_cleanup
    if [ -n "$KVM_MODE" ]; then
        chown "${KVM_MODE#* }" /dev/kvm
        chmod "${KVM_MODE%% *}" /dev/kvm
    fi
    if [ "${E2E_KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
        rm -rf "${WORK:?}/bin"
        log "logs kept in $WORK (remove it when done)"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---- setup -------------------------------------------------------------------------

A_NICS=(eth10 eth11)      A_PT=(eth12 eth13)   A_BR=br0
B_NICS=(ens1f0 ens1f1 ens1f2) B_PT=(ens2f0)    B_BR=virbr-lan

setup_hosts() {
    th_remove_stale
    th_host A 10.99.0.1
    th_host B 10.99.0.2
    th_link A 10.99.0.1 B 10.99.0.2
    # A's links get ifindexes above 100, B's above 300 (C's above 500):
    # apart from each other's and from those of the root namespace and of
    # small test namespaces (/dev/tapN; a run makes a few dozen links).
    th_skip_ifindexes A 100
    th_skip_ifindexes B 300
    th_nics A "${A_NICS[@]}" "${A_PT[@]}"
    th_nics B "${B_NICS[@]}" "${B_PT[@]}"
    th_bridge A "$A_BR"
    th_bridge B "$B_BR"
    local h
    for h in A B; do
        th_start_bus "$h"
        th_start_libvirtd "$h"
        th_start_vswd "$h"
    done
}

# net_pool NAME MODE DEV...: a pool network definition.
net_pool() {
    local name=$1 mode=$2 d
    shift 2
    printf "<network>\n  <name>%s</name>\n  <forward mode='%s'>\n" "$name" "$mode"
    for d in "$@"; do printf "    <interface dev='%s'/>\n" "$d"; done
    printf "  </forward>\n%s</network>\n" "${PORTGROUPS:-}"
}

net_bridge() {
    printf "<network>\n  <name>%s</name>\n  <forward mode='bridge'/>\n  <bridge name='%s'/>\n</network>\n" "$1" "$2"
}

# define_net HOST < XML
define_net() {
    local f
    f=$(mktemp "$WORK/net.XXXXXX")
    cat >"$f"
    vctl_on "$1" net-define "$f" >/dev/null || die "net-define on host $1: $(cat "$f")"
}

define_networks() {
    # Same names, other devices and pool sizes; A's vepa network has a
    # portgroup B's lacks, and one network exists on A only.
    PORTGROUPS="  <portgroup name='eng'/>
" net_pool "$PREFIX-vepa" vepa "${A_NICS[@]}" | define_net A
    net_pool "$PREFIX-onlya" vepa "${A_NICS[1]}" | define_net A
    net_pool "$PREFIX-vepa" vepa "${B_NICS[@]}" | define_net B
    net_bridge "$PREFIX-br" "$A_BR" | define_net A
    net_bridge "$PREFIX-br" "$B_BR" | define_net B
    net_pool "$PREFIX-pt" passthrough "${A_PT[@]}" | define_net A
    net_pool "$PREFIX-pt" passthrough "${B_PT[@]}" | define_net B
}

# guest HOST NAME MAC NETWORK: define a Form A guest on HOST, encoded.
guest() {
    form_a "$2" "$3" "$4" >"$WORK/$2.xml"
    vctl_on "$1" domain-encode "$WORK/$2.xml" >"$WORK/$2.formb.xml" || return 1
    vsh "$1" define "$WORK/$2.formb.xml" >/dev/null
}

# migrate FROM TO NAME [virsh migrate options]: live migration over the
# hosts' link.
migrate() {
    local from=$1 to=$2 g=$3
    shift 3
    vsh "$from" migrate --live "$@" "$g" "qemu+tcp://${TH_ADDR[$to]}/system" "tcp://${TH_ADDR[$to]}"
}


# ---- reading a host ------------------------------------------------------------------

# in_host HOST FUNC ARGS...: a lib.sh function run inside HOST's namespaces
# (its /sys, /run/libvirt, bus).
in_host() {
    local h=$1
    shift
    on "$h" env BIN="$BIN" E2E_CMD_TIMEOUT="$E2E_CMD_TIMEOUT" bash -c '. "$1"; shift; "$@"' _ "$HERE/lib.sh" "$@"
}

hq_pid() { on "$1" cat "/run/libvirt/qemu/$2.pid" 2>/dev/null; }
h_state() { vsh "$1" domstate "$2" 2>/dev/null | head -n1; }
h_running_list() { vsh "$1" list --name 2>/dev/null | grep -v '^$' | sort | tr '\n' ' '; }
h_uuid() { vsh "$1" domuuid "$2" 2>/dev/null | head -n1; }
# link_up_in HOST LINK: administratively up (the UP flag, not carrier).
link_up_in() { on "$1" ip -o link show dev "$2" 2>/dev/null | is_up_line; }
link_down_in() { on "$1" ip -o link show dev "$2" 2>/dev/null | grep -q . && ! link_up_in "$1" "$2"; }
no_link_in() { ! on "$1" test -e "/sys/class/net/$2"; }
# vsw_links HOST: the virtswitch links (SPEC §2 target shape) of HOST.
vsw_links() {
    on "$1" ip -o link show 2>/dev/null | sed -n 's/^[0-9]*: \(vsw[0-9a-f]\{12\}\)[@:].*/\1/p' | sort | tr '\n' ' '
}
state_files() { on "$1" ls /run/virtswitch/domains 2>/dev/null | sort | tr '\n' ' '; }

# counts_of HOST: every network's connections and its devices in use, as
# HOST's daemon reports them (net-dumpxml --status over its bus).
counts_of() {
    local h=$1 n xml out=""
    for n in vepa br pt onlya; do
        xml=$(vctl_on "$h" net-dumpxml --status "$PREFIX-$n" 2>/dev/null) || continue
        out+="$n=$(printf '%s\n' "$xml" | sed -n "s/.*<network[^>]* connections='\\([0-9]*\\)'.*/\\1/p" | head -n1 | grep . || echo 0)"
        out+="$(printf '%s\n' "$xml" | sed -n "s/.*<interface dev='\\([^']*\\)' connections='\\([0-9]*\\)'.*/[\\1:\\2]/p" | tr -d '\n') "
    done
    echo "${out% }"
}

# ---- guests ----------------------------------------------------------------------------

# fill_kernel: a 83-byte multiboot image (a.out kludge, loaded at 1 MiB)
# that writes every word from 2 MiB to 60 MiB once and halts: a guest whose
# 58 MiB of memory are not zero, so a migration throttled with --bandwidth
# copies for seconds (an idle BIOS guest's memory is zero pages, copied in
# a blink). No disk, no OS.
fill_kernel() {
    printf '\x02\xb0\xad\x1b\x00\x00\x01\x00\xfe\x4f\x51\xe4'  # magic, flags (addresses valid), checksum
    printf '\x00\x00\x10\x00\x00\x00\x10\x00'                  # header_addr, load_addr = 1 MiB
    printf '\x00\x00\x00\x00\x00\x00\x00\x00'                  # load_end (whole file), bss_end
    printf '\x20\x00\x10\x00'                                  # entry = 1 MiB + 32
    printf '\xfa\xbf\x00\x00\x20\x00'                          # cli; mov edi, 2 MiB
    printf '\x89\x3f\x83\xc7\x04\x81\xff\x00\x00\xc0\x03\x72\xf3' # 1: mov [edi],edi; add edi,4; cmp edi,60 MiB; jb 1b
    printf '\xf4\xeb\xfd'                                      # 2: hlt; jmp 2b
}

# fill_guest HOST NAME MAC NETWORK: like guest, booting the fill kernel.
# Always TCG: under this machine's nested KVM each first touch of a guest
# page costs ~1.5 ms (32 MiB took 24 s), under TCG the fill takes < 0.5 s.
fill_guest() {
    form_a "$2" "$3" "$4" |
        sed -e "s|<type arch='x86_64' machine='pc'>hvm</type>|&<kernel>$WORK/fill.bin</kernel>|" \
            -e "s|<domain type='[a-z]*'>|<domain type='qemu'>|" >"$WORK/$2.xml"
    vctl_on "$1" domain-encode "$WORK/$2.xml" >"$WORK/$2.formb.xml" || return 1
    vsh "$1" define "$WORK/$2.formb.xml" >/dev/null
}

fill_start() { fill_guest "$@" && vsh "$1" start "$2" >/dev/null && wait_for 30 "$2 to fill its memory" filled "$1" "$2"; }
# filled HOST NAME: the fill kernel has written its last word.
filled() { vsh "$1" qemu-monitor-command --hmp "$2" 'xp /1wx 0x3bffffc' 2>/dev/null | grep -q ': 0x03bffffc'; }

# mem_processed HOST NAME: MiB the running migration job has sent (0 if none).
mem_processed() {
    vsh "$1" domjobinfo "$2" 2>/dev/null | awk '/^Memory processed:/ { v = $3; u = $4;
        if (u == "KiB") v /= 1024; else if (u == "GiB") v *= 1024; else if (u == "B") v = 0; printf "%d", v; found = 1 }
        END { if (!found) print 0 }'
}

# wait_copying HOST NAME MIB: until the outgoing job has sent MIB MiB.
wait_copying() {
    local h=$1 g=$2 mib=$3 end=$((SECONDS + 60))
    while [ "$(mem_processed "$h" "$g")" -lt "$mib" ]; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# migrate_bg FROM TO NAME [options]: start a migration in the background;
# MIG_PID, MIG_OUT.
migrate_bg() {
    MIG_OUT=$WORK/migrate-$3.out
    migrate "$@" >"$MIG_OUT" 2>&1 &
    MIG_PID=$!
}

# ---- checks after a hop ----------------------------------------------------------------

# actual_has HOST NAME TEXT: HOST's daemon's status of the guest (its
# <actual>, through domain-status on HOST's bus) contains TEXT.
actual_has() {
    local st
    st=$(vctl_on "$1" domain-status "$(h_uuid "$1" "$2")") || return 1
    case $st in *"$3"*) return 0 ;; esac
    echo "$st"
    return 1
}
xml_mode() { [ "$1" = passthru ] && echo passthrough || echo "$1"; }

# check_arrived DEST SRC NAME MAC KIND DEVICE MODE: the guest runs on DEST
# and is gone from SRC. KIND is direct or bridge; DEVICE is DEST's pool
# device (direct) or bridge; MODE the macvtap mode (kernel's name).
check_arrived() {
    local d=$1 s=$2 g=$3 mac=$4 kind=$5 dev=$6 mode=$7 t pid
    t=$(mac_target "$mac")
    check_eq "$g runs on host $d" "$(h_state "$d" "$g")" running
    check_eq "$g no longer runs on host $s" "$(h_running_list "$s" | grep -c "$g ")" 0
    pid=$(hq_pid "$d" "$g")
    if [ "$kind" = direct ]; then
        check "host $d's QEMU holds host $d's macvtap $t (by device number)" in_host "$d" qemu_holds_macvtap "$pid" "$t"
        check_eq "$t's lower device on host $d" "$(in_host "$d" link_lower "$t")" "$dev"
        check_eq "$t's mode on host $d" "$(in_host "$d" macvtap_mode "$t")" "$mode"
        check "host $d's <actual> names $dev" actual_has "$d" "$g" "<source dev='$dev' mode='$(xml_mode "$mode")'/>"
    else
        check "host $d's QEMU holds a tun fd on $t" in_host "$d" qemu_holds_tap "$pid" "$t"
        check_eq "$t's bridge on host $d" "$(in_host "$d" link_master "$t")" "$dev"
    fi
    check_eq "$t's MAC on host $d" "$(in_host "$d" link_mac "$t")" "$([ "$kind" = direct ] && echo "$mac" || echo "fe${mac:2}")"
    check "$t is up on host $d (the guest runs there)" wait_for 15 "$t up on host $d" link_up_in "$d" "$t"
    check_eq "guest MAC in host $d's libvirt" "$(vsh "$d" domiflist "$g" | awk -v m="$mac" '$5 == m { print $5 }')" "$mac"
    check_eq "no virtswitch link left on host $s" "$(vsw_links "$s" | tr ' ' '\n' | grep -c "$t")" 0
}

# ---- cases -------------------------------------------------------------------------------

BASE_A="vepa=0 br=0 pt=0 onlya=0"
BASE_B="vepa=0 br=0 pt=0"

# start_on HOST NAME MAC NETWORK: define (encoded) and start.
start_on() { guest "$@" && vsh "$1" start "$2" >/dev/null; }

# gone NAME: destroy and undefine the guest on every host.
gone() {
    local h
    for h in "${TH_HOSTS[@]}"; do
        vsh "$h" destroy "$1" >/dev/null 2>&1
        vsh "$h" undefine "$1" >/dev/null 2>&1
    done
}

case_hops() {
    case_begin "2: vepa, host-bridge and passthrough guests migrate live A->B->A"
    # A guest of B's own first: B's first vepa device is in use, so the
    # incoming guest must get B's least-used device, ens1f1.
    check "host B's own guest starts" start_on B "$PREFIX-b1" 52:54:00:4d:0b:01 "$PREFIX-vepa"
    local base_b="vepa=1[${B_NICS[0]}:1] br=0 pt=0"
    check_eq "host B counts with its own guest" "$(counts_of B)" "$base_b"

    local g=$PREFIX-g1 mac=52:54:00:4d:00:01
    check "vepa guest starts on A" start_on A "$g" "$mac" "$PREFIX-vepa"
    check_eq "host A counts" "$(counts_of A)" "vepa=1[${A_NICS[0]}:1] br=0 pt=0 onlya=0"
    check "migrate --live A->B" migrate A B "$g"
    check_arrived B A "$g" "$mac" direct "${B_NICS[1]}" vepa
    check_eq "host B counts: one interface more, on ${B_NICS[1]}" "$(counts_of B)" "vepa=2[${B_NICS[0]}:1][${B_NICS[1]}:1] br=0 pt=0"
    check_eq "host A counts back to before the guest" "$(counts_of A)" "$BASE_A"
    check "host B's own guest holds its own macvtap" in_host B qemu_holds_macvtap "$(hq_pid B "$PREFIX-b1")" "$(mac_target 52:54:00:4d:0b:01)"
    check "migrate --live B->A" migrate B A "$g"
    check_arrived A B "$g" "$mac" direct "${A_NICS[0]}" vepa
    check_eq "host A counts" "$(counts_of A)" "vepa=1[${A_NICS[0]}:1] br=0 pt=0 onlya=0"
    check_eq "host B counts back to its own guest's" "$(counts_of B)" "$base_b"
    gone "$g"

    g=$PREFIX-g2 mac=52:54:00:4d:00:02
    check "host-bridge guest starts on A" start_on A "$g" "$mac" "$PREFIX-br"
    check "migrate --live A->B" migrate A B "$g"
    check_arrived B A "$g" "$mac" bridge "$B_BR" ""
    check_eq "host B counts" "$(counts_of B)" "vepa=1[${B_NICS[0]}:1] br=1 pt=0"
    check_eq "host A counts" "$(counts_of A)" "$BASE_A"
    check "migrate --live B->A" migrate B A "$g"
    check_arrived A B "$g" "$mac" bridge "$A_BR" ""
    check_eq "host A counts" "$(counts_of A)" "vepa=0 br=1 pt=0 onlya=0"
    check_eq "host B counts" "$(counts_of B)" "$base_b"
    gone "$g"

    g=$PREFIX-g3 mac=52:54:00:4d:00:03
    local a_mac b_mac
    a_mac=$(in_host A link_mac "${A_PT[0]}")
    b_mac=$(in_host B link_mac "${B_PT[0]}")
    check "passthrough guest starts on A" start_on A "$g" "$mac" "$PREFIX-pt"
    check_eq "${A_PT[0]} carries the guest MAC" "$(in_host A link_mac "${A_PT[0]}")" "$mac"
    check "migrate --live A->B" migrate A B "$g"
    check_arrived B A "$g" "$mac" direct "${B_PT[0]}" passthru
    check_eq "host B's ${B_PT[0]} carries the guest MAC" "$(in_host B link_mac "${B_PT[0]}")" "$mac"
    check_eq "host A's ${A_PT[0]} has its own MAC back" "$(in_host A link_mac "${A_PT[0]}")" "$a_mac"
    check_eq "host B counts" "$(counts_of B)" "vepa=1[${B_NICS[0]}:1] br=0 pt=1[${B_PT[0]}:1]"
    check_eq "host A counts" "$(counts_of A)" "$BASE_A"
    check "migrate --live B->A" migrate B A "$g"
    check_arrived A B "$g" "$mac" direct "${A_PT[0]}" passthru
    check_eq "host B's ${B_PT[0]} has its own MAC back" "$(in_host B link_mac "${B_PT[0]}")" "$b_mac"
    check_eq "host A counts" "$(counts_of A)" "vepa=0 br=0 pt=1[${A_PT[0]}:1] onlya=0"
    check_eq "host B counts" "$(counts_of B)" "$base_b"
    gone "$g"
    gone "$PREFIX-b1"
    check_eq "host A counts at the end" "$(counts_of A)" "$BASE_A"
    check_eq "host B counts at the end" "$(counts_of B)" "$BASE_B"
    check_eq "no virtswitch links left on A" "$(vsw_links A)" ""
    check_eq "no virtswitch links left on B" "$(vsw_links B)" ""
    case_end
}

case_link_down() {
    case_begin "3: the destination link stays down during the copy and comes up when the guest runs there"
    local g=$PREFIX-g4 mac=52:54:00:4d:00:04 t up=0 down=0 rc
    t=$(mac_target $mac)
    check "fill guest starts on A" fill_start A "$g" "$mac" "$PREFIX-vepa"
    migrate_bg A B "$g" --bandwidth 8
    # Up is wrong only while the source still runs the guest (after the
    # switch-over virsh takes a moment to return, the guest running on B).
    while pid_alive "$MIG_PID"; do
        if link_up_in B "$t"; then
            [ "$(h_state A "$g")" = running ] && up=$((up + 1))
        elif link_down_in B "$t"; then
            down=$((down + 1))
        fi
        sleep 0.1
    done
    wait "$MIG_PID"
    rc=$?
    check_eq "throttled migration A->B" "$rc" 0
    log "  during the copy: $down samples of $t down, $up up while A still ran the guest"
    check "$t seen down on B during the copy (>= 5 samples)" test "$down" -ge 5
    check_eq "samples of $t up on B while the guest still ran on A" "$up" 0
    check_arrived B A "$g" "$mac" direct "${B_NICS[0]}" vepa

    # --suspend: the guest arrives paused; the link waits for virsh resume.
    check "migrate --live --suspend B->A" migrate B A "$g" --suspend
    check_eq "$g paused on A" "$(h_state A "$g")" paused
    check "$t down on A while the guest is paused" link_down_in A "$t"
    sleep 2
    check "$t still down on A 2 s later" link_down_in A "$t"
    check "virsh resume on A" vsh A resume "$g"
    check "$t comes up on A" wait_for 15 "$t up on A" link_up_in A "$t"
    check_eq "host A counts" "$(counts_of A)" "vepa=1[${A_NICS[0]}:1] br=0 pt=0 onlya=0"
    check_eq "host B counts" "$(counts_of B)" "$BASE_B"
    gone "$g"
    case_end
}

# refused HOST_FROM HOST_TO NAME MESSAGE: the migration fails with the
# destination daemon's message, and changes nothing on either host.
refused() {
    local s=$1 d=$2 g=$3 msg=$4 out rc before_s before_d links_d files_d t
    before_s=$(counts_of "$s")
    before_d=$(counts_of "$d")
    links_d=$(vsw_links "$d")
    files_d=$(state_files "$d")
    out=$(migrate "$s" "$d" "$g" 2>&1)
    rc=$?
    check "virsh migrate $g $s->$d fails" test "$rc" -ne 0
    check_contains "virsh's error carries host $d's message" "$out" "$msg"
    check_eq "$g still runs on $s" "$(h_state "$s" "$g")" running
    t=$(mac_target "$(vsh "$s" domiflist "$g" | awk 'NR > 2 && $5 { print $5; exit }')")
    check "$g's link still up on $s" link_up_in "$s" "$t"
    check "$s's QEMU still holds it" in_host "$s" qemu_holds_macvtap "$(hq_pid "$s" "$g")" "$t"
    check "$g keeps its allocation on $s" actual_has "$s" "$g" "<actual type='direct'>"
    check_eq "counts on $s unchanged" "$(counts_of "$s")" "$before_s"
    check_eq "counts on $d unchanged" "$(counts_of "$d")" "$before_d"
    check_eq "links on $d unchanged" "$(vsw_links "$d")" "$links_d"
    check_eq "state files on $d unchanged" "$(state_files "$d")" "$files_d"
    check_eq "$g not defined on $d" "$(vsh "$d" list --all --name | grep -c "^$g\$")" 0
}

case_refusals() {
    case_begin "4: refusals (network, portgroup, exhausted exclusive pool) leave both hosts unchanged"
    local g=$PREFIX-g5
    check "guest on A's only-here network starts" start_on A "$g" 52:54:00:4d:00:05 "$PREFIX-onlya"
    refused A B "$g" "network '$PREFIX-onlya' is not defined on this host"
    gone "$g"

    g=$PREFIX-g6
    form_a "$g" 52:54:00:4d:00:06 "$PREFIX-vepa" | sed "s|<source network='$PREFIX-vepa'/>|<source network='$PREFIX-vepa' portgroup='eng'/>|" >"$WORK/$g.xml"
    vctl_on A domain-encode "$WORK/$g.xml" >"$WORK/$g.formb.xml"
    check "guest with portgroup 'eng' starts on A" vsh A define "$WORK/$g.formb.xml"
    vsh A start "$g" >/dev/null || fail "start $g"
    refused A B "$g" "network '$PREFIX-vepa' has no portgroup 'eng'"
    gone "$g"

    check "host B's own passthrough guest takes its one device" start_on B "$PREFIX-b2" 52:54:00:4d:0b:02 "$PREFIX-pt"
    g=$PREFIX-g7
    check "passthrough guest starts on A" start_on A "$g" 52:54:00:4d:00:07 "$PREFIX-pt"
    refused A B "$g" "network '$PREFIX-pt' requires exclusive access to interfaces, but none are available"
    gone "$g"
    gone "$PREFIX-b2"
    check_eq "host A counts at the end" "$(counts_of A)" "$BASE_A"
    check_eq "host B counts at the end" "$(counts_of B)" "$BASE_B"
    case_end
}

# after_fault NAME T COUNTS_A: the source runs on with its allocation; the
# destination released everything.
after_fault() {
    local g=$1 t=$2
    check_eq "$g still runs on A" "$(h_state A "$g")" running
    check "$t still up on A" link_up_in A "$t"
    check "A's QEMU still holds $t" in_host A qemu_holds_macvtap "$(hq_pid A "$g")" "$t"
    check_eq "counts on A unchanged" "$(counts_of A)" "$3"
    check "B released the link" wait_for 30 "$t gone on B" no_link_in B "$t"
    check "B removed the state file" wait_for 30 "B's state files gone" test -z "$(state_files B)"
    check_eq "counts on B back to none" "$(counts_of B)" "$BASE_B"
    check_eq "$g not running on B" "$(h_running_list B | grep -c "$g ")" 0
}

case_faults() {
    case_begin "5: destination QEMU killed, job aborted, destination daemon restarted during the copy"
    local g=$PREFIX-g8 mac=52:54:00:4d:00:08 t rc pid ca
    t=$(mac_target $mac)
    check "fill guest starts on A" fill_start A "$g" "$mac" "$PREFIX-vepa"
    ca=$(counts_of A)

    migrate_bg A B "$g" --bandwidth 4
    check "the copy is under way (4 MiB sent)" wait_copying A "$g" 4
    pid=$(hq_pid B "$g")
    check "B's incoming QEMU exists" pid_alive "$pid"
    kill -9 "$pid"
    wait "$MIG_PID"
    rc=$?
    check "the migration fails" test "$rc" -ne 0
    log "  virsh: $(tr '\n' ' ' <"$MIG_OUT")"
    after_fault "$g" "$t" "$ca"

    migrate_bg A B "$g" --bandwidth 4
    check "the copy is under way again" wait_copying A "$g" 4
    check "virsh domjobabort on A" vsh A domjobabort "$g"
    wait "$MIG_PID"
    rc=$?
    check "the aborted migration fails" test "$rc" -ne 0
    check_contains "virsh says it was cancelled" "$(cat "$MIG_OUT")" "cancel"
    after_fault "$g" "$t" "$ca"

    migrate_bg A B "$g" --bandwidth 8
    check "the copy is under way (third time)" wait_copying A "$g" 4
    kill -9 "${TH_VSWD[B]}"
    wait "${TH_VSWD[B]}" 2>/dev/null
    th_start_vswd B
    wait "$MIG_PID"
    rc=$?
    check_eq "the migration completes across B's daemon restart" "$rc" 0
    check_arrived B A "$g" "$mac" direct "${B_NICS[0]}" vepa
    check_eq "counts on B: the guest once" "$(counts_of B)" "vepa=1[${B_NICS[0]}:1] br=0 pt=0"
    check_eq "counts on A back to none" "$(counts_of A)" "$BASE_A"
    check "reload on B" vctl_on B reload
    check_eq "counts on B after a reconcile" "$(counts_of B)" "vepa=1[${B_NICS[0]}:1] br=0 pt=0"
    gone "$g"
    check_eq "counts on B after destroy" "$(counts_of B)" "$BASE_B"
    case_end
}

# ---- mixed hosts: C runs plain libvirt (no virtswitch) ------------------------------

C_NIC=enp7s0

# setup_host_c: host C, linked to B only (10.99.1.0/24; a route to B's
# 10.99.0.2), libvirt without the hook and without virtswitchd, and a
# libvirt network of the same name as B's virtswitch network, vepa mode.
setup_host_c() {
    th_host C 10.99.1.3
    th_link B 10.99.1.2 C 10.99.1.3
    ip -n "${TH_NETNS[C]}" route add 10.99.0.0/24 via 10.99.1.2 || die "route from C to B"
    th_skip_ifindexes C 500
    th_nics C "$C_NIC"
    th_start_bus C
    th_start_libvirtd C 0
    printf "<network>\n  <name>%s</name>\n  <forward mode='vepa'>\n    <interface dev='%s'/>\n  </forward>\n</network>\n" \
        "$PREFIX-vepa" "$C_NIC" >"$WORK/net-c.xml"
    vsh C net-define "$WORK/net-c.xml" >/dev/null || die "libvirt network on host C"
    vsh C net-start "$PREFIX-vepa" >/dev/null || die "starting libvirt's network on host C"
}

# formb_inactive HOST NAME: the persistent definition runs virtswitch's
# Form B (no type='network' interface, an unmanaged target).
formb_inactive() {
    local x
    x=$(vsh "$1" dumpxml --inactive "$2") || return 1
    case $x in *"<interface type='network'>"*) return 1 ;; esac
    case $x in *"managed='no'"*) return 0 ;; esac
    return 1
}

# portable_xml HOST NAME: virtswitchctl dumpxml (Form A) into WORK.
portable_xml() { vctl_on "$1" dumpxml --migratable "$2" >"$WORK/$2.portable.xml"; }

# native_macvtap HOST NAME: the guest's QEMU holds a macvtap that libvirt made
# on C's NIC (by device number).
native_macvtap() {
    local l
    l=$(on "$1" ip -o link show type macvtap | sed -n "s/^[0-9]*: \([^@]*\)@$C_NIC:.*/\1/p" | head -n1)
    [ -n "$l" ] || { echo "no macvtap on $C_NIC in host $1"; return 1; }
    in_host "$1" qemu_holds_macvtap "$(hq_pid "$1" "$2")" "$l"
}

case_mixed() {
    case_begin "6: mixed hosts: libvirt's own network driver <-> virtswitch, --persistent both ways"
    [ -n "${TH_NETNS[C]:-}" ] || setup_host_c
    local g=$PREFIX-g9 mac=52:54:00:4d:00:09 t
    t=$(mac_target $mac)
    form_a "$g" "$mac" "$PREFIX-vepa" >"$WORK/$g.xml"
    check "Form A guest defined on plain host C" vsh C define "$WORK/$g.xml"
    check "it starts on libvirt's network driver" vsh C start "$g"
    check "C's libvirt gives it a macvtap on $C_NIC" native_macvtap C "$g"

    check "migrate --live --persistent C->B" migrate C B "$g" --persistent
    check_arrived B C "$g" "$mac" direct "${B_NICS[0]}" vepa
    check_eq "host B counts" "$(counts_of B)" "vepa=1[${B_NICS[0]}:1] br=0 pt=0"
    check "B's persistent definition becomes Form B" wait_for 15 "B's persistent $g in Form B" formb_inactive B "$g"
    check "destroy on B" vsh B destroy "$g"
    check_eq "host B counts after destroy" "$(counts_of B)" "$BASE_B"
    check "cold start on B from the persistent definition" vsh B start "$g"
    check_eq "$g runs on B" "$(h_state B "$g")" running
    check "B's QEMU holds B's macvtap" in_host B qemu_holds_macvtap "$(hq_pid B "$g")" "$t"
    check_eq "host B counts after the cold start" "$(counts_of B)" "vepa=1[${B_NICS[0]}:1] br=0 pt=0"

    check "virtswitchctl dumpxml on B gives the portable form" portable_xml B "$g"
    check "the portable form names the network" grep -q "<source network='$PREFIX-vepa'/>" "$WORK/$g.portable.xml"
    check "migrate --live --persistent --xml --persistent-xml B->C" \
        migrate B C "$g" --persistent --xml "$WORK/$g.portable.xml" --persistent-xml "$WORK/$g.portable.xml"
    check_eq "$g runs on C" "$(h_state C "$g")" running
    check "C's libvirt gives it a macvtap on $C_NIC" native_macvtap C "$g"
    check_eq "C's persistent definition is Form A" "$(vsh C dumpxml --inactive "$g" | grep -c "<interface type='network'>")" 1
    check "B released the link" wait_for 30 "$t gone on B" no_link_in B "$t"
    check_eq "host B counts" "$(counts_of B)" "$BASE_B"
    check_eq "B's state files" "$(state_files B)" ""
    gone "$g"
    case_end
}

# ---- main --------------------------------------------------------------------------

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0 # sourced by bench/migrate-bench.sh

install_packages
build
choose_accel
chmod 0755 "$WORK" # QEMU (user libvirt-qemu) reads the fill kernel from it
fill_kernel >"$WORK/fill.bin"
setup_hosts
define_networks

for c in ${MIGRATE_CASES-hops link_down refusals faults mixed}; do "case_$c"; done

log "passed: ${#E2E_PASSED[@]}, failed: ${#E2E_FAILED[@]}"
for c in "${E2E_FAILED[@]}"; do log "FAILED: $c"; done
[ ${#E2E_FAILED[@]} -eq 0 ]
