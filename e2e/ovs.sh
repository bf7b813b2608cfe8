# shellcheck shell=bash
# Open vSwitch for the e2e suite (issue 17), sourced by e2e/run.sh after
# host.sh: a private ovsdb-server and ovs-vswitchd from Debian's
# openvswitch-switch, in $WORK/ovs, with a bridge on the userspace datapath
# (datapath_type=netdev; no openvswitch kernel module is needed), one guest
# on an Open vSwitch network, and ovs_cleanup, which removes exactly that.
#
# virtswitchd is started with --ovs-db "$OVS_DB" (start_vswd's arguments).

OVS_DIR=$WORK/ovs
OVS_DB=unix:$OVS_DIR/db.sock
OVS_BRIDGE=vswe-ovs
OVSDB_PID=""
VSWITCHD_PID=""

ovs_() { timeout "$E2E_CMD_TIMEOUT" ovs-vsctl --timeout=10 --db="$OVS_DB" "$@"; }

# The daemons are started as simple commands (env execs them), never
# through a shell function: a backgrounded function runs in a subshell, $!
# would be the subshell's PID, and stopping it would leave the daemon
# running (holding, among others, the flock of /tmp/vsw-e2e.lock).
OVS_ENV=(OVS_RUNDIR="$OVS_DIR" OVS_LOGDIR="$OVS_DIR" OVS_DBDIR="$OVS_DIR" OVS_SYSCONFDIR="$OVS_DIR")

# start_ovs: database, ovs-vswitchd, and the bridge.
start_ovs() {
    local p
    for p in ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl; do
        command -v "$p" >/dev/null || die "$p missing (Debian package openvswitch-switch)"
    done
    mkdir -p "$OVS_DIR"
    ovsdb-tool create "$OVS_DIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema || die "ovsdb-tool create failed"
    env "${OVS_ENV[@]}" ovsdb-server "$OVS_DIR/conf.db" --remote="punix:$OVS_DIR/db.sock" \
        --unixctl="$OVS_DIR/ovsdb-server.ctl" --log-file="$OVS_DIR/ovsdb-server.log" >/dev/null 2>&1 &
    OVSDB_PID=$!
    wait_for 20 "ovsdb-server's socket" test -S "$OVS_DIR/db.sock" || die "ovsdb-server did not start; see $OVS_DIR"
    [ "$(cat "/proc/$OVSDB_PID/comm" 2>/dev/null)" = ovsdb-server ] || die "PID $OVSDB_PID is not ovsdb-server"
    ovs_ --no-wait init || die "ovs-vsctl init failed"
    env "${OVS_ENV[@]}" ovs-vswitchd "$OVS_DB" --unixctl="$OVS_DIR/ovs-vswitchd.ctl" \
        --log-file="$OVS_DIR/ovs-vswitchd.log" >/dev/null 2>&1 &
    VSWITCHD_PID=$!
    wait_for 10 "ovs-vswitchd" sh -c "[ \"\$(cat /proc/$VSWITCHD_PID/comm 2>/dev/null)\" = ovs-vswitchd ]" ||
        die "PID $VSWITCHD_PID is not ovs-vswitchd"
    link_exists "$OVS_BRIDGE" && die "link $OVS_BRIDGE already exists; a previous run may have left it"
    ovs_ add-br "$OVS_BRIDGE" -- set Bridge "$OVS_BRIDGE" datapath_type=netdev || die "ovs-vsctl add-br failed; see $OVS_DIR"
    wait_for 20 "bridge device $OVS_BRIDGE" link_exists "$OVS_BRIDGE" || die "no $OVS_BRIDGE device"
    ip link set "$OVS_BRIDGE" up
}

# ovs_cleanup: our OVS guest first (its release removes its port through
# the database), then the bridge, then the two processes (by PID).
ovs_cleanup() {
    if [ -n "$OVSDB_PID" ] && libvirt_up; then
        virsh_ destroy "$PREFIX-g9" >/dev/null 2>&1
        virsh_ undefine "$PREFIX-g9" >/dev/null 2>&1
    fi
    if pid_alive "$OVSDB_PID"; then
        ovs_ --no-wait --if-exists del-br "$OVS_BRIDGE" >/dev/null 2>&1
    fi
    stop_pid "$VSWITCHD_PID" ovs-vswitchd
    stop_pid "$OVSDB_PID" ovsdb-server
    link_exists "$OVS_BRIDGE" && ip link del "$OVS_BRIDGE" 2>/dev/null
    return 0
}

define_ovs_network() {
    cat >"$WORK/net-ovs.xml" <<EOF
<network>
  <name>$PREFIX-ovs</name>
  <forward mode='bridge'/>
  <bridge name='$OVS_BRIDGE'/>
  <virtualport type='openvswitch'/>
  <portgroup name='tenant' default='yes'>
    <vlan>
      <tag id='42'/>
    </vlan>
    <bandwidth>
      <inbound average='8000'/>
    </bandwidth>
  </portgroup>
</network>
EOF
    vctl net-define "$WORK/net-ovs.xml" >/dev/null || die "net-define ovs failed"
}

ovs_port_gone() { ! ovs_ --no-wait list-ports "$OVS_BRIDGE" | grep -qx "$1"; }

case_ovs() {
    case_begin "9: Open vSwitch network: the guest's tap is an OVS port with libvirt's external-ids and VLAN"
    local g=$PREFIX-g9 mac=52:54:00:e2:e0:09 t pid uuid ids
    t=$(mac_target $mac)
    check "define" define_guest "$g" "$mac" "$PREFIX-ovs"
    check "virsh start" virsh_ start "$g"
    pid=$(qemu_pid "$g")
    uuid=$(domuuid "$g")
    check "QEMU holds a tun fd attached to $t" qemu_holds_tap "$pid" "$t"
    check_eq "port's bridge" "$(ovs_ port-to-br "$t" 2>&1)" "$OVS_BRIDGE"
    ids=$(ovs_ get Interface "$t" external-ids 2>&1)
    check_contains "external-ids attached-mac" "$ids" "attached-mac=\"$mac\""
    check_contains "external-ids vm-id" "$ids" "vm-id=\"$uuid\""
    check_contains "external-ids iface-status" "$ids" "iface-status=active"
    check_contains "external-ids iface-id" "$ids" "iface-id="
    check_eq "VLAN tag (portgroup)" "$(ovs_ get Port "$t" tag 2>&1)" 42
    check_eq "ovs-vswitchd took the port (no error)" "$(ovs_ get Interface "$t" error 2>&1)" "[]"
    check "state file records the interfaceid OVS has" grep -q "interfaceid=$(ovs_ get Interface "$t" external-ids:iface-id | tr '"' "'")" "$(state_file "$g")"
    # Inbound leaves a tap: redirected from its clsact to IFB vso… (HTB),
    # still there after libvirt set the tap's root qdisc at start.
    check "the tap has the clsact redirect" sh -c "tc qdisc show dev $t | grep -q clsact"
    check "the portgroup's inbound 8000 KiB/s shapes IFB vso${t#vsw}" sh -c "tc class show dev vso${t#vsw} | grep -q 'rate 65536Kbit'"
    check_eq "connections" "$(connections "$PREFIX-ovs")" 1
    check "virsh destroy" virsh_ destroy "$g"
    check "tap removed" no_link "$t"
    check "IFB removed" no_link "vso${t#vsw}"
    check "OVS port removed" ovs_port_gone "$t"
    check_eq "connections after destroy" "$(connections "$PREFIX-ovs")" 0
    virsh_ undefine "$g" >/dev/null 2>&1
    case_end
}
