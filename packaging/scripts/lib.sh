# Shared by every maintainer script of the .deb and the .rpm (the build
# prepends it, after setting VSW_SYSTEMCTL; see packaging/packaging.mk).
# POSIX sh: dash runs it on Debian.
# Each step works with systemd as PID 1 and without it (containers, other
# inits), and tolerates a missing system bus or libvirt.

VSW_UNIT=virtswitchd.service
VSW_NAME=io.github.virtswitch1
VSW_DAEMON=/usr/sbin/virtswitchd
VSW_RUNDIR=/run/virtswitch

vsw_warn() { echo "virtswitch: $*" >&2; }

# systemd manages services only when it is PID 1 (sd_booted's test).
vsw_systemd() { [ -d /run/systemd/system ]; }

# vsw_bus METHOD ARGS...: call the bus daemon itself on the system bus
# (DBUS_SYSTEM_BUS_ADDRESS is honoured). Fails when there is no bus.
vsw_bus() {
    command -v dbus-send >/dev/null 2>&1 || return 1
    dbus-send --system --print-reply --reply-timeout=20000 \
        --dest=org.freedesktop.DBus /org/freedesktop/DBus "$@" 2>/dev/null
}

# Make the bus re-read its policy and activation files, so the daemon may
# own its name (install) or no longer may (removal). Reload, never restart:
# restarting the system bus cuts every client off it.
vsw_reload_dbus() {
    if vsw_bus org.freedesktop.DBus.ReloadConfig >/dev/null; then
        return 0
    fi
    if vsw_systemd; then
        vsw_ctl reload dbus.service || true
    fi
    return 0
}

# vsw_ctl ACTION UNIT...: act on units through the format's tool, set in
# the script's header: deb-systemd-invoke on Debian (it honours
# policy-rc.d, and starts no unit the admin disabled), systemctl for rpm.
vsw_ctl() {
    "$VSW_SYSTEMCTL" "$@" >/dev/null 2>&1
}

vsw_unit() {
    vsw_ctl "$1" "$VSW_UNIT"
}

# pid of the process that owns the bus name, or nothing.
vsw_owner_pid() {
    vsw_bus org.freedesktop.DBus.GetConnectionUnixProcessID "string:$VSW_NAME" |
        sed -n 's/^ *uint32 \([0-9][0-9]*\)$/\1/p'
}

# Without systemd the bus starts the daemon on demand (the activation
# file's Exec=, as root); ask it to do so now.
vsw_start_unmanaged() {
    if vsw_bus org.freedesktop.DBus.StartServiceByName "string:$VSW_NAME" uint32:0 >/dev/null; then
        return 0
    fi
    vsw_warn "no system bus reachable: virtswitchd will be started by D-Bus activation on first use"
}

# Without systemd: stop the daemon that owns the name (found through the
# bus, never by process name), and only if it is our binary.
vsw_stop_unmanaged() {
    pid=$(vsw_owner_pid) || pid=
    [ -n "$pid" ] || return 0
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || exe=
    case "$exe" in
    "$VSW_DAEMON" | "$VSW_DAEMON (deleted)") ;;
    *)
        vsw_warn "$VSW_NAME is owned by pid $pid ($exe), not $VSW_DAEMON: left running"
        return 0
        ;;
    esac
    kill -TERM "$pid" 2>/dev/null || return 0
    # SIGTERM keeps links and state (guests keep running); give it 10 s to
    # finish calls in flight, then make sure it is gone.
    i=0
    while [ -d "/proc/$pid" ] && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -d "/proc/$pid" ]; then
        vsw_warn "virtswitchd (pid $pid) ignored SIGTERM for 10 s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    return 0
}

vsw_start() {
    if vsw_systemd; then
        systemctl daemon-reload >/dev/null 2>&1 || true
        vsw_unit start || vsw_warn "could not start $VSW_UNIT (see: journalctl -u $VSW_UNIT)"
    else
        vsw_start_unmanaged
    fi
    return 0
}

vsw_stop() {
    if vsw_systemd; then
        vsw_unit stop || true
    else
        vsw_stop_unmanaged
    fi
    return 0
}

# Restart a daemon that runs (new binary after an upgrade); start none.
vsw_try_restart() {
    if vsw_systemd; then
        systemctl daemon-reload >/dev/null 2>&1 || true
        vsw_unit try-restart || vsw_warn "could not restart $VSW_UNIT (see: journalctl -u $VSW_UNIT)"
    else
        pid=$(vsw_owner_pid) || pid=
        if [ -n "$pid" ]; then
            vsw_stop_unmanaged
            vsw_start_unmanaged
        fi
    fi
    return 0
}

# libvirt notes at start-up (and on SIGHUP) which drivers have hooks, and
# skips hook calls for a driver that had none; with one, it lists qemu.d
# at every call. So after the hook appears, a running libvirtd/virtqemud
# must reload (SIGHUP: guests are not touched) to be sure it calls ours.
# Removal needs nothing: a hook that is gone is no longer listed.
vsw_reload_libvirt() {
    if vsw_systemd; then
        for u in libvirtd.service virtqemud.service; do
            # Acts only on running units; both reload with SIGHUP.
            vsw_ctl try-reload-or-restart "$u" || true
        done
        return 0
    fi
    for d in libvirtd virtqemud; do
        [ -r "/run/$d.pid" ] || continue
        pid=$(cat "/run/$d.pid" 2>/dev/null) || continue
        case "$pid" in '' | *[!0-9]*) continue ;; esac
        # A stale pid file may name an unrelated process now.
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$d" ] || continue
        kill -HUP "$pid" 2>/dev/null || true
    done
    return 0
}

# After the daemon has stopped for good: drop its runtime dir. rmdir, not
# rm -r: a dir that still lists guests (their state is what a reinstalled
# daemon recovers them from), or holds anything unexpected, is kept.
vsw_remove_rundir() {
    [ -d "$VSW_RUNDIR" ] || return 0
    if ! rmdir "$VSW_RUNDIR/domains" 2>/dev/null && [ -d "$VSW_RUNDIR/domains" ]; then
        vsw_warn "$VSW_RUNDIR/domains still lists guests; kept for a reinstalled virtswitchd to recover"
        return 0
    fi
    rmdir "$VSW_RUNDIR" 2>/dev/null || vsw_warn "could not remove $VSW_RUNDIR (not empty?); kept"
    return 0
}

# ---- end of lib.sh ----
