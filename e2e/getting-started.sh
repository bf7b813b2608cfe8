#!/usr/bin/env bash
# README "Getting started on a host", step by step, against the real
# libvirtd (issue 15 point 6): install the .deb, the service running with
# the unit's own command line (systemd is not PID 1 here: the package's
# postinst has the system bus start it, as its activation file says), a
# network file dropped as NAME.xml and `virtswitchctl reload`, then `virsh
# define` of a Form A guest and `virsh start`. `make e2e` runs it after
# e2e/run.sh; docs/E2E.md.
#
# Needs: root, Debian 12, go; a machine without the virtswitch package, the
# hook, or a running libvirtd (it refuses otherwise). Everything is removed
# at the end: guest, network file, the package (dpkg -P), libvirtd.
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=e2e/lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root"
[ -f /etc/debian_version ] || die "this suite targets Debian 12"

PREFIX=vswgs
NICS=(vswgs-p0)
BRIDGE=
GUEST_LINKS='vsw525400e3*'
UNIT=/usr/lib/systemd/system/virtswitchd.service
WORK=$(mktemp -d /tmp/virtswitch-getting-started.XXXXXX)
BIN=$WORK/bin
# shellcheck source=e2e/host.sh
. "$HERE/host.sh"

PKG_INSTALLED=""
UNMANAGED_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if libvirt_up; then
        virsh_ destroy "$PREFIX-guest" >/dev/null 2>&1
        virsh_ undefine "$PREFIX-guest" >/dev/null 2>&1
    fi
    rm -f "$CONFIG_DIR/$PREFIX-net.xml"
    if [ -n "$PKG_INSTALLED" ]; then
        # prerm stops the daemon it started (found through the bus).
        dpkg -P virtswitch >>"$WORK/dpkg.log" 2>&1 || log "dpkg -P virtswitch failed; see $WORK/dpkg.log"
    fi
    [ -n "$UNMANAGED_PID" ] && stop_pid "$UNMANAGED_PID" virtswitchd
    host_cleanup "$rc" "${E2E_KEEP:-0}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_packages
if dpkg-query -W -f='${Status}' virtswitch 2>/dev/null | grep -q "install ok installed"; then
    die "the virtswitch package is installed on this machine; this test installs and purges it: remove it first"
fi
[ -e "$HOOK_PATH" ] && die "$HOOK_PATH exists; this test installs the package's own"
pid=$(cat /run/libvirtd.pid 2>/dev/null)
pid_alive "$pid" && die "libvirtd is already running (pid $pid); stop it first"
choose_accel
start_bus

case_begin "getting started: package → service → network file → virsh define (Form A) → virsh start"
log "building the .deb (make deb)"
(cd "$ROOT" && make --no-print-directory deb BIN="$BIN" DIST="$WORK/dist" >"$WORK/make-deb.log" 2>&1) ||
    die "make deb failed; see $WORK/make-deb.log"
deb=$(ls "$WORK"/dist/virtswitch_*.deb)

# 1. Install the package.
PKG_INSTALLED=1
# README: apt install ./FILE.deb. Without Recommends here (libvirt-daemon-system
# would bring systemd units onto this shared machine; libvirt is already
# installed by install_packages).
check "apt-get install ./$(basename "$deb")" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$deb"

# 2. The service: started by the package (bus activation without systemd);
# otherwise with the unit's ExecStart, as systemd would.
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
check "the unit has an ExecStart" test -n "$exec_start"
if ! wait_for 30 "virtswitchd started by the package" vswd_up; then
    log "  the package did not start virtswitchd; starting it with the unit's command line"
    $exec_start >>"$WORK/virtswitchd.log" 2>&1 &
    UNMANAGED_PID=$!
fi
check "virtswitchd owns io.github.virtswitch1" wait_for 30 virtswitchd vswd_up
owner=$(timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.GetConnectionUnixProcessID string:io.github.virtswitch1 | sed -n 's/^ *uint32 \([0-9]*\)$/\1/p')
check_eq "its command line is the unit's ExecStart" "$(tr '\0' ' ' <"/proc/$owner/cmdline" | sed 's/ $//')" "$exec_start"

# libvirt reads its hook dir when it starts: after the package put the hook there.
check "the package installed the hook" test -x "$HOOK_PATH"
start_libvirt_daemons
make_links

# 3. A network file named NAME.xml, then reload.
cat >"$CONFIG_DIR/$PREFIX-net.xml" <<NET
<network>
  <name>$PREFIX-net</name>
  <forward mode='vepa'>
    <interface dev='${NICS[0]}'/>
  </forward>
</network>
NET
check "virtswitchctl reload" timeout 30 /usr/bin/virtswitchctl reload
check "virtswitchctl net-list shows it" bash -c "/usr/bin/virtswitchctl net-list | grep -q '$PREFIX-net'"

# 4. virsh define of a Form A guest, virsh start.
g=$PREFIX-guest
mac=52:54:00:e3:00:01
t=$(mac_target $mac)
form_a "$g" $mac "$PREFIX-net" >"$WORK/guest.xml"
check "virsh define guest.xml (Form A)" virsh_ define "$WORK/guest.xml"
check "adopted: libvirt holds Form B" wait_for 10 "adoption of $g" inactive_is_form_b "$g" "$t"
check "virsh start" virsh_ start "$g"
check_eq "domain state" "$(domstate "$g")" running
check "QEMU holds /dev/tap$(link_ifindex "$t") ($t)" qemu_holds_macvtap "$(qemu_pid "$g")" "$t"
check_eq "macvtap on ${NICS[0]}" "$(link_lower "$t")" "${NICS[0]}"
check "virsh destroy" virsh_ destroy "$g"
check "link removed" bash -c "! test -e /sys/class/net/$t"
case_end

log "passed: ${#E2E_PASSED[@]}, failed: ${#E2E_FAILED[@]}"
[ ${#E2E_FAILED[@]} -eq 0 ]
