#!/usr/bin/env bash
# virtswitch end-to-end suite: a real libvirtd + QEMU from Debian, the hook
# installed where libvirt looks for it, virtswitchd on the system bus, and
# real guests. docs/E2E.md explains it; `make e2e` runs it.
#
# Needs: root, Debian 12, go. Installs (and keeps) libvirt and QEMU from
# Debian. Everything else it creates or starts is removed or stopped at the
# end, pass or fail; E2E_KEEP=1 keeps the work dir (logs) for a look.
#
# Assertions read what libvirt (virsh), the kernel (/sys, ip, /proc) and the
# daemon's D-Bus API report, never logs.
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=e2e/lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root: the suite installs libvirt and drives it as the system instance"
[ -f /etc/debian_version ] || die "this suite targets Debian 12 (apt packages, paths)"

PREFIX=vswe2e                          # guests, networks, policy file
NICS=(vswe-p0 vswe-p1 vswe-p2 vswe-p3) # veth "NICs" in the root namespace
BRIDGE=vswe-br0
GUEST_LINKS='vsw525400e2e*'            # our guests' MACs are 52:54:00:e2:e*

WORK=$(mktemp -d /tmp/virtswitch-e2e.XXXXXX)
BIN=$WORK/bin
# shellcheck source=e2e/host.sh
. "$HERE/host.sh"
# shellcheck source=e2e/ovs.sh
. "$HERE/ovs.sh"
# shellcheck source=e2e/bandwidth.sh
. "$HERE/bandwidth.sh"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    ovs_cleanup
    host_cleanup "$rc" "${E2E_KEEP:-0}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- setup -----------------------------------------------------------------------

# warn_foreign_taps: /dev/tapN nodes that are not macvtaps of this namespace
# belong to other namespaces' macvtaps and can collide with our links'
# ifindexes (docs/E2E.md, "Known problem").
warn_foreign_taps() {
    local nodes ours
    nodes=$(find /dev -maxdepth 1 -name 'tap[0-9]*' | wc -l)
    ours=$(ip -o link show type macvtap 2>/dev/null | wc -l)
    if [ "$nodes" -gt "$ours" ]; then
        log "warning: $((nodes - ours)) /dev/tapN node(s) belong to macvtaps in other network namespaces;" \
            "a guest link whose ifindex matches one gets the wrong device from libvirt (docs/E2E.md)"
    fi
}

define_networks() {
    cat >"$WORK/net-vepa.xml" <<EOF
<network>
  <name>$PREFIX-vepa</name>
  <forward mode='vepa'>
    <interface dev='${NICS[0]}'/>
    <interface dev='${NICS[1]}'/>
  </forward>
</network>
EOF
    cat >"$WORK/net-bridge.xml" <<EOF
<network>
  <name>$PREFIX-bridge</name>
  <forward mode='bridge'/>
  <bridge name='$BRIDGE'/>
</network>
EOF
    cat >"$WORK/net-pt.xml" <<EOF
<network>
  <name>$PREFIX-pt</name>
  <forward mode='passthrough'>
    <interface dev='${NICS[2]}'/>
    <interface dev='${NICS[3]}'/>
  </forward>
</network>
EOF
    local n
    for n in vepa bridge pt; do
        vctl net-define "$WORK/net-$n.xml" >/dev/null || die "net-define $n failed"
    done
}

# define_guest NAME MAC NETWORK: Form A → virtswitchctl domain-encode → virsh define.
define_guest() {
    form_a "$1" "$2" "$3" >"$WORK/$1.xml"
    vctl domain-encode "$WORK/$1.xml" | virsh_ define /dev/stdin >/dev/null
}

# start_new_guest NAME MAC NETWORK: define_guest, then virsh start.
start_new_guest() { define_guest "$@" && virsh_ start "$1" >/dev/null; }

# ---- cases -------------------------------------------------------------------------

absent() { ! test -e "$1"; }
no_link() { ! link_exists "$1"; }

