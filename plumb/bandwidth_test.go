package plumb

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/testenv"
)

// shaper reads back the HTB class SetBandwidth put on link name's egress
// (nil if none), with rates in bytes/s.
func shaper(t *testing.T, ns *testenv.NetNS, name string) *netlink.HtbClass {
	t.Helper()
	l := ns.Link(t, name)
	classes, err := ns.Handle().ClassList(l, htbRoot)
	if err != nil {
		t.Fatalf("listing classes of %s: %v", name, err)
	}
	for _, c := range classes {
		if h, ok := c.(*netlink.HtbClass); ok && h.Handle == htbClass {
			return h
		}
	}
	return nil
}

// qdiscKinds lists the kinds of link name's qdiscs other than the kernel's
// defaults.
func qdiscKinds(t *testing.T, ns *testenv.NetNS, name string) []string {
	t.Helper()
	qs, err := ns.Handle().QdiscList(ns.Link(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, q := range qs {
		switch q.Type() {
		case "noqueue", "pfifo_fast", "fq_codel", "mq":
			continue
		}
		kinds = append(kinds, q.Type())
	}
	return kinds
}

var both = &bandwidth.Bandwidth{
	In:  &bandwidth.Rate{Average: 1000, Peak: 2000, Burst: 64},
	Out: &bandwidth.Rate{Average: 500},
}

// A tap's egress carries traffic to the guest (inbound), a macvtap's
// egress traffic from the guest (outbound); the other direction is shaped
// on an IFB its ingress is redirected to. Delete removes the IFB too.
func TestSetBandwidth(t *testing.T) {
	for _, kind := range []string{"tap", "macvtap"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			before := f.ns.Snapshot(t)
			var err error
			if kind == "tap" {
				err = f.p.CreateTap(target, "br0", guest, 0)
			} else {
				_, err = f.p.CreateMacvtap(target, "eth0", "bridge", guest)
			}
			if err != nil {
				t.Fatal(err)
			}
			// The kernel's default queue length (tap 1000, macvtap 500): a
			// macvtap sizes its ring of frames for the guest by it (0 drops
			// them all), and HTB's default leaf queue is that long.
			if q := f.ns.Link(t, target).Attrs().TxQLen; q < 500 {
				t.Errorf("%s txqueuelen %d, want the kernel's default", kind, q)
			}
			if err := f.p.SetBandwidth(target, both); err != nil {
				t.Fatal(err)
			}
			ifb := IFBName(target)
			if ifb != "vsqdeadbeefcafe" {
				t.Fatalf("IFB name %q", ifb)
			}
			l := f.ns.Link(t, ifb)
			if _, ok := l.(*netlink.Ifb); !ok || l.Attrs().Flags&1 == 0 || l.Attrs().TxQLen != ifbQueue {
				t.Errorf("IFB %s: %T flags %v txqlen %d", ifb, l, l.Attrs().Flags, l.Attrs().TxQLen)
			}
			egress, ingress := both.In, both.Out
			if kind == "macvtap" {
				egress, ingress = both.Out, both.In
			}
			for _, c := range []struct {
				link string
				want *bandwidth.Rate
			}{{target, egress}, {ifb, ingress}} {
				h := shaper(t, f.ns, c.link)
				if h == nil {
					t.Fatalf("%s has no HTB class", c.link)
				}
				ceil := c.want.Peak
				if ceil == 0 {
					ceil = c.want.Average
				}
				if h.Rate != c.want.Average*1024 || h.Ceil != ceil*1024 {
					t.Errorf("%s: HTB rate %d ceil %d B/s, want %d and %d", c.link, h.Rate, h.Ceil, c.want.Average*1024, ceil*1024)
				}
			}
			if got := strings.Join(qdiscKinds(t, f.ns, target), ","); got != "htb,ingress" {
				t.Errorf("qdiscs of %s: %s, want htb,ingress", target, got)
			}
			fs, err := f.ns.Handle().FilterList(f.ns.Link(t, target), netlink.MakeHandle(0xffff, 0))
			if err != nil || len(fs) != 1 {
				t.Fatalf("ingress filters of %s: %v %v", target, fs, err)
			}
			u, ok := fs[0].(*netlink.U32)
			if !ok || len(u.Actions) != 1 {
				t.Fatalf("filter %+v", fs[0])
			}
			if m, ok := u.Actions[0].(*netlink.MirredAction); !ok || m.Ifindex != l.Attrs().Index || m.MirredAction != netlink.TCA_EGRESS_REDIR {
				t.Errorf("action %+v, want a mirred egress redirect to %s", u.Actions[0], ifb)
			}

			if err := f.p.Delete(target); err != nil {
				t.Fatal(err)
			}
			if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
				t.Errorf("after Delete:\n%s", d)
			}
		})
	}
}

