# shellcheck shell=bash
# Two libvirt "hosts" on one machine, for the live-migration suite
# (e2e/migrate.sh, bench/migrate-bench.sh). Sourced after e2e/lib.sh.
#
# A host is a network namespace plus a persistent mount namespace (a file
# bound by `unshare --mount=FILE`), and in them its own system bus (with the
# shipped policy), libvirtd (own host_uuid, pid file, tcp listener on the
# link between the hosts), virtswitchd (own config and state dirs) and the
# hook. Inside a host's mount namespace: /etc is an overlay of the machine's
# /etc (so the hook, which libvirt runs with a cleared environment, reads this
# host's /etc/virtswitch/networks at the default path) with /etc/libvirt,
# /etc/dbus-1 and /etc/virtswitch empty tmpfs of the host's own (an
# overlay's lower dir must not change under it, and another suite's
# libvirtd, hook and networks live in the machine's /etc; an empty
# /etc/libvirt is libvirt's defaults), /run, /var/lib/libvirt
# and /var/cache/libvirt are tmpfs, /var/log/libvirt is the host's log dir in
# the work dir, and /sys is a sysfs of the host's network namespace (with the
# cgroup2 hierarchy mounted again under it).
#
# Every mount is made through nsenter into the persistent mount namespace, so
# it stays for the processes started later the same way (`ip netns exec`
# would give each call a fresh mount namespace; docs/E2E.md).
#
# The sourcing script sets WORK, BIN, ROOT and calls th_cleanup on exit.

TH_NSDIR=/run/vswm                # bind-mounted private dir holding the mount ns files
TH_HOSTS=()                       # names of the hosts made (A, B)
declare -A TH_NETNS=() TH_ADDR=() TH_UUID=() TH_DIR=()
declare -A TH_LIBVIRTD=() TH_VSWD=() TH_DBUS=()

# on HOST CMD...: run CMD inside HOST's network and mount namespaces.
on() {
    local h=$1
    shift
    nsenter --mount="$TH_NSDIR/$h.mnt" --net="/run/netns/${TH_NETNS[$h]}" -- "$@"
}

# vsh HOST ARGS...: virsh on HOST's libvirtd, bounded.
vsh() {
    local h=$1
    shift
    on "$h" timeout "$E2E_CMD_TIMEOUT" virsh -c qemu:///system "$@"
}

# vctl_on HOST ARGS...: virtswitchctl on HOST's bus (and config dir).
vctl_on() {
    local h=$1
    shift
    on "$h" timeout "$E2E_CMD_TIMEOUT" "$BIN/virtswitchctl" "$@"
}

th_ns_ready() {
    if ! mountpoint -q "$TH_NSDIR"; then
        mkdir -p "$TH_NSDIR"
        mount --bind "$TH_NSDIR" "$TH_NSDIR" || die "bind-mounting $TH_NSDIR"
        mount --make-private "$TH_NSDIR" || die "making $TH_NSDIR private"
    fi
}

# th_remove_stale: what an interrupted run (kill -9 of the script) left:
# processes inside our namespaces, the namespaces, the mount ns files.
th_remove_stale() {
    local ns pid h
    for ns in vswmA vswmB vswmC; do
        [ -e "/run/netns/$ns" ] || continue
        log "removing what an earlier run left in netns $ns"
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        sleep 0.5
        ip netns del "$ns" 2>/dev/null
    done
    for h in A B C; do
        if [ -e "$TH_NSDIR/$h.mnt" ]; then
            umount "$TH_NSDIR/$h.mnt" 2>/dev/null
            rm -f "$TH_NSDIR/$h.mnt"
        fi
    done
}