# libvirt_has_form_b NAME TARGET: libvirt's live XML has the unmanaged
# ethernet interface and no type='network' interface.
libvirt_has_form_b() {
    local xml
    xml=$(virsh_ dumpxml "$1") || return 1
    case $xml in *"type='network'"*) return 1 ;; esac
    case $xml in *"<target dev='$2' managed='no'/>"*) return 0 ;; esac
    return 1
}

# state_file NAME: the daemon's state file for a guest.
state_file() { echo "$STATE_DIR/domains/$(domuuid "$1").xml"; }

case_macvtap() {
    case_begin "1: Form A via domain-encode starts on macvtap; destroy frees it"
    local g=$PREFIX-g1 mac=52:54:00:e2:e0:01 t pid
    t=$(mac_target $mac)
    check "virsh define of the encoded guest" define_guest "$g" "$mac" "$PREFIX-vepa"
    check "virsh start" virsh_ start "$g"
    check_eq "domain state" "$(domstate "$g")" running
    pid=$(qemu_pid "$g")
    check "QEMU holds /dev/tap$(link_ifindex "$t") ($t)" qemu_holds_macvtap "$pid" "$t"
    check_eq "macvtap lower device" "$(link_lower "$t")" "${NICS[0]}"
    check_eq "macvtap mode" "$(macvtap_mode "$t")" vepa
    check_eq "macvtap MAC" "$(link_mac "$t")" "$mac"
    local sf
    sf=$(state_file "$g")
    check "state file has <actual type='direct'>" grep -q "<actual type='direct'>" "$sf"
    check "state file names the device and mode" grep -q "<source dev='${NICS[0]}' mode='vepa'/>" "$sf"
    check_eq "connections on ${NICS[0]}" "$(connections "$PREFIX-vepa" "${NICS[0]}")" 1
    check "libvirt holds Form B (no type='network')" libvirt_has_form_b "$g" "$t"

    # A second guest goes to the least-used device.
    local g2=$PREFIX-g1b mac2=52:54:00:e2:e0:11
    check "second guest starts" start_new_guest "$g2" "$mac2" "$PREFIX-vepa"
    check_eq "second guest's lower device" "$(link_lower "$(mac_target $mac2)")" "${NICS[1]}"
    check_eq "network connections" "$(connections "$PREFIX-vepa")" 2
    virsh_ destroy "$g2" >/dev/null

    check "virsh destroy" virsh_ destroy "$g"
    check "link $t removed" no_link "$t"
    check "state file removed" absent "$sf"
    check_eq "connections after destroy" "$(connections "$PREFIX-vepa")" 0
    case_end
}

case_bridge() {
    case_begin "2: host-bridge network: tap enslaved while running"
    local g=$PREFIX-g2 mac=52:54:00:e2:e0:02 t pid
    t=$(mac_target $mac)
    check "define" define_guest "$g" "$mac" "$PREFIX-bridge"
    check "virsh start" virsh_ start "$g"
    pid=$(qemu_pid "$g")
    check "QEMU holds a tun fd attached to $t" qemu_holds_tap "$pid" "$t"
    check_eq "$t master" "$(link_master "$t")" "$BRIDGE"
    check_eq "tap MAC (first byte 0xfe)" "$(link_mac "$t")" "fe:54:00:e2:e0:02"
    check "state file has <actual type='bridge'>" grep -q "<source bridge='$BRIDGE'/>" "$(state_file "$g")"
    check_eq "connections" "$(connections "$PREFIX-bridge")" 1
    check "virsh destroy" virsh_ destroy "$g"
    check "tap removed" no_link "$t"
    check_eq "connections after destroy" "$(connections "$PREFIX-bridge")" 0
    case_end
}

