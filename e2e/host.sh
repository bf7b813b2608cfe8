# shellcheck shell=bash
# The host stack both e2e/run.sh and bench/virsh-bench.sh stand up (sourced
# after e2e/lib.sh): libvirt and QEMU from Debian, the system bus with the
# shipped policy, virtlogd and libvirtd, the hook in qemu.d, virtswitchd,
# veth "NICs" in the root namespace; and host_cleanup, which undoes exactly
# what this run started or changed.
#
# The sourcing script sets, before calling anything here:
#   WORK BIN ROOT    work dir, binaries dir, source tree
#   PREFIX           names of its guests, networks and policy file
#   NICS, BRIDGE     veth "NICs" (array) and an optional bridge for make_links
#   GUEST_LINKS      glob (in /sys/class/net) of its guests' links, removed if left

# Fixed by libvirt and SPEC: the hook's path, the bus socket and the config
# dir the hook reads (libvirt runs hooks with a cleared environment, so the
# hook only ever sees its defaults; see docs/E2E.md).
HOOK_PATH=/etc/libvirt/hooks/qemu.d/virtswitch
CONFIG_DIR=/etc/virtswitch/networks
STATE_DIR=/run/virtswitch
BUS_SOCKET=/run/dbus/system_bus_socket
POLICY_PATH=/etc/dbus-1/system.d/io.github.virtswitch1-$PREFIX.conf

# What this run started or changed, for host_cleanup.
STARTED_DBUS=""
STARTED_VIRTLOGD=""
STARTED_LIBVIRTD=""
VSWD_PID=""
HOOK_BACKUP=""
KVM_MODE=""
MADE_DIRS=()
MOUNTS=()
LINKS=()

