package plumb

import (
	"fmt"
	"math"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/virtswitch/virtswitch/bandwidth"
)

// Traffic control for <bandwidth> (docs/PLUMBING.md, "Bandwidth").
//
// Each direction is shaped by one HTB class (rate = average, ceil = peak,
// buffer = burst) on the egress of an IFB device of its own, to which a
// clsact qdisc on the guest's link redirects that direction (a u32
// match-all filter with a mirred redirect, on the clsact's ingress or egress
// hook). Neither direction is shaped on the link's own root qdisc: libvirt
// replaces a guest link's root qdisc with noqueue when the guest starts
// (qemuDomainInterfaceSetDefaultQDisc, for every interface without its own
// <bandwidth>), after virtswitch's prepare; it leaves clsact alone. And
// libvirt's own scheme polices what enters the link (act_police), which
// this kernel lacks. clsact, u32, mirred, IFB and HTB are all in Debian's
// and Fedora's stock kernels and in this one.
//
// Which direction is which depends on the link: a tap's egress carries
// traffic to the guest (QEMU reads it), a macvtap's egress carries traffic
// from the guest (what QEMU writes is transmitted by the macvtap), and its
// ingress what the lower device receives for the guest.

// IFB links are named after the link they serve: "vsi" (what enters it) or
// "vso" (what leaves it) instead of "vsw".
const (
	ifbIngressPrefix = "vsi"
	ifbEgressPrefix  = "vso"
)

// IFBNames are the names of the IFB devices that shape what enters and
// what leaves link name ("" if name is not a "vsw…" name, which virtswitch
// never shapes).
func IFBNames(name string) (ingress, egress string) {
	if !strings.HasPrefix(name, "vsw") {
		return "", ""
	}
	rest := name[len("vsw"):]
	return ifbIngressPrefix + rest, ifbEgressPrefix + rest
}

// ifbQueue is the IFB's queue length: the kernel default for IFB (32) lets
// HTB's default leaf (a pfifo of tx_queue_len packets) drop bursts that a
// tap's 1000 would absorb, and TCP then runs well below the limit.
const ifbQueue = 1000

// SetBandwidth applies bw to the macvtap or tap called name (nil: nothing
// to do). It is all or nothing: on failure every qdisc, filter and IFB it
// added is removed again. Delete removes the IFBs with their link.
func (p *Plumber) SetBandwidth(name string, bw *bandwidth.Bandwidth) (err error) {
	if bw == nil || (bw.In == nil && bw.Out == nil) {
		return nil
	}
	what := "bandwidth of link '" + name + "'"
	if err := checkName("link", name); err != nil {
		return err
	}
	inIFB, outIFB := IFBNames(name)
	if inIFB == "" {
		return plumbErr("cannot set %s: only links named vsw… are shaped", what)
	}
	l, found, err := p.linkByName(name)
	if err != nil {
		return plumbErr("cannot set %s: looking it up: %v", what, errText(err))
	}
	if !found {
		return plumbErr("cannot set %s: link does not exist%s", what, p.where())
	}
	var egress, ingress *bandwidth.Rate
	switch l.(type) {
	case *netlink.Tuntap:
		egress, ingress = bw.In, bw.Out
	case *netlink.Macvtap:
		egress, ingress = bw.Out, bw.In
	default:
		return plumbErr("cannot set %s: it is a %s, not a macvtap or tap", what, l.Type())
	}
	for _, r := range []*bandwidth.Rate{egress, ingress} {
		if err := checkRate(r); err != nil {
			return plumbErr("cannot set %s: %v", what, err)
		}
	}
	for _, d := range []struct {
		ifb string
		r   *bandwidth.Rate
	}{{inIFB, ingress}, {outIFB, egress}} {
		if d.r != nil {
			if err := p.checkFree(d.ifb, "IFB '"+d.ifb+"' for "+what); err != nil {
				return err
			}
		}
	}

	rev := &reverter{}
	defer rev.fail(&err)
	cl := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	if err := p.h.QdiscAdd(cl); err != nil {
		return plumbErr("cannot set %s: adding its clsact qdisc: %v", what, errText(err))
	}
	rev.add("removing the clsact qdisc of '"+name+"'", func() error { return p.h.QdiscDel(cl) })
	for _, d := range []struct {
		ifb, hook string
		parent    uint32
		r         *bandwidth.Rate
	}{{inIFB, "ingress", netlink.HANDLE_MIN_INGRESS, ingress}, {outIFB, "egress", netlink.HANDLE_MIN_EGRESS, egress}} {
		if d.r == nil {
			continue
		}
		il, err := p.addIFB(d.ifb, rev)
		if err != nil {
			return plumbErr("cannot set %s: %v", what, err)
		}
		if err := p.shape(il, d.r); err != nil {
			return plumbErr("cannot set %s: on IFB '%s': %v", what, d.ifb, errText(err))
		}
		redirect := &netlink.U32{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: l.Attrs().Index, Parent: d.parent, Priority: 1, Protocol: unix.ETH_P_ALL},
			// One key that matches every packet (mask 0).
			Sel:     &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Nkeys: 1, Keys: []netlink.TcU32Key{{}}},
			Actions: []netlink.Action{netlink.NewMirredAction(il.Attrs().Index)},
		}
		if err := p.h.FilterAdd(redirect); err != nil {
			return plumbErr("cannot set %s: redirecting its %s to IFB '%s': %v", what, d.hook, d.ifb, errText(err))
		}
	}
	rev.success()
	return nil
}

