#!/usr/bin/env bash
# Package test (run by `make package-test`, as root):
#   packaging/test-packages.sh DEB RPM
#
# 1. lints: systemd-analyze verify/security on the unit, lintian on the .deb,
#    rpmlint on the .rpm (as nobody: rpmlint unpacks the payload), payload
#    file lists, static binaries, the shipped bus policy byte for byte;
# 2. the .deb for real on this machine: dpkg -i, reinstall (upgrade path),
#    dpkg -P, with a private system-style bus so the maintainer scripts'
#    bus reload, activation and stop are exercised, all inside fresh pid,
#    mount and network namespaces (nothing started outlives the test, and the
#    daemon sees an empty network namespace);
# 3. the .rpm with rpm --root in a scratch root: -ivh (signature checked
#    with a throwaway key), -e;
# 4. make install / make uninstall with DESTDIR.
# Each install must leave exactly the files of SPEC §9 (plus docs), each
# removal nothing. A machine that already has any of these files, or the
# package, is refused: the test never overwrites an existing setup.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
POLICY=$ROOT/packaging/dbus/io.github.virtswitch1.conf
BUSNAME=io.github.virtswitch1

# The files SPEC §9 names, plus the man pages and README.
COMMON=(
    /etc/libvirt/hooks/qemu.d/virtswitch
    /usr/bin/virtswitchctl
    /usr/lib/systemd/system/virtswitchd.service
    /usr/sbin/virtswitch-hook
    /usr/sbin/virtswitchd
    /usr/share/dbus-1/system-services/io.github.virtswitch1.service
    /usr/share/dbus-1/system.d/io.github.virtswitch1.conf
    /usr/share/doc/virtswitch/README.md
    /usr/share/man/man1/virtswitchctl.1.gz
    /usr/share/man/man8/virtswitch-hook.8.gz
    /usr/share/man/man8/virtswitchd.8.gz
)
DEB_EXTRA=(
    /usr/share/doc/virtswitch/changelog.Debian.gz
    /usr/share/doc/virtswitch/copyright
    /usr/share/lintian/overrides/virtswitch
)
RPM_EXTRA=(/usr/share/licenses/virtswitch/copyright /usr/share/licenses/virtswitch /usr/share/doc/virtswitch)
OWNED_DIRS=(/etc/libvirt/hooks/qemu.d /etc/virtswitch /etc/virtswitch/networks)
# Warnings that docs/PACKAGING.md justifies; any other fails the test.
LINTIAN_OK_W=(initial-upload-closes-no-bugs)
RPMLINT_OK_W=(symlink-should-be-relative only-non-binary-in-usr-lib no-manual-page-for-binary invalid-license)
# Parent dirs rpm creates in an empty root but that other packages own on a
# real system (filesystem, systemd, dbus, libvirt, man-db).
RPM_UNOWNED_PARENTS=(/etc /etc/libvirt /etc/libvirt/hooks /usr /usr/bin /usr/sbin /usr/lib
    /usr/lib/systemd /usr/lib/systemd/system /usr/share /usr/share/dbus-1
    /usr/share/dbus-1/system.d /usr/share/dbus-1/system-services /usr/share/doc
    /usr/share/licenses /usr/share/man /usr/share/man/man1 /usr/share/man/man8)

# ---- result bookkeeping (shared with the namespaced child through a file) ----
ok() { echo "ok   $*"; echo "ok $*" >>"$RESULTS"; }
bad() { echo "FAIL $*"; echo "FAIL $*" >>"$RESULTS"; }
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else bad "$desc"; fi
}
sorted() { printf '%s\n' "$@" | LC_ALL=C sort; }
same_list() { # same_list DESC GOT_FILE WANT...
    local desc=$1 got=$2
    shift 2
    if diff -u <(sorted "$@") <(LC_ALL=C sort "$got") >"$T/diff" 2>&1; then
        ok "$desc"
    else
        bad "$desc"
        sed 's/^/     /' "$T/diff"
    fi
}

# Our traces in the shared trees: what must be back to its earlier state.
snapshot() {
    {
        find /etc/virtswitch /etc/libvirt/hooks /run/virtswitch \
            /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
            -printf '%y %m %p -> %l\n' 2>/dev/null || true
        find /etc/systemd/system /usr/sbin /usr/bin /usr/lib/systemd/system /usr/share/dbus-1 \
            /usr/share/doc /usr/share/licenses /usr/share/lintian/overrides /usr/share/man/man1 \
            /usr/share/man/man8 /var/lib/dpkg/info \
            \( -name '*virtswitch*' -o -name "$BUSNAME*" \) -printf '%y %m %p -> %l\n' 2>/dev/null || true
    } | LC_ALL=C sort
}