case_exhausted() {
    case_begin "3: passthrough pool of 2: the third guest fails with PoolExhausted's text"
    local i g mac orig2 orig3
    orig2=$(link_mac "${NICS[2]}")
    orig3=$(link_mac "${NICS[3]}")
    for i in 3 4 5; do
        define_guest "$PREFIX-g$i" "52:54:00:e2:e0:0$i" "$PREFIX-pt" || fail "define g$i"
    done
    check "g3 starts" virsh_ start "$PREFIX-g3"
    check "g4 starts" virsh_ start "$PREFIX-g4"
    check_eq "g3 macvtap mode" "$(macvtap_mode "$(mac_target 52:54:00:e2:e0:03)")" passthru
    check_eq "g3's device carries the guest MAC" "$(link_mac "$(link_lower "$(mac_target 52:54:00:e2:e0:03)")")" 52:54:00:e2:e0:03
    local out rc
    out=$(virsh_ start "$PREFIX-g5" 2>&1)
    rc=$?
    check "g5's virsh start fails" test "$rc" -ne 0
    check_contains "virsh's error carries the daemon's text" "$out" "network '$PREFIX-pt' requires exclusive access to interfaces, but none are available"
    check_eq "g5 not running" "$(domstate "$PREFIX-g5")" "shut off"
    check "no link for g5" no_link "$(mac_target 52:54:00:e2:e0:05)"
    check_eq "connections stay 2" "$(connections "$PREFIX-pt")" 2
    virsh_ destroy "$PREFIX-g3" >/dev/null
    check "g5 starts once g3 is gone" virsh_ start "$PREFIX-g5"
    virsh_ destroy "$PREFIX-g4" >/dev/null
    virsh_ destroy "$PREFIX-g5" >/dev/null
    check_eq "${NICS[2]} MAC restored" "$(link_mac "${NICS[2]}")" "$orig2"
    check_eq "${NICS[3]} MAC restored" "$(link_mac "${NICS[3]}")" "$orig3"
    check_eq "connections after destroy" "$(connections "$PREFIX-pt")" 0
    case_end
}

case_restore() {
    case_begin "4: save, then restore --xml with Form A: the restore hook rewrites it"
    local g=$PREFIX-g1 mac=52:54:00:e2:e0:01 t pid save=$WORK/save/g1.save
    t=$(mac_target $mac)
    mkdir -p "$WORK/save"
    virsh_ start "$g" >/dev/null || fail "start $g"
    check "virsh save" virsh_ save "$g" "$save"
    check "link released by save" no_link "$t"
    check_eq "connections while saved" "$(connections "$PREFIX-vepa")" 0
    virsh_ save-image-dumpxml "$save" | vctl domain-decode >"$WORK/g1-saved-formA.xml"
    check "saved XML decoded to Form A" grep -q "<source network='$PREFIX-vepa'/>" "$WORK/g1-saved-formA.xml"
    check "virsh restore --xml FormA" virsh_ restore "$save" --xml "$WORK/g1-saved-formA.xml"
    check_eq "domain state" "$(domstate "$g")" running
    pid=$(qemu_pid "$g")
    check "QEMU holds the macvtap" qemu_holds_macvtap "$pid" "$t"
    # Made down by the restore's prepare; up once libvirt runs the guest.
    check "$t comes up once the restored guest runs" wait_for 15 "$t up" link_up "$t"
    check "state file has <actual>" grep -q "<actual type='direct'>" "$(state_file "$g")"
    check "libvirt runs it in Form B" libvirt_has_form_b "$g" "$t"
    check_eq "connections" "$(connections "$PREFIX-vepa")" 1
    # Left running for case 5.
    case_end
}

counts() {
    echo "vepa=$(connections "$PREFIX-vepa") $(connections "$PREFIX-vepa" "${NICS[0]}")/$(connections "$PREFIX-vepa" "${NICS[1]}")" \
        "bridge=$(connections "$PREFIX-bridge") pt=$(connections "$PREFIX-pt")"
}