// addIFB creates an up IFB device called name (its deletion registered on
// rev) and returns it.
func (p *Plumber) addIFB(name string, rev *reverter) (netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.TxQLen = name, ifbQueue
	if err := p.h.LinkAdd(&netlink.Ifb{LinkAttrs: attrs}); err != nil {
		return nil, fmt.Errorf("creating IFB '%s': %v", name, errText(err))
	}
	rev.add("deleting IFB '"+name+"'", func() error { return p.delByName(name) })
	il, found, err := p.linkByName(name)
	if err != nil || !found {
		return nil, fmt.Errorf("IFB '%s' vanished after creation: %v", name, errText(err))
	}
	if err := p.h.LinkSetUp(il); err != nil {
		return nil, fmt.Errorf("bringing IFB '%s' up: %v", name, errText(err))
	}
	return il, nil
}

// htbRoot is the handle of the root HTB qdisc, htbClass that of its class.
var (
	htbRoot  = netlink.MakeHandle(1, 0)
	htbClass = netlink.MakeHandle(1, 1)
)

// shape puts a root HTB qdisc with one default class shaped to r on l's
// egress (an IFB's). HTB's default leaf is a pfifo of tx_queue_len packets.
func (p *Plumber) shape(l netlink.Link, r *bandwidth.Rate) (err error) {
	q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: htbRoot, Parent: netlink.HANDLE_ROOT})
	q.Defcls = 1
	if err := p.h.QdiscAdd(q); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = p.h.QdiscDel(q)
		}
	}()
	rate := r.Average * 1024 // bytes/s
	ceil := rate
	if r.Peak != 0 {
		ceil = r.Peak * 1024
	}
	cattrs := netlink.HtbClassAttrs{Rate: rate * 8, Ceil: ceil * 8, Quantum: quantum(rate),
		Buffer: defaultBurst(rate), Cbuffer: defaultBurst(ceil)}
	if r.Burst != 0 {
		cattrs.Buffer = uint32(r.Burst * 1024)
		cattrs.Cbuffer = cattrs.Buffer
	}
	c := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: l.Attrs().Index, Parent: htbRoot, Handle: htbClass}, cattrs)
	return p.h.ClassAdd(c)
}

// defaultBurst is the bucket (bytes) when <bandwidth> gives no burst: 10 ms
// of the rate, at least 64 KiB (one GSO packet), at most 4 GiB − 1. tc's
// default, which libvirt leaves in place, is about one MTU on kernels with a
// nanosecond qdisc clock: a busy host then wakes the shaper late, the tiny
// bucket cannot hold the tokens meanwhile, and the rate falls short (−12 %
// measured on the shared 2-core machine at load 4).
func defaultBurst(rate uint64) uint32 {
	b := rate / 100
	if b < 64*1024 {
		b = 64 * 1024
	}
	if b > math.MaxUint32 {
		b = math.MaxUint32
	}
	return uint32(b)
}

