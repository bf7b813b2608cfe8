# shellcheck shell=bash
# Helpers for e2e/run.sh (sourced). bash.
#
# Every wait on something outside this script is bounded: commands run under
# `timeout`, polls give up after a deadline.

E2E_CMD_TIMEOUT=${E2E_CMD_TIMEOUT:-120} # seconds for one virsh/virtswitchctl call

log() { printf '%s e2e: %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "FATAL: $*"
    exit 1
}

# ---- results ----------------------------------------------------------------

E2E_FAILED=()
E2E_PASSED=()
CASE=""
CASE_FAILS=0

case_begin() {
    CASE=$1
    CASE_FAILS=0
    log "=== case $CASE"
}

case_end() {
    if [ "$CASE_FAILS" -eq 0 ]; then
        E2E_PASSED+=("$CASE")
        log "--- PASS $CASE"
    else
        E2E_FAILED+=("$CASE")
        log "--- FAIL $CASE ($CASE_FAILS failed checks)"
    fi
}

fail() {
    CASE_FAILS=$((CASE_FAILS + 1))
    log "  FAIL: $*"
}

ok() { log "  ok: $*"; }

# check DESCRIPTION COMMAND...: the command must succeed. Its output goes to
# WORK/commands.log (kept when the run fails).
check() {
    local what=$1
    shift
    printf '## %s: %s\n' "$CASE" "$what" >>"$WORK/commands.log"
    if "$@" >>"$WORK/commands.log" 2>&1; then ok "$what"; else fail "$what"; fi
}

# check_eq DESCRIPTION GOT WANT
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

# check_contains DESCRIPTION HAYSTACK NEEDLE
check_contains() {
    case $2 in
    *"$3"*) ok "$1" ;;
    *) fail "$1: '$3' not in: $2" ;;
    esac
}

# ---- bounded commands ---------------------------------------------------------