# th_host HOST ADDR: make the namespaces and the mounts of one host.
th_host() {
    local h=$1 addr=$2 d=$WORK/host-$1
    TH_NETNS[$h]=vswm$h
    TH_ADDR[$h]=$addr
    TH_UUID[$h]=$(cat /proc/sys/kernel/random/uuid)
    TH_DIR[$h]=$d
    TH_HOSTS+=("$h")
    mkdir -p "$d/etc.up" "$d/etc.wk" "$d/log"
    ip netns add "${TH_NETNS[$h]}" || die "ip netns add ${TH_NETNS[$h]}"
    ip -n "${TH_NETNS[$h]}" link set lo up
    th_ns_ready
    touch "$TH_NSDIR/$h.mnt"
    unshare --mount="$TH_NSDIR/$h.mnt" --propagation private true || die "unshare mount ns for host $h"
    # shellcheck disable=SC2016
    on "$h" sh -ec '
        mkdir -p /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
        mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/etc.up,workdir=$1/etc.wk" /etc
        mount -t tmpfs -o mode=0755 tmpfs /run
        mount -t tmpfs -o mode=0755 tmpfs /var/lib/libvirt
        mount -t tmpfs -o mode=0755 tmpfs /var/cache/libvirt
        mount --bind "$1/log" /var/log/libvirt
        mount -t sysfs sysfs /sys
        mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true
        mkdir -p /etc/libvirt /etc/dbus-1 /etc/virtswitch
        for d in /etc/libvirt /etc/dbus-1 /etc/virtswitch; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
        mkdir -p /run/dbus /run/libvirt /etc/libvirt/hooks/qemu.d /etc/virtswitch/networks /etc/dbus-1/system.d
    ' th "$d" || die "mounting host $h's dirs"
}

# th_link A ADDR_A B ADDR_B: the veth between two hosts (vswm-AB in A,
# vswm-BA in B), with these addresses (/24).
th_link() {
    local a=$1 aa=$2 b=$3 ba=$4
    ip link add "vswm-$a$b" netns "${TH_NETNS[$a]}" type veth peer name "vswm-$b$a" netns "${TH_NETNS[$b]}" ||
        die "veth between $a and $b"
    ip -n "${TH_NETNS[$a]}" addr add "$aa/24" dev "vswm-$a$b"
    ip -n "${TH_NETNS[$b]}" addr add "$ba/24" dev "vswm-$b$a"
    ip -n "${TH_NETNS[$a]}" link set "vswm-$a$b" up
    ip -n "${TH_NETNS[$b]}" link set "vswm-$b$a" up
}

# th_skip_ifindexes HOST N: move HOST's ifindex counter past N by making N
# links (`ip link add ... index N` does not move the counter). Macvtap
# character devices are /dev/tap<ifindex> in the one devtmpfs of the
# machine, so the two hosts' macvtaps must never share an ifindex. The
# links are bridges, left down and in place: the kernel makes a thousand in
# ~0.1 s (with IPv6 off meanwhile) but unregisters only 25-60 a second, so
# they go with the namespace (in the background) and N is kept small.
th_skip_ifindexes() {
    local h=$1 n=$2 i f=$WORK/ifindex-$1.batch
    for ((i = 0; i < n; i++)); do echo "link add vswmskip$i type bridge"; done >"$f"
    on "$h" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip -n "${TH_NETNS[$h]}" -batch "$f" || die "making links in host $h"
    on "$h" sysctl -qw net.ipv6.conf.default.disable_ipv6=0
}

# th_nics HOST NAME...: veth "NICs" in HOST (peer NAME-p... no: NAMEp, up).
th_nics() {
    local h=$1 n
    shift
    for n in "$@"; do
        ip -n "${TH_NETNS[$h]}" link add "$n" type veth peer name "${n}p" || die "veth $n in host $h"
        ip -n "${TH_NETNS[$h]}" link set "${n}p" up
    done
}

# th_bridge HOST NAME: a host bridge, up.
th_bridge() {
    ip -n "${TH_NETNS[$1]}" link add "$2" type bridge || die "bridge $2 in host $1"
    ip -n "${TH_NETNS[$1]}" link set "$2" up
}

th_bus_up() {
    on "$1" timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.GetId >/dev/null 2>&1
}

# th_start_bus HOST: a system bus of HOST's own, with the shipped policy.
th_start_bus() {
    local h=$1
    on "$h" install -m 0644 "$ROOT/packaging/dbus/io.github.virtswitch1.conf" /etc/dbus-1/system.d/ ||
        die "installing the bus policy in host $h"
    TH_DBUS[$h]=$(on "$h" timeout 20 dbus-daemon --system --fork --print-pid) || die "dbus-daemon in host $h"
    wait_for 20 "host $h's bus" th_bus_up "$h" || die "host $h's bus does not answer"
}

th_libvirt_up() { vsh "$1" version >/dev/null 2>&1; }