# host_cleanup RC [KEEP]: stop and remove everything above, then exit RC.
# The work dir is kept (logs) when RC != 0 or KEEP is 1.
host_cleanup() {
    local rc=$1 keep=${2:-0}
    log "cleaning up"
    if libvirt_up; then
        local d n
        for d in $(virsh_ list --all --name 2>/dev/null | grep "^$PREFIX-"); do
            virsh_ destroy "$d" >/dev/null 2>&1
            virsh_ undefine "$d" >/dev/null 2>&1
        done
        for n in $(virsh_ net-list --all --name 2>/dev/null | grep "^$PREFIX-"); do
            virsh_ net-destroy "$n" >/dev/null 2>&1
            virsh_ net-undefine "$n" >/dev/null 2>&1
        done
    fi
    rm -f /var/log/libvirt/qemu/"$PREFIX"-*.log
    if pid_alive "$VSWD_PID"; then
        local n
        for n in $(ls "$CONFIG_DIR" 2>/dev/null | sed -n "s/^\\($PREFIX-.*\\)\\.xml\$/\\1/p"); do
            vctl net-undefine "$n" >/dev/null 2>&1
        done
    fi
    stop_pid "$VSWD_PID" virtswitchd
    # Whatever a failed step left: our networks' files, our guests' links.
    rm -f "$CONFIG_DIR/$PREFIX"-*.xml
    local l
    for l in /sys/class/net/$GUEST_LINKS; do [ -e "$l" ] && ip link del "${l##*/}" 2>/dev/null; done
    if [ -n "$STARTED_LIBVIRTD" ]; then stop_pid "$STARTED_LIBVIRTD" libvirtd; fi
    if [ -n "$STARTED_VIRTLOGD" ]; then stop_pid "$STARTED_VIRTLOGD" virtlogd; fi
    if [ -n "$HOOK_BACKUP" ]; then
        mv -f "$HOOK_BACKUP" "$HOOK_PATH"
    else
        rm -f "$HOOK_PATH"
    fi
    rm -f "$POLICY_PATH"
    if [ -n "$STARTED_DBUS" ]; then
        stop_pid "$STARTED_DBUS" dbus-daemon
        rm -f /run/dbus/pid "$BUS_SOCKET"
    else
        dbus-send --system --dest=org.freedesktop.DBus --type=method_call /org/freedesktop/DBus \
            org.freedesktop.DBus.ReloadConfig >/dev/null 2>&1
    fi
    for l in "${LINKS[@]}"; do ip link del "$l" 2>/dev/null; done
    if [ -n "$KVM_MODE" ]; then
        chown "${KVM_MODE#* }" /dev/kvm
        chmod "${KVM_MODE%% *}" /dev/kvm
    fi
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}" 2>/dev/null; done
    for ((i = ${#MADE_DIRS[@]} - 1; i >= 0; i--)); do rmdir "${MADE_DIRS[$i]}" 2>/dev/null; done
    if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then
        log "logs kept in $WORK (remove it when done)"
        [ "$keep" = 1 ] || rm -rf "${WORK:?}/bin" "${WORK:?}/save"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}

# mkdir_tracked DIR: mkdir -p, remembering each level made so cleanup can
# remove it again (only if empty).
mkdir_tracked() {
    local d=$1 missing=()
    while [ ! -d "$d" ]; do
        missing=("$d" "${missing[@]}")
        d=$(dirname "$d")
    done
    for d in "${missing[@]}"; do
        mkdir -m 0755 "$d" || die "mkdir $d"
        MADE_DIRS+=("$d")
    done
}

install_packages() {
    local pkgs=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils dbus iproute2 openvswitch-switch)
    local missing=() p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        timeout 900 apt-get update -qq || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1 ||
            die "apt-get install failed; see $WORK/apt.log"
    fi
    # libvirt-daemon-system would create these; the QEMU driver refuses to
    # load when its configured user (Debian: libvirt-qemu) does not exist.
    getent group kvm >/dev/null || groupadd --system kvm
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
    if ! getent passwd libvirt-qemu >/dev/null; then
        useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin \
            -g libvirt-qemu -G kvm libvirt-qemu
    fi
}

# KVM when /dev/kvm works; udev would make it root:kvm 0660 so QEMU (user
# libvirt-qemu) can open it. Without that, libvirt (root) sees KVM while
# QEMU cannot use it, and libvirt re-probes QEMU on every lookup (seconds
# each); so we either make it usable or leave it alone and use TCG.
choose_accel() {
    DOMTYPE=qemu
    if [ -c /dev/kvm ] && timeout 20 qemu-system-x86_64 -accel kvm -machine none -nodefaults -display none \
        -S -monitor none -serial none -daemonize -pidfile "$WORK/kvmprobe.pid" >/dev/null 2>&1; then
        stop_pid "$(cat "$WORK/kvmprobe.pid")" "kvm probe"
        KVM_MODE="$(stat -c '%a %u:%g' /dev/kvm)"
        chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
        DOMTYPE=kvm
    fi
    log "guests use domain type '$DOMTYPE'"
}

build() {
    log "building virtswitchd, virtswitchctl, virtswitch-hook"
    mkdir -p "$BIN"
    (cd "$ROOT" &&
        CGO_ENABLED=0 go build -trimpath -o "$BIN/virtswitchd" ./dbusd &&
        CGO_ENABLED=0 go build -trimpath -o "$BIN/virtswitchctl" ./virtswitchctl &&
        CGO_ENABLED=0 go build -trimpath -o "$BIN/virtswitch-hook" ./hookbin) || die "build failed"
}

bus_up() {
    timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.GetId >/dev/null 2>&1
}

# The system bus at its standard socket: libvirt runs the hook with a cleared
# environment, so DBUS_SYSTEM_BUS_ADDRESS cannot reach it; the hook finds the
# bus at its default address, and so must virtswitchd.
start_bus() {
    unset DBUS_SYSTEM_BUS_ADDRESS
    install -m 0644 "$ROOT/packaging/dbus/io.github.virtswitch1.conf" "$POLICY_PATH" || die "installing the bus policy"
    if bus_up; then
        log "using the running system bus"
        timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.ReloadConfig >/dev/null || die "the system bus did not reload its policy"
        return
    fi
    if [ -f /run/dbus/pid ] && ! pid_alive "$(cat /run/dbus/pid)"; then
        rm -f /run/dbus/pid "$BUS_SOCKET" # left by a bus that died
    fi
    mkdir_tracked /run/dbus
    STARTED_DBUS=$(timeout 20 dbus-daemon --system --fork --print-pid) || die "dbus-daemon --system did not start"
    wait_for 20 "the system bus" bus_up || die "the system bus does not answer"
    log "started the system bus (pid $STARTED_DBUS)"
}

libvirt_up() { virsh -c qemu:///system version >/dev/null 2>&1; }

start_libvirt() {
    local pid
    pid=$(cat /run/libvirtd.pid 2>/dev/null)
    if pid_alive "$pid"; then
        die "libvirtd is already running (pid $pid); this suite starts and restarts its own: stop it first"
    fi
    mkdir_tracked /etc/libvirt/hooks/qemu.d
    if [ -e "$HOOK_PATH" ]; then
        HOOK_BACKUP=$WORK/hook.backup
        cp -a "$HOOK_PATH" "$HOOK_BACKUP"
    fi
    # The binary itself (SPEC §9); libvirt reads qemu.d when it starts.
    install -m 0755 "$BIN/virtswitch-hook" "$HOOK_PATH"
    start_libvirt_daemons
}

# start_libvirt_daemons: virtlogd (unless one runs) and libvirtd, logging
# into WORK; libvirtd reads the hook dir as it starts.
start_libvirt_daemons() {
    printf 'log_outputs="3:file:%s/virtlogd.log"\n' "$WORK" >"$WORK/virtlogd.conf"
    printf 'log_outputs="3:file:%s/libvirtd.log"\n' "$WORK" >"$WORK/libvirtd.conf"
    if ! pid_alive "$(cat /run/virtlogd.pid 2>/dev/null)"; then
        timeout 30 virtlogd -d -f "$WORK/virtlogd.conf" || die "virtlogd did not start"
        wait_for 20 "virtlogd's pid file" test -s /run/virtlogd.pid || die "virtlogd wrote no pid file"
        STARTED_VIRTLOGD=$(cat /run/virtlogd.pid)
    fi
    libvirtd_start
}

libvirtd_start() {
    timeout 30 libvirtd -d -f "$WORK/libvirtd.conf" || die "libvirtd did not start"
    wait_for 60 libvirtd libvirt_up || die "libvirtd does not answer; see $WORK/libvirtd.log"
    STARTED_LIBVIRTD=$(cat /run/libvirtd.pid)
}

vswd_up() {
    timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:io.github.virtswitch1 2>/dev/null | grep -q 'boolean true'
}

# start_vswd [FLAG...]: virtswitchd with the suite's dirs, VSWD_ARGS (flags
# for every start of a run, e.g. --ovs-db) and FLAGs (this start only).
start_vswd() {
    if vswd_up; then
        die "something already owns io.github.virtswitch1 on the system bus; stop that virtswitchd first"
    fi
    mkdir_tracked "$CONFIG_DIR"
    if [ ! -d "$STATE_DIR" ]; then
        mkdir_tracked "$STATE_DIR"
        MADE_DIRS+=("$STATE_DIR/domains") # the daemon makes it
    fi
    "$BIN/virtswitchd" --config-dir "$CONFIG_DIR" --state-dir "$STATE_DIR" ${VSWD_ARGS[@]+"${VSWD_ARGS[@]}"} "$@" >>"$WORK/virtswitchd.log" 2>&1 &
    VSWD_PID=$!
    wait_for 30 virtswitchd vswd_up || die "virtswitchd did not take its bus name; see $WORK/virtswitchd.log"
}

# make_links: the veth "NICs" (peer up, as a cable would be) and, when
# BRIDGE is set, the host bridge.
make_links() {
    local n
    for n in "${NICS[@]}" ${BRIDGE:+"$BRIDGE"}; do
        link_exists "$n" && die "link $n already exists; a previous run may have left it (ip link del $n)"
    done
    for n in "${NICS[@]}"; do
        ip link add "$n" type veth peer name "${n}p" || die "creating veth $n"
        LINKS+=("$n")
        ip link set "${n}p" up
    done
    [ -n "${BRIDGE:-}" ] || return 0
    ip link add "$BRIDGE" type bridge || die "creating bridge $BRIDGE"
    LINKS+=("$BRIDGE")
    ip link set "$BRIDGE" up
}

# form_a NAME MAC NETWORK: a portable (Form A) guest with one interface and
# no disk; it starts in about a second.
form_a() {
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
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>
  </devices>
</domain>
EOF
}
