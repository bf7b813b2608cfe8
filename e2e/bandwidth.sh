# shellcheck shell=bash
# Issue 17, sourced by e2e/run.sh: who applies an interface's own
# <bandwidth>. It stays in the Form B (type='ethernet', managed='no')
# interface, and libvirt runs its own tc commands on that device at start
# (docs/SPEC-NOTES.md). virtswitch does not shape such an interface itself.
# On a stock Debian/Fedora kernel the guest starts with libvirt's HTB root
# qdisc on the tap; on a kernel without sch_sfq (this container's) libvirt's
# tc fails and the start fails naming tc. Either outcome shows libvirt
# applying it; both leave nothing behind.

case_own_bandwidth() {
    case_begin "10: an interface's own <bandwidth> is applied by libvirt, not by virtswitch"
    local g=$PREFIX-g10 mac=52:54:00:e2:e0:0a t out
    t=$(mac_target $mac)
    form_a "$g" "$mac" "$PREFIX-bridge" |
        sed "s#<model type='virtio'/>#<model type='virtio'/><bandwidth><inbound average='1000'/></bandwidth>#" >"$WORK/$g.xml"
    check "Form B keeps the interface's <bandwidth>" sh -c "'$BIN/virtswitchctl' domain-encode '$WORK/$g.xml' | grep -q \"<inbound average='1000'/>\""
    vctl domain-encode "$WORK/$g.xml" | virsh_ define /dev/stdin >/dev/null
    if out=$(virsh_ start "$g" 2>&1); then
        ok "guest started (this kernel has what libvirt's tc needs)"
        check "libvirt's HTB root qdisc on $t" sh -c "tc qdisc show dev $t | grep -q 'htb 1: root'"
        check "no virtswitch shaping (no IFB vso${t#vsw})" no_link "vso${t#vsw}"
        check "virsh destroy" virsh_ destroy "$g"
    else
        check_contains "start refused by libvirt's tc on the device" "$out" "tc "
        log "  (libvirt said: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-200))"
    fi
    check "tap removed" no_link "$t"
    check "no IFB" no_link "vso${t#vsw}"
    check_eq "connections" "$(connections "$PREFIX-bridge")" 0
    virsh_ undefine "$g" >/dev/null 2>&1
    case_end
}