# th_start_libvirtd HOST [HOOK]: libvirtd with its own host_uuid, pid file,
# tcp listener (migration; the namespace's own addresses only), log in the host's log dir; the
# qemu driver keeps stdio in files (no shared virtlogd) and makes no cgroups
# (two libvirtds would both want machine/qemu-1-NAME). HOOK=0: no hook.
th_start_libvirtd() {
    local h=$1 hook=${2:-1}
    on "$h" sh -c "cat >/etc/libvirt/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 1
listen_addr = "0.0.0.0"
auth_tcp = "none"
host_uuid = "${TH_UUID[$h]}"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
    on "$h" sh -c "cat >/etc/libvirt/qemu.conf" <<EOF
stdio_handler = "file"
cgroup_controllers = [ ]
EOF
    if [ "$hook" = 1 ]; then
        on "$h" install -m 0755 "$BIN/virtswitch-hook" /etc/libvirt/hooks/qemu.d/virtswitch || die "hook in host $h"
    else
        on "$h" rm -f /etc/libvirt/hooks/qemu.d/virtswitch
    fi
    on "$h" timeout 30 libvirtd -d -l -p /run/libvirtd.pid -f /etc/libvirt/libvirtd.conf ||
        die "libvirtd in host $h did not start"
    wait_for 60 "host $h's libvirtd" th_libvirt_up "$h" || die "host $h's libvirtd does not answer; see ${TH_DIR[$h]}/log"
    TH_LIBVIRTD[$h]=$(on "$h" cat /run/libvirtd.pid)
}

th_stop_libvirtd() {
    stop_pid "${TH_LIBVIRTD[$1]:-}" "host $1's libvirtd"
    TH_LIBVIRTD[$1]=""
}

th_vswd_up() {
    on "$1" timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:io.github.virtswitch1 2>/dev/null | grep -q 'boolean true'
}

# th_start_vswd HOST [ARGS...]: virtswitchd with the default config and state
# dirs (inside HOST's mount namespace), on HOST's bus, plumbing in HOST's netns.
th_start_vswd() {
    local h=$1
    shift
    on "$h" "$BIN/virtswitchd" "$@" >>"${TH_DIR[$h]}/virtswitchd.log" 2>&1 &
    TH_VSWD[$h]=$!
    wait_for 30 "host $h's virtswitchd" th_vswd_up "$h" || die "host $h's virtswitchd did not start; see ${TH_DIR[$h]}/virtswitchd.log"
}

th_stop_vswd() {
    stop_pid "${TH_VSWD[$1]:-}" "host $1's virtswitchd"
    TH_VSWD[$1]=""
}

# th_cleanup: guests destroyed, daemons stopped (by pid), namespaces and
# mounts removed. Each host's log dir stays in WORK.
th_cleanup() {
    local h d pid
    for h in "${TH_HOSTS[@]}"; do
        if [ -n "${TH_LIBVIRTD[$h]:-}" ] && pid_alive "${TH_LIBVIRTD[$h]:-}"; then
            for d in $(vsh "$h" list --name 2>/dev/null); do vsh "$h" destroy "$d" >/dev/null 2>&1; done
        fi
    done
    for h in "${TH_HOSTS[@]}"; do
        stop_pid "${TH_VSWD[$h]:-}" "host $h's virtswitchd"
        stop_pid "${TH_LIBVIRTD[$h]:-}" "host $h's libvirtd"
        stop_pid "${TH_DBUS[$h]:-}" "host $h's dbus-daemon"
        # Anything else still in the host's network namespace (QEMU a
        # killed libvirtd left behind) is ours.
        for pid in $(ip netns pids "${TH_NETNS[$h]}" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    done
    sleep 0.3
    for h in "${TH_HOSTS[@]}"; do
        # The host's configuration, for the logs.
        mkdir -p "${TH_DIR[$h]}/etc"
        on "$h" cp -a /etc/libvirt /etc/virtswitch "${TH_DIR[$h]}/etc/" 2>/dev/null
        ip netns del "${TH_NETNS[$h]}" 2>/dev/null
        umount "$TH_NSDIR/$h.mnt" 2>/dev/null
        rm -f "$TH_NSDIR/$h.mnt"
    done
    TH_HOSTS=()
}