// quantum is how many bytes the class may send per round: rate/10 (HTB's
// default r2q), kept within the range the kernel accepts without warning.
func quantum(rate uint64) uint32 {
	q := rate / 10
	switch {
	case q < 1600:
		q = 1600
	case q > 200000:
		q = 200000
	}
	return uint32(q)
}

// checkRate refuses what the kernel's HTB cannot hold although libvirt's
// ranges allow it: a burst of 4 GiB or more (HTB counts it in 32 bits of
// bytes), or one that takes longer to send at the average rate than the
// 32-bit tick counter of its bucket covers (about 274 s on current kernels).
func checkRate(r *bandwidth.Rate) error {
	if r == nil || r.Burst == 0 {
		return nil
	}
	bytes := r.Burst * 1024
	if bytes > math.MaxUint32 {
		return plumbErr("burst %d KiB is more than HTB can hold (4 GiB)", r.Burst)
	}
	for _, rate := range []uint64{r.Average, r.Peak} {
		if rate == 0 {
			continue
		}
		ticks := netlink.TIME_UNITS_PER_SEC * float64(bytes) / float64(rate*1024) * netlink.TickInUsec()
		if ticks > math.MaxUint32 {
			return plumbErr("burst %d KiB takes %.0f s to send at %d KiB/s, more than HTB's bucket can count",
				r.Burst, float64(r.Burst)/float64(rate), rate)
		}
	}
	return nil
}

// deleteIFBs removes the IFBs of link name, if there are any. Any other
// kind of link under those names is left alone and reported.
func (p *Plumber) deleteIFBs(name string) error {
	in, out := IFBNames(name)
	if in == "" {
		return nil
	}
	for _, ifb := range []string{in, out} {
		l, found, err := p.linkByName(ifb)
		if err != nil {
			return plumbErr("cannot delete IFB '%s': looking it up: %v", ifb, errText(err))
		}
		if !found {
			continue
		}
		if _, ok := l.(*netlink.Ifb); !ok {
			return plumbErr("refusing to delete link '%s': it is a %s, not an IFB", ifb, l.Type())
		}
		if err := p.delLink(l); err != nil {
			return plumbErr("cannot delete IFB '%s': %v", ifb, errText(err))
		}
	}
	return nil
}

// DeleteStrayIFBs deletes every IFB named "vsi…" or "vso…" (+ 12 hex
// digits) whose link ("vsw…") no longer exists, and returns their names:
// what a crash between deleting a link and its IFBs leaves (recovery's
// orphan sweep calls it).
func (p *Plumber) DeleteStrayIFBs() ([]string, error) {
	// Name-only dumps: recovery runs this over namespaces holding a link
	// per guest interface.
	var ifbs []string
	for _, prefix := range []string{ifbIngressPrefix, ifbEgressPrefix} {
		names, err := p.Names(prefix)
		if err != nil {
			return nil, err
		}
		ifbs = append(ifbs, names...)
	}
	if len(ifbs) == 0 {
		return nil, nil
	}
	links, err := p.Names("vsw")
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, l := range links {
		have[l] = true
	}
	var gone, failed []string
	for _, n := range ifbs {
		if !twelveHex(n[3:]) || have["vsw"+n[3:]] {
			continue
		}
		l, found, err := p.linkByName(n)
		if err != nil || !found {
			continue
		}
		if _, isIFB := l.(*netlink.Ifb); !isIFB {
			continue
		}
		if err := p.delLink(l); err != nil {
			failed = append(failed, plumbErr("cannot delete IFB '%s': %v", n, errText(err)).Error())
			continue
		}
		gone = append(gone, n)
	}
	if len(failed) > 0 {
		return gone, plumbErr("%s", strings.Join(failed, "; "))
	}
	return gone, nil
}

// twelveHex: the 12 lower-case hex digits of a guest link's name.
func twelveHex(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
