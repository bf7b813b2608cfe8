#!/usr/bin/env bash
# Live-migration figures (issue 13 point 7): total time and downtime of
# virtswitch -> virtswitch against libvirt-native -> libvirt-native on the
# same two-host rig as e2e/migrate.sh, the same guest (64 MiB, no disk),
# in one run. `make bench-migrate` (BENCH_ITER round trips, default 10).
#
# Kinds, alternating every round (A->B then B->A):
#   v  virtswitch: Form B guest on virtswitch network vswmig-vepa (A: eth10,
#      B: ens1f0...), links made by virtswitchd through the hook
#   n  native: Form A guest on a libvirt network vswmig-nat of the same name
#      on both hosts (vepa, A: eth11, B: ens1f1), macvtaps made by libvirt;
#      the hook is installed and exits at once (nothing of virtswitch's)
# Per migration: libvirt's own figures from the source's
# `virsh domjobinfo --completed` (Time elapsed, Total downtime) and the
# wall time of the `virsh migrate` command.
set -u
set -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=e2e/migrate.sh
. "$HERE/../e2e/migrate.sh"

ITER=${BENCH_ITER:-10}

install_packages
build
choose_accel
setup_hosts
define_networks

nat_net() {
    printf "<network>\n  <name>%s-nat</name>\n  <forward mode='vepa'>\n    <interface dev='%s'/>\n  </forward>\n</network>\n" "$PREFIX" "$2" >"$WORK/nat-$1.xml"
    vsh "$1" net-define "$WORK/nat-$1.xml" >/dev/null && vsh "$1" net-start "$PREFIX-nat" >/dev/null
}
nat_net A "${A_NICS[1]}" || die "libvirt network on A"
nat_net B "${B_NICS[1]}" || die "libvirt network on B"

guest A "$PREFIX-v" 52:54:00:4d:01:01 "$PREFIX-vepa" || die "defining the virtswitch guest"
form_a "$PREFIX-n" 52:54:00:4d:01:02 "$PREFIX-nat" >"$WORK/n.xml"
vsh A define "$WORK/n.xml" >/dev/null || die "defining the native guest"
vsh A start "$PREFIX-v" >/dev/null || die "starting the virtswitch guest"
vsh A start "$PREFIX-n" >/dev/null || die "starting the native guest"

# one KIND FROM TO: migrate, append "elapsed downtime wall" (ms) to WORK/KIND.
one() {
    local k=$1 from=$2 to=$3 t0 t1 info
    t0=$(date +%s%N)
    # --persistent: the guest stays defined on both hosts, so the source
    # still has it (shut off) to read its completed job from.
    migrate "$from" "$to" "$PREFIX-$k" --persistent >/dev/null || die "migrating $PREFIX-$k $from->$to"
    t1=$(date +%s%N)
    info=$(vsh "$from" domjobinfo --completed "$PREFIX-$k") || die "domjobinfo on $from"
    printf '%s %s %s\n' \
        "$(printf '%s\n' "$info" | awk '/^Time elapsed:/ { print $3 }')" \
        "$(printf '%s\n' "$info" | awk '/^Total downtime:/ { print $3 }')" \
        "$(((t1 - t0) / 1000000))" >>"$WORK/$k"
}

sleep 2 # both guests past their BIOS
for ((i = 0; i < ITER; i++)); do
    if ((i % 2)); then order="n v"; else order="v n"; fi
    for k in $order; do one "$k" A B; done
    for k in $order; do one "$k" B A; done
done

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$WORK/$1"; }

echo "migrate-bench: $ITER round trips (A->B, B->A) per kind, $(wc -l <"$WORK/v") migrations each; domain type $DOMTYPE"
printf '%-28s %12s %12s %8s\n' "median (ms)" virtswitch native "v/n"
for c in 1:elapsed 2:downtime 3:wall; do
    v=$(col v "${c%%:*}" | median)
    n=$(col n "${c%%:*}" | median)
    printf '%-28s %12s %12s %8s\n' "${c#*:}" "$v" "$n" "$(awk -v a="$v" -v b="$n" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')"
done
echo "raw (elapsed downtime wall, ms), virtswitch:"
tr '\n' ';' <"$WORK/v"; echo
echo "raw, native:"
tr '\n' ';' <"$WORK/n"; echo
gone "$PREFIX-v"
gone "$PREFIX-n"