// One direction only: no IFB for a tap limited inbound only; a macvtap
// limited inbound only gets just the IFB.
func TestSetBandwidthOneWay(t *testing.T) {
	f := newFixture(t)
	if err := f.p.CreateTap(target, "br0", guest, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.p.SetBandwidth(target, &bandwidth.Bandwidth{In: &bandwidth.Rate{Average: 10}}); err != nil {
		t.Fatal(err)
	}
	if f.ns.HasLink(t, IFBName(target)) {
		t.Error("an IFB was made for a tap without outbound limit")
	}
	if got := strings.Join(qdiscKinds(t, f.ns, target), ","); got != "htb" {
		t.Errorf("qdiscs %s, want htb", got)
	}
	mv := "vswdeadbeef0001"
	if _, err := f.p.CreateMacvtap(mv, "eth1", "vepa", "de:ad:be:ef:00:01"); err != nil {
		t.Fatal(err)
	}
	if err := f.p.SetBandwidth(mv, &bandwidth.Bandwidth{In: &bandwidth.Rate{Average: 10}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(qdiscKinds(t, f.ns, mv), ","); got != "ingress" || shaper(t, f.ns, IFBName(mv)) == nil {
		t.Errorf("macvtap qdiscs %s; IFB shaper %v", got, shaper(t, f.ns, IFBName(mv)))
	}
	for _, n := range []string{target, mv} {
		if err := f.p.Delete(n); err != nil {
			t.Fatal(err)
		}
	}
	if f.ns.HasLink(t, IFBName(mv)) {
		t.Error("IFB left after Delete")
	}
}

// Every failure leaves the namespace as it was (no qdisc, filter or IFB).
func TestSetBandwidthFailures(t *testing.T) {
	f := newFixture(t)
	if err := f.p.CreateTap(target, "br0", guest, 0); err != nil {
		t.Fatal(err)
	}
	before := f.ns.Snapshot(t)
	clean := func(t *testing.T) {
		t.Helper()
		if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
			t.Errorf("changed:\n%s", d)
		}
		if k := qdiscKinds(t, f.ns, target); len(k) != 0 {
			t.Errorf("qdiscs left: %v", k)
		}
	}

	// The IFB's name is taken (by something that is not ours): the egress
	// shaper already added is removed again.
	f.ns.AddVeth(t, "vsqdeadbeefcafe", "squat0")
	before = f.ns.Snapshot(t)
	err := f.p.SetBandwidth(target, both)
	checkPlumbingErr(t, err, "cannot create IFB 'vsqdeadbeefcafe'", "already exists (a veth)")
	clean(t)
	// Delete leaves a foreign link under the IFB's name alone, and says so.
	checkPlumbingErr(t, f.p.Delete(target), "refusing to delete link 'vsqdeadbeefcafe'", "not an IFB")
	if !f.ns.HasLink(t, "vsqdeadbeefcafe") || f.ns.HasLink(t, target) {
		t.Error("Delete removed the wrong link")
	}
	if err := f.ns.Handle().LinkDel(f.ns.Link(t, "vsqdeadbeefcafe")); err != nil {
		t.Fatal(err)
	}
	if err := f.p.CreateTap(target, "br0", guest, 0); err != nil {
		t.Fatal(err)
	}
	before = f.ns.Snapshot(t)

	checkPlumbingErr(t, f.p.SetBandwidth("vswmissing00001", both), "link does not exist")
	checkPlumbingErr(t, f.p.SetBandwidth("eth0", both), "only links named vsw")
	checkPlumbingErr(t, f.p.SetBandwidth(target, &bandwidth.Bandwidth{Out: &bandwidth.Rate{Average: 1, Burst: 4194304}}), "burst 4194304 KiB is more than HTB can hold")
	checkPlumbingErr(t, f.p.SetBandwidth(target, &bandwidth.Bandwidth{In: &bandwidth.Rate{Average: 1, Burst: 1000}}), "burst 1000 KiB takes 1000 s to send at 1 KiB/s")
	clean(t)
	// A second SetBandwidth on a shaped link fails (the kernel has a root
	// qdisc already) and leaves the first one in place.
	if err := f.p.SetBandwidth(target, &bandwidth.Bandwidth{In: &bandwidth.Rate{Average: 10}}); err != nil {
		t.Fatal(err)
	}
	checkPlumbingErr(t, f.p.SetBandwidth(target, both), "cannot set bandwidth of link '"+target+"'")
	if h := shaper(t, f.ns, target); h == nil || h.Rate != 10*1024 {
		t.Errorf("first shaper changed: %+v", h)
	}
	if f.ns.HasLink(t, IFBName(target)) {
		t.Error("IFB left by the failed second SetBandwidth")
	}
}

// DeleteStrayIFBs removes IFBs whose link is gone, and nothing else.
func TestDeleteStrayIFBs(t *testing.T) {
	f := newFixture(t)
	if err := f.p.CreateTap(target, "br0", guest, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.p.SetBandwidth(target, both); err != nil {
		t.Fatal(err)
	}
	stray := "vsq000000000001"
	if err := f.ns.Handle().LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: stray}}); err != nil {
		t.Fatal(err)
	}
	f.ns.AddVeth(t, "vsq000000000002", "notifb0")
	gone, err := f.p.DeleteStrayIFBs()
	if err != nil || len(gone) != 1 || gone[0] != stray {
		t.Fatalf("DeleteStrayIFBs: %v %v", gone, err)
	}
	if !f.ns.HasLink(t, IFBName(target)) || !f.ns.HasLink(t, "vsq000000000002") || f.ns.HasLink(t, stray) {
		t.Error("wrong links deleted")
	}
}