case_restarts() {
    case_begin "5: libvirtd and virtswitchd restarts keep guests and counts"
    local g
    [ "$(domstate "$PREFIX-g1")" = running ] || virsh_ start "$PREFIX-g1" >/dev/null
    for g in g2 g3 g4; do virsh_ start "$PREFIX-$g" >/dev/null || fail "start $g"; done
    local before pids
    before=$(counts)
    pids=$(for g in g1 g2 g3 g4; do qemu_pid "$PREFIX-$g"; done | tr '\n' ' ')
    log "  counts before: $before; QEMU pids: $pids"

    stop_pid "$STARTED_LIBVIRTD" libvirtd
    libvirtd_start
    # libvirt reconnects to running guests in the background (the hook's
    # "reconnect begin" runs then); wait until it lists them again.
    wait_for 60 "libvirt to reconnect the guests" bash -c \
        "[ \$(virsh -c qemu:///system list --name | grep -c '^$PREFIX-') -eq 4 ]" || fail "guests not listed after libvirtd restart"
    check_eq "QEMU pids after libvirtd restart" "$(for g in g1 g2 g3 g4; do qemu_pid "$PREFIX-$g"; done | tr '\n' ' ')" "$pids"
    check_eq "counts after libvirtd restart" "$(counts)" "$before"

    kill -9 "$VSWD_PID"
    wait "$VSWD_PID" 2>/dev/null
    start_vswd
    check_eq "counts after virtswitchd kill -9 + restart" "$(counts)" "$before"

    kill -9 "$VSWD_PID"
    wait "$VSWD_PID" 2>/dev/null
    local t2 out
    t2=$(mac_target 52:54:00:e2:e0:02)
    out=$(virsh_ destroy "$PREFIX-g2" 2>&1)
    check "destroy while virtswitchd is down succeeds" test $? -eq 0
    check "g2's tap is still there (nobody released it)" test -e "/sys/class/net/$t2"
    start_vswd
    check "after restart: g2's tap deleted" no_link "$t2"
    check_eq "after restart: bridge connections" "$(connections "$PREFIX-bridge")" 0
    check_eq "after restart: other counts unchanged" "$(counts)" "${before/bridge=1/bridge=0}"
    for g in g1 g3 g4; do
        check_eq "$g still running" "$(domstate "$PREFIX-$g")" running
        virsh_ destroy "$PREFIX-$g" >/dev/null
    done
    check_eq "all freed" "$(counts)" "vepa=0 0/0 bridge=0 pt=0"
    case_end
}

# inactive_names_network NAME NET: the persistent definition still has a
# Form A interface on NET.
inactive_names_network() {
    local xml
    xml=$(virsh_ dumpxml --inactive "$1") || return 1
    case $xml in *"<source network='$2'/>"*) return 0 ;; esac
    return 1
}

case_adoption() {
    case_begin "6: adoption: virsh define of Form A → Form B; starts on macvtap; a transient Form A is refused"
    local g=$PREFIX-g6 mac=52:54:00:e2:e0:06 t pid out rc
    t=$(mac_target $mac)
    form_a "$g" $mac "$PREFIX-vepa" >"$WORK/$g.xml"
    check "virsh define of Form A" virsh_ define "$WORK/$g.xml"
    check "virsh dumpxml --inactive shows Form B (adopted)" wait_for 10 "adoption of $g" inactive_is_form_b "$g" "$t"
    check "virsh start" virsh_ start "$g"
    pid=$(qemu_pid "$g")
    check "QEMU holds /dev/tap$(link_ifindex "$t") ($t)" qemu_holds_macvtap "$pid" "$t"
    check_eq "connections" "$(connections "$PREFIX-vepa")" 1
    check "virsh destroy" virsh_ destroy "$g"
    check_eq "connections after destroy" "$(connections "$PREFIX-vepa")" 0

    local g2=$PREFIX-g6t
    form_a "$g2" 52:54:00:e2:e0:16 "$PREFIX-vepa" >"$WORK/$g2.xml"
    out=$(virsh_ create "$WORK/$g2.xml" 2>&1)
    rc=$?
    check "virsh create of a transient Form A guest fails" test "$rc" -ne 0
    check_contains "error names the network" "$out" "virtswitch network '$PREFIX-vepa'"
    check_contains "error says transient domains are not adopted" "$out" "transient domain is never adopted"
    check_eq "connections untouched" "$(connections "$PREFIX-vepa")" 0

    # The race-free commands, against this libvirtd.
    check "virtswitchctl create of the transient Form A guest" vctl create "$WORK/$g2.xml"
    check_eq "it runs" "$(domstate "$g2")" running
    check "QEMU holds its macvtap" qemu_holds_macvtap "$(qemu_pid "$g2")" "$(mac_target 52:54:00:e2:e0:16)"
    check_eq "virtswitchctl dumpxml gives its Form A" "$(vctl dumpxml "$g2" | grep -c "<source network='$PREFIX-vepa'/>")" 1
    virsh_ destroy "$g2" >/dev/null
    local g3=$PREFIX-g6d
    form_a "$g3" 52:54:00:e2:e0:26 "$PREFIX-vepa" >"$WORK/$g3.xml"
    check "virtswitchctl define" vctl define "$WORK/$g3.xml"
    check "libvirt holds Form B at once" inactive_is_form_b "$g3" "$(mac_target 52:54:00:e2:e0:26)"
    check "it starts" virsh_ start "$g3"
    virsh_ destroy "$g3" >/dev/null
    check_eq "connections after destroy" "$(connections "$PREFIX-vepa")" 0
    case_end
}