bus() { # bus METHOD ARGS...: call the bus daemon
    local m=$1
    shift
    dbus-send --system --print-reply --reply-timeout=20000 --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus "org.freedesktop.DBus.$m" "$@"
}
activatable() { bus ListActivatableNames | grep -q "\"$BUSNAME\""; }
owned() { bus NameHasOwner "string:$BUSNAME" | grep -q 'boolean true'; }
owner_pid() { bus GetConnectionUnixProcessID "string:$BUSNAME" 2>/dev/null | sed -n 's/^ *uint32 \([0-9]*\)$/\1/p'; }

# A root-only method called as nobody must be refused by the bus policy.
denied_for_nobody() {
    local out
    if out=$(setpriv --reuid=65534 --regid=65534 --clear-groups dbus-send --system --print-reply \
        --dest=$BUSNAME /io/github/virtswitch1 io.github.virtswitch1.Manager.Reload 2>&1); then
        return 1
    fi
    grep -q AccessDenied <<<"$out"
}

# dpkg refuses at once when another dpkg/apt holds the lock: wait for it.
dpkg_retry() {
    local out
    for _ in $(seq 1 60); do
        if out=$(dpkg "$@" 2>&1); then
            printf '%s\n' "$out"
            return 0
        fi
        if ! grep -q 'lock' <<<"$out"; then
            printf '%s\n' "$out"
            return 1
        fi
        sleep 2
    done
    printf '%s\n' "$out"
    return 1
}

