#!/bin/bash
# The hook an admin writes today without virtswitch (the baseline of
# BENCHMARKS.md "Issue 8"): libvirt's qemu hook making the guest's macvtap
# with ip(8) on prepare and deleting it on release. It keeps no counts,
# picks no device (one NIC, hard-coded) and writes no state, and it parses
# the domain XML with bash built-ins only (no cat, grep or xmllint), so it
# is the cheapest hook that does the same link work.
#
# libvirt runs it as: HOOK DOMAIN OP SUBOP EXTRA, the domain XML on stdin.
# Environment (set by the benchmark): VSW_DEV (the NIC the macvtap goes on),
# VSW_NETNS (network namespace name; unset: this one), VSW_TARGET (the
# target names it handles, an extended regex; default vsw + 12 hex digits).
op="$2 $3"
case "$op" in
"prepare begin" | "release end") ;;
*) exit 0 ;;
esac
IFS= read -r -d '' xml
target=${VSW_TARGET:-'vsw[0-9a-f]{12}'}
re="<target dev='($target)'"
[[ $xml =~ $re ]] || exit 0
link=${BASH_REMATCH[1]}
re="<mac address='([0-9a-fA-F:]{17})'"
[[ $xml =~ $re ]] || { echo "no MAC for $link" >&2; exit 1; }
mac=${BASH_REMATCH[1]}
ns=()
[ -n "${VSW_NETNS:-}" ] && ns=(-n "$VSW_NETNS")
case "$op" in
"prepare begin")
	ip "${ns[@]}" link add "$link" link "$VSW_DEV" type macvtap mode vepa || exit 1
	if ! ip "${ns[@]}" link set "$link" address "$mac" up; then
		ip "${ns[@]}" link del "$link"
		exit 1
	fi
	;;
"release end")
	ip "${ns[@]}" link del "$link" 2>/dev/null || true
	;;
esac
exit 0