case_adoption_off_and_restarts() {
    case_begin "7: adoption off leaves Form A (start refused, naming the fix); on at start adopts; libvirtd restart → still adopting"
    local g=$PREFIX-g7 mac=52:54:00:e2:e0:07 t out rc
    t=$(mac_target $mac)
    stop_pid "$VSWD_PID" virtswitchd
    start_vswd --adopt=false
    form_a "$g" $mac "$PREFIX-vepa" >"$WORK/$g.xml"
    check "virsh define of Form A" virsh_ define "$WORK/$g.xml"
    sleep 2
    check "adoption off: still Form A" inactive_names_network "$g" "$PREFIX-vepa"
    out=$(virsh_ start "$g" 2>&1)
    rc=$?
    check "virsh start fails" test "$rc" -ne 0
    check_contains "error names the network" "$out" "virtswitch network '$PREFIX-vepa'"
    check_contains "error names adoption off" "$out" "adoption is off"
    check_contains "error tells how to redefine it" "$out" "virtswitchctl define $g.xml"

    stop_pid "$VSWD_PID" virtswitchd
    start_vswd
    check "adopted at virtswitchd start" wait_for 10 "adoption of $g" inactive_is_form_b "$g" "$t"

    stop_pid "$STARTED_LIBVIRTD" libvirtd
    libvirtd_start
    local g2=$PREFIX-g7b mac2=52:54:00:e2:e0:17
    form_a "$g2" $mac2 "$PREFIX-bridge" >"$WORK/$g2.xml"
    check "virsh define after the libvirtd restart" virsh_ define "$WORK/$g2.xml"
    check "adopted after the libvirtd restart" wait_for 20 "adoption of $g2" inactive_is_form_b "$g2" "$(mac_target $mac2)"
    check "it starts" virsh_ start "$g2"
    check_eq "bridge connections" "$(connections "$PREFIX-bridge")" 1
    virsh_ destroy "$g2" >/dev/null
    case_end
}

# ---- main --------------------------------------------------------------------------

install_packages
build
choose_accel
start_bus
start_libvirt
start_ovs
VSWD_ARGS=(--ovs-db "$OVS_DB")
start_vswd
warn_foreign_taps
make_links
define_networks
define_ovs_network

case_macvtap
case_bridge
case_exhausted
case_restore
case_restarts
case_adoption
case_adoption_off_and_restarts
case_ovs
case_own_bandwidth

log "passed: ${#E2E_PASSED[@]}, failed: ${#E2E_FAILED[@]}"
for c in "${E2E_FAILED[@]}"; do log "FAILED: $c"; done
[ ${#E2E_FAILED[@]} -eq 0 ]