# ---------------------------------------------------------------------------
# The .deb lifecycle, run in fresh pid+mount+net namespaces (see main).
deb_lifecycle() {
    local deb=$1
    # A running libvirtd outside must not see a hook come and go mid-test,
    # and a developer's or another test's /etc/virtswitch or /run/virtswitch
    # must stay untouched: in this mount namespace, existing dirs of ours are
    # hidden behind empty ones (dpkg then works on those).
    local d n=0
    for d in /etc/libvirt/hooks /etc/virtswitch /run/virtswitch; do
        [ -d "$d" ] || continue
        n=$((n + 1))
        mkdir -p "$T/mask$n"
        mount --bind "$T/mask$n" "$d"
        echo "   (hid the existing $d behind an empty dir for this test)"
    done
    ip link set lo up

    # A system-style bus: default deny, policies from /usr/share/dbus-1/system.d,
    # activation from system-services (Exec= run directly: no setuid helper).
    cat >"$T/bus.conf" <<EOF
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$T/system_bus_socket</listen>
  <servicedir>/usr/share/dbus-1/system-services</servicedir>
  <include>$ROOT/testenv/system-default.conf</include>
  <includedir>/usr/share/dbus-1/system.d</includedir>
</busconfig>
EOF
    export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/system_bus_socket"
    dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile >"$T/bus.log" 2>&1 &
    local buspid=$!
    for _ in $(seq 1 100); do [ -S "$T/system_bus_socket" ] && break; sleep 0.05; done
    check "deb: private system bus is up" eval "bus GetId >/dev/null"

    cap_probe

    local before
    before=$(snapshot)
    check "deb: bus knows no $BUSNAME before install" eval '! activatable'

    echo "---- dpkg -i"
    if dpkg_retry -i "$deb"; then ok "deb: dpkg -i"; else bad "deb: dpkg -i"; return; fi

    dpkg-query -L virtswitch | while read -r p; do [ -d "$p" ] && [ ! -L "$p" ] || echo "$p"; done >"$T/deb.installed"
    same_list "deb: installed files are exactly SPEC §9's (plus docs)" "$T/deb.installed" "${COMMON[@]}" "${DEB_EXTRA[@]}"
    check "deb: installed bus policy is byte-identical to packaging/dbus/" \
        cmp /usr/share/dbus-1/system.d/io.github.virtswitch1.conf "$POLICY"
    check "deb: hook is a symlink to /usr/sbin/virtswitch-hook" \
        test "$(readlink /etc/libvirt/hooks/qemu.d/virtswitch)" = /usr/sbin/virtswitch-hook
    check "deb: /etc/virtswitch/networks exists" test -d /etc/virtswitch/networks
    echo "---- systemd-analyze verify (installed unit)"
    check "deb: systemd-analyze verify virtswitchd.service" \
        systemd-analyze verify /usr/lib/systemd/system/virtswitchd.service
    check "deb: service enabled (multi-user.target.wants link)" \
        test "$(readlink /etc/systemd/system/multi-user.target.wants/virtswitchd.service)" = \
        /lib/systemd/system/virtswitchd.service -o \
        "$(readlink /etc/systemd/system/multi-user.target.wants/virtswitchd.service)" = \
        /usr/lib/systemd/system/virtswitchd.service
    check "deb: postinst reloaded the bus (name is activatable)" activatable
    check "deb: postinst started virtswitchd (name is owned)" owned
    local pid1
    pid1=$(owner_pid)
    check "deb: the owner is /usr/sbin/virtswitchd" test "$(readlink "/proc/$pid1/exe")" = /usr/sbin/virtswitchd
    check "deb: daemon made /run/virtswitch/domains" test -d /run/virtswitch/domains
    check "deb: installed virtswitchctl net-list talks to it" eval "/usr/bin/virtswitchctl net-list >/dev/null"
    check "deb: bus policy in force: nobody is denied Reload" denied_for_nobody
    local out
    out=$(printf '<domain type="kvm"><name>g</name><uuid>5c5c5c5c-0000-4000-8000-000000000001</uuid><devices/></domain>' |
        /etc/libvirt/hooks/qemu.d/virtswitch g prepare begin -) && rc=0 || rc=$?
    check "deb: installed hook passes a guest without virtswitch interfaces (exit 0, no output)" \
        test "$rc" = 0 -a -z "$out"

    echo "---- dpkg -i again (upgrade path: restart on the new binary)"
    if dpkg_retry -i "$deb"; then ok "deb: reinstall"; else bad "deb: reinstall"; fi
    local pid2
    pid2=$(owner_pid)
    check "deb: reinstall restarted the daemon (new pid, name owned)" \
        test -n "$pid2" -a "$pid2" != "$pid1" -a ! -d "/proc/$pid1"

    echo "---- dpkg -P"
    if dpkg_retry -P virtswitch; then ok "deb: dpkg -P"; else bad "deb: dpkg -P"; fi
    check "deb: daemon stopped" test ! -d "/proc/$pid2"
    check "deb: bus name no longer owned" eval '! owned'
    check "deb: postrm reloaded the bus (name no longer activatable)" eval '! activatable'
    check "deb: package gone from dpkg" eval '! dpkg-query -W virtswitch >/dev/null 2>&1'
    if [ "$(snapshot)" = "$before" ]; then
        ok "deb: purge left nothing behind"
    else
        bad "deb: purge left nothing behind"
        diff <(echo "$before") <(snapshot) | sed 's/^/     /' || true
    fi
    kill "$buspid" 2>/dev/null || true
    wait "$buspid" 2>/dev/null || true
}

# The unit gives the daemon CAP_NET_ADMIN and nothing else: the packaged
# binary must start and serve with just that (setpriv stands in for
# systemd's CapabilityBoundingSet; sandboxing is not reproduced). Its own
# bus enforces the shipped policy; dirs are scratch ones. (VSW_PROBE_CAPS,
# e.g. +net_admin,+sys_admin, checks the probe itself.)
cap_probe() {
    local bin=$T/debx/usr/sbin/virtswitchd p=$T/capprobe pid
    mkdir -p "$p/networks" "$p/state" "$p/libvirt"
    sed -e "s|$T/system_bus_socket|$p/bus_socket|" \
        -e "s|<includedir>/usr/share/dbus-1/system.d</includedir>|<include>$POLICY</include>|" \
        -e '/<servicedir>/d' "$T/bus.conf" >"$p/bus.conf"
    dbus-daemon --config-file="$p/bus.conf" --nofork --nopidfile >"$p/bus.log" 2>&1 &
    local buspid=$!
    for _ in $(seq 1 100); do [ -S "$p/bus_socket" ] && break; sleep 0.05; done
    DBUS_SYSTEM_BUS_ADDRESS="unix:path=$p/bus_socket" \
        setpriv --bounding-set="-all,${VSW_PROBE_CAPS:-+net_admin}" --inh-caps=-all -- "$bin" \
        --config-dir "$p/networks" --state-dir "$p/state" --libvirt-state-dir "$p/libvirt" \
        --reconcile-interval 0 >"$p/daemon.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        DBUS_SYSTEM_BUS_ADDRESS="unix:path=$p/bus_socket" owned && break
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if DBUS_SYSTEM_BUS_ADDRESS="unix:path=$p/bus_socket" owned; then
        ok "deb: virtswitchd serves with only CAP_NET_ADMIN (the unit's bounding set)"
    else
        bad "deb: virtswitchd serves with only CAP_NET_ADMIN (the unit's bounding set)"
        sed 's/^/     /' "$p/daemon.log"
    fi
    kill "$pid" "$buspid" 2>/dev/null || true
    wait "$pid" "$buspid" 2>/dev/null || true
}