virsh_() { timeout "$E2E_CMD_TIMEOUT" virsh -c qemu:///system "$@"; }
vctl() { timeout "$E2E_CMD_TIMEOUT" "$BIN/virtswitchctl" "$@"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.2 s until the command
# succeeds; returns 1 (and logs) if it never does.
wait_for() {
    local secs=$1 what=$2
    shift 2
    local end=$((SECONDS + secs))
    while ! "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$end" ]; then
            log "gave up after ${secs}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# stop_pid PID NAME: SIGTERM, then SIGKILL after 20 s.
stop_pid() {
    local pid=$1 name=$2
    pid_alive "$pid" || return 0
    kill "$pid" 2>/dev/null
    local end=$((SECONDS + 20))
    while pid_alive "$pid"; do
        if [ "$SECONDS" -ge "$end" ]; then
            log "$name ($pid) ignored SIGTERM; killing it"
            kill -9 "$pid" 2>/dev/null
            sleep 0.5
            return 0
        fi
        sleep 0.2
    done
}

# ---- what libvirt and the kernel report ---------------------------------------

link_exists() { [ -e "/sys/class/net/$1" ]; }
link_ifindex() { cat "/sys/class/net/$1/ifindex" 2>/dev/null; }
link_mac() { cat "/sys/class/net/$1/address" 2>/dev/null; }
link_master() { basename "$(readlink "/sys/class/net/$1/master" 2>/dev/null)" 2>/dev/null; }
# is_up_line: the `ip -o link` line on stdin has the UP flag (administratively
# up; not the carrier). link_up LINK: LINK is up.
is_up_line() { grep -q '<\([A-Z_-]*,\)*UP[,>]'; }
link_up() { ip -o link show dev "$1" 2>/dev/null | is_up_line; }
# macvtap mode as the kernel reports it (vepa, private, bridge, passthru).
macvtap_mode() { ip -d link show dev "$1" 2>/dev/null | sed -n 's/.*macvtap mode \([a-z]*\).*/\1/p'; }
# lower device of a macvlan/macvtap: "NAME@LOWER:" in ip's first line.
link_lower() { ip link show dev "$1" 2>/dev/null | sed -n "1s/^[0-9]*: $1@\\([^:]*\\):.*/\\1/p"; }

qemu_pid() {
    local pid
    pid=$(cat "/run/libvirt/qemu/$1.pid" 2>/dev/null) || return 1
    pid_alive "$pid" && echo "$pid"
}

domstate() { virsh_ domstate "$1" 2>/dev/null | head -n1; }
domuuid() { virsh_ domuuid "$1" 2>/dev/null | head -n1; }

# chardev_of PATH: "major:minor" (decimal) of a character device.
chardev_of() {
    local t
    t=$(stat -L -c '%t:%T' "$1" 2>/dev/null) || return 1
    printf '%d:%d' "0x${t%:*}" "0x${t#*:}"
}

# qemu_holds_macvtap PID LINK: the process has LINK's own macvtap character
# device open. Checked by device number, not by path: /dev/tapN is named
# after the ifindex, which is per network namespace, so with macvtaps in
# other namespaces /dev/tapN can be another namespace's device (and libvirt,
# which opens /dev/tapIFINDEX by path, then hands QEMU the wrong one).
qemu_holds_macvtap() {
    local idx want fd
    idx=$(link_ifindex "$2") || return 1
    want=$(cat "/sys/class/net/$2/tap$idx/dev" 2>/dev/null) || { echo "$2 has no macvtap char device"; return 1; }
    for fd in /proc/"$1"/fd/*; do
        case $(readlink "$fd" 2>/dev/null) in
        /dev/tap*)
            [ "$(chardev_of "$fd")" = "$want" ] && return 0
            echo "pid $1 holds $(readlink "$fd") = $(chardev_of "$fd"); $2's device is $want" \
                "(another namespace's macvtap has ifindex $idx too)"
            ;;
        esac
    done
    return 1
}

# qemu_holds_tap PID LINK: one of the process's /dev/net/tun fds is attached
# to LINK (fdinfo's iff: line).
qemu_holds_tap() {
    local fd
    for fd in /proc/"$1"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = /dev/net/tun ] || continue
        grep -qx "iff:[[:space:]]*$2" "/proc/$1/fdinfo/${fd##*/}" 2>/dev/null && return 0
    done
    # For the log: what the process holds instead.
    for fd in /proc/"$1"/fd/*; do
        case $(readlink "$fd" 2>/dev/null) in
        /dev/net/tun) echo "pid $1 holds /dev/net/tun: $(grep iff "/proc/$1/fdinfo/${fd##*/}")" ;;
        /dev/tap*) echo "pid $1 holds $(readlink "$fd") = $(chardev_of "$fd"): libvirt took tap $2" \
            "(ifindex $(link_ifindex "$2")) for a macvtap because /dev/tap$(link_ifindex "$2") exists (another namespace's macvtap)" ;;
        esac
    done
    return 1
}

# connections NETWORK [DEVICE]: the daemon's status view (virtswitchctl
# net-dumpxml --status): connections of the network, or of one pool device.
connections() {
    local xml
    xml=$(vctl net-dumpxml --status "$1") || return 1
    if [ $# -eq 1 ]; then
        printf '%s\n' "$xml" | sed -n "s/.*<network[^>]* connections='\\([0-9]*\\)'.*/\\1/p" | head -n1 | grep . || echo 0
    else
        printf '%s\n' "$xml" | sed -n "s/.*<interface dev='$2' connections='\\([0-9]*\\)'.*/\\1/p" | head -n1 | grep . || echo 0
    fi
}

# target NAME for a guest MAC (SPEC §2): vsw + 12 lower-case hex digits.
mac_target() { printf 'vsw%s' "$(printf '%s' "$1" | tr -d ':' | tr 'A-F' 'a-f')"; }

# inactive_is_form_b NAME TARGET: libvirt's persistent definition has the
# Form B interface and no type='network' interface.
inactive_is_form_b() {
    local xml
    xml=$(virsh_ dumpxml --inactive "$1") || return 1
    case $xml in *"type='network'"*) return 1 ;; esac
    case $xml in *"<target dev='$2' managed='no'/>"*) return 0 ;; esac
    return 1
}