deb_child() { # runs as pid 1 of the new pid namespace
    T=$1 RESULTS=$1/results
    # Whatever happens, the package is purged before the namespace dies.
    trap 'if dpkg-query -W -f="\${Status}" virtswitch 2>/dev/null | grep -q installed; then
              echo "cleanup: purging virtswitch"; dpkg_retry -P virtswitch >/dev/null || true; fi' EXIT
    deb_lifecycle "$2"
}

if [ "${1:-}" = --deb-child ]; then
    deb_child "$2" "$3"
    exit 0
fi

# ---------------------------------------------------------------------------
install_tools() {
    local missing=() t
    for t in lintian:lintian rpmlint:rpmlint rpmbuild:rpm rpmsign:rpm gpg:gnupg dbus-daemon:dbus-daemon \
        dbus-send:dbus-bin unshare:util-linux setpriv:util-linux systemd-analyze:systemd \
        readelf:binutils cpio:cpio ip:iproute2 deb-systemd-helper:init-system-helpers; do
        command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

[ "$(id -u)" = 0 ] || { echo "$0: run as root (it installs the .deb)" >&2; exit 2; }
if [ "${1:-}" = --install-tools ]; then
    install_tools
    exit 0
fi
[ $# -eq 2 ] || { echo "usage: $0 DEB RPM | --install-tools" >&2; exit 2; }
DEB=$(realpath "$1")
RPM=$(realpath "$2")
install_tools

T=$(mktemp -d /tmp/virtswitch-pkgtest.XXXXXX)
chmod 0755 "$T"
RESULTS=$T/results
: >"$RESULTS"
GNUPGHOME=$T/gnupg
export GNUPGHOME
unset DBUS_SYSTEM_BUS_ADDRESS
cleanup() {
    gpgconf --kill all >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

# ---- 1. lints ---------------------------------------------------------------
echo "== unit"
sec=$(systemd-analyze security --offline=yes "$ROOT/packaging/systemd/virtswitchd.service" 2>&1 | tail -1)
echo "   $sec"
score=$(sed -n 's/.*virtswitchd.service: \([0-9.]*\) .*/\1/p' <<<"$sec")
check "unit: systemd-analyze security exposure <= 2.0 (got ${score:-none})" \
    awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
check "unit: CapabilityBoundingSet is CAP_NET_ADMIN only" \
    grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN' "$ROOT/packaging/systemd/virtswitchd.service"

echo "== lintian (as nobody)"
mkdir -p "$T/home" && chown 65534:65534 "$T/home"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$T/home" "$@"; }
cp "$DEB" "$T/pkg.deb"
chmod 0644 "$T/pkg.deb"
nobody lintian --pedantic --display-info "$T/pkg.deb" >"$T/lintian.out" 2>&1 || true
sed 's/^/   /' "$T/lintian.out"
check "lintian: no errors" eval "! grep -q '^E:' $T/lintian.out"
unexpected=$(grep '^W:' "$T/lintian.out" | awk '{print $3}' | grep -vxF -f <(printf '%s\n' "${LINTIAN_OK_W[@]}") || true)
check "lintian: only justified warnings${unexpected:+ (new: $unexpected)}" test -z "$unexpected"

echo "== rpmlint (as nobody, on a copy signed with a throwaway key)"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'virtswitch package test <package-test@virtswitch.invalid>' \
    rsa3072 sign never >/dev/null 2>&1
gpg --armor --export package-test@virtswitch.invalid >"$T/pub.asc"
SRPM=$T/$(basename "$RPM")
cp "$RPM" "$SRPM"
check "rpm: rpmsign with a throwaway key" eval "rpmsign --addsign --define '__gpg $(command -v gpg)' \
    --define '_gpg_name package-test@virtswitch.invalid' $SRPM </dev/null >/dev/null 2>&1"
chmod 0644 "$SRPM" "$T/pub.asc"
cp "$ROOT/packaging/rpm/rpmlint.toml" "$T/rpmlint.toml"
# nobody's rpm keyring (through ~/.rpmmacros) trusts the throwaway key.
echo "%_dbpath $T/home/rpmdb" >"$T/home/.rpmmacros"
chown 65534:65534 "$T/home/.rpmmacros"
nobody rpm --initdb
nobody rpm --import "$T/pub.asc"
nobody rpmlint -c "$T/rpmlint.toml" "$SRPM" >"$T/rpmlint.out" 2>&1 || true
grep -E ': [EWI]: |errors' "$T/rpmlint.out" | sed 's/^/   /'
check "rpmlint: no errors" grep -q ' 0 errors' "$T/rpmlint.out"
unexpected=$(grep ': W: ' "$T/rpmlint.out" | awk '{print $3}' | grep -vxF -f <(printf '%s\n' "${RPMLINT_OK_W[@]}") | sort -u || true)
check "rpmlint: only justified warnings${unexpected:+ (new: $unexpected)}" test -z "$unexpected"

echo "== payloads"
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print substr($6, 2)}' >"$T/deb.list"
same_list "deb payload: exactly the expected files" "$T/deb.list" "${COMMON[@]}" "${DEB_EXTRA[@]}"
rpm -qlp "$RPM" >"$T/rpm.list"
same_list "rpm payload: exactly the expected files and owned dirs" "$T/rpm.list" \
    "${COMMON[@]}" "${RPM_EXTRA[@]}" "${OWNED_DIRS[@]}"
check "rpm payload: ./-relative names (cpio cannot write outside its dir)" \
    eval "! rpm2cpio $RPM | cpio -t --quiet 2>/dev/null | grep -q '^/'"
check "deb payload: bus policy byte-identical" eval \
    "dpkg-deb --fsys-tarfile $DEB | tar -xOf - ./usr/share/dbus-1/system.d/$BUSNAME.conf | cmp - $POLICY"
check "rpm payload: bus policy byte-identical" eval \
    "rpm2cpio $RPM | cpio -i --quiet --to-stdout ./usr/share/dbus-1/system.d/$BUSNAME.conf | cmp - $POLICY"
mkdir "$T/debx"
dpkg-deb -x "$DEB" "$T/debx"
for b in usr/sbin/virtswitchd usr/sbin/virtswitch-hook usr/bin/virtswitchctl; do
    check "static binary: /$b (no program interpreter)" eval "! readelf -lW $T/debx/$b | grep -q INTERP"
done

# ---- 2. the .deb on this machine ---------------------------------------------
echo "== deb: dpkg -i / reinstall / dpkg -P (namespaced, private bus)"
busy=()
dpkg-query -W virtswitch >/dev/null 2>&1 && busy+=("package virtswitch is installed")
for p in "${COMMON[@]}" "${DEB_EXTRA[@]}"; do
    case $p in /etc/libvirt/hooks/*) continue ;; esac # hidden in the test's namespace
    [ -e "$p" ] || [ -L "$p" ] && busy+=("$p exists")
done
if [ ${#busy[@]} -gt 0 ]; then
    bad "deb: this machine already has virtswitch files, not touching them: ${busy[*]}"
else
    unshare --pid --fork --mount-proc --net --mount --propagation private \
        bash "$0" --deb-child "$T" "$DEB" || bad "deb: namespaced lifecycle exited non-zero"
    # Belt and braces: the child's trap purges, but never leave it installed.
    if dpkg-query -W -f='${Status}' virtswitch 2>/dev/null | grep -q installed; then
        bad "deb: still installed after the lifecycle; purging"
        dpkg_retry -P virtswitch >/dev/null || true
    fi
fi

# ---- 3. the .rpm in a scratch root -------------------------------------------
echo "== rpm: rpm --root -ivh / -e"
R=$T/rpmroot
mkdir -p "$R/usr/bin" "$R/usr/lib" "$R/usr/lib64"
ln -s usr/bin "$R/bin"
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
# Just enough userland for the scriptlets (they run chrooted in $R).
for b in dash rmdir sleep readlink cat sed; do
    src=$(command -v "$b")
    cp --parents -L "$src" "$R"
    ldd "$src" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do cp --parents -L "$lib" "$R"; done
done
ln -s dash "$R/usr/bin/sh"
mkdir -p "$R/dev" && mknod -m 0666 "$R/dev/null" c 1 3
find "$R" -printf '%y %p\n' | sed "s|$R||" | LC_ALL=C sort >"$T/rpmroot.before"
RPMR=(rpm --root "$R" --dbpath /var/lib/rpm)
"${RPMR[@]}" --initdb
"${RPMR[@]}" --import "$T/pub.asc"
check "rpm: signature verifies against the imported key" eval "rpm --root $R --dbpath /var/lib/rpm -K $SRPM | grep -q 'signatures OK'"
if "${RPMR[@]}" -ivh --nodeps "$SRPM" >"$T/rpm-i.log" 2>&1; then ok "rpm: -ivh"; else bad "rpm: -ivh"; fi
sed 's/^/   /' "$T/rpm-i.log"
check "rpm: no scriptlet failed" eval "! grep -qi 'scriptlet failed' $T/rpm-i.log"
"${RPMR[@]}" -ql virtswitch >"$T/rpm.installed"
same_list "rpm: installed files are exactly SPEC §9's (plus docs, owned dirs)" "$T/rpm.installed" \
    "${COMMON[@]}" "${RPM_EXTRA[@]}" "${OWNED_DIRS[@]}"
check "rpm: installed bus policy is byte-identical" cmp "$R/usr/share/dbus-1/system.d/$BUSNAME.conf" "$POLICY"
check "rpm: hook is a symlink to /usr/sbin/virtswitch-hook" \
    test "$(readlink "$R/etc/libvirt/hooks/qemu.d/virtswitch")" = /usr/sbin/virtswitch-hook
check "rpm: -V reports nothing changed" "${RPMR[@]}" -V --nodeps virtswitch
if "${RPMR[@]}" -e virtswitch >"$T/rpm-e.log" 2>&1; then ok "rpm: -e"; else bad "rpm: -e"; fi
sed 's/^/   /' "$T/rpm-e.log"
check "rpm: no scriptlet failed on erase" eval "! grep -qi 'scriptlet failed' $T/rpm-e.log"
find "$R" -path "$R/var/lib/rpm" -prune -o -path "$R/usr/lib/sysimage" -prune -o -printf '%y %p\n' |
    sed "s|$R||" | grep -v '^. $' | LC_ALL=C sort >"$T/rpmroot.after"
left=$(LC_ALL=C comm -13 "$T/rpmroot.before" "$T/rpmroot.after" | grep -v -e '^d /var' -e '^d /var/lib' |
    grep -vxF -f <(printf 'd %s\n' "${RPM_UNOWNED_PARENTS[@]}") || true)
check "rpm: erase left nothing but parent dirs other packages own${left:+ (left: ${left//$'\n'/, })}" test -z "$left"

# ---- 4. make install / uninstall ---------------------------------------------
echo "== make install / uninstall DESTDIR"
D=$T/destdir
make -s --no-print-directory -C "$ROOT" install DESTDIR="$D" >/dev/null
(cd "$D" && find . ! -type d -printf '/%P\n') >"$T/install.list"
want=()
for f in "${COMMON[@]}"; do [ "$f" = /usr/share/doc/virtswitch/README.md ] || want+=("$f"); done
same_list "make install: the package layout" "$T/install.list" "${want[@]}"
check "make install: hook symlink points into /usr/sbin" \
    test "$(readlink "$D/etc/libvirt/hooks/qemu.d/virtswitch")" = /usr/sbin/virtswitch-hook
check "make install: bus policy byte-identical" cmp "$D/usr/share/dbus-1/system.d/$BUSNAME.conf" "$POLICY"
make -s --no-print-directory -C "$ROOT" uninstall DESTDIR="$D" >/dev/null 2>&1
check "make uninstall: no file left" test -z "$(cd "$D" && find . ! -type d)"
check "make uninstall: /etc/virtswitch removed (it was empty)" test ! -e "$D/etc/virtswitch"

# ---- summary ------------------------------------------------------------------
passed=$(grep -c '^ok ' "$RESULTS" || true)
failed=$(grep -c '^FAIL ' "$RESULTS" || true)
echo "package-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
