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
// egress traffic from the guest (outbound); each direction is redirected
// from the link's clsact to an IFB of its own and shaped there. Delete
// removes the IFBs too.
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
			// them all).
			if q := f.ns.Link(t, target).Attrs().TxQLen; q < 500 {
				t.Errorf("%s txqueuelen %d, want the kernel's default", kind, q)
			}
			if err := f.p.SetBandwidth(target, both); err != nil {
				t.Fatal(err)
			}
			inIFB, outIFB := IFBNames(target)
			if inIFB != "vsideadbeefcafe" || outIFB != "vsodeadbeefcafe" {
				t.Fatalf("IFB names %q %q", inIFB, outIFB)
			}
			egress, ingress := both.In, both.Out
			if kind == "macvtap" {
				egress, ingress = both.Out, both.In
			}
			if got := strings.Join(qdiscKinds(t, f.ns, target), ","); got != "clsact" {
				t.Errorf("qdiscs of %s: %s, want clsact", target, got)
			}
			for _, c := range []struct {
				ifb    string
				parent uint32
				want   *bandwidth.Rate
			}{{inIFB, netlink.HANDLE_MIN_INGRESS, ingress}, {outIFB, netlink.HANDLE_MIN_EGRESS, egress}} {
				l := f.ns.Link(t, c.ifb)
				if _, ok := l.(*netlink.Ifb); !ok || l.Attrs().Flags&1 == 0 || l.Attrs().TxQLen != ifbQueue {
					t.Errorf("IFB %s: %T flags %v txqlen %d", c.ifb, l, l.Attrs().Flags, l.Attrs().TxQLen)
				}
				h := shaper(t, f.ns, c.ifb)
				if h == nil {
					t.Fatalf("%s has no HTB class", c.ifb)
				}
				ceil := c.want.Peak
				if ceil == 0 {
					ceil = c.want.Average
				}
				if h.Rate != c.want.Average*1024 || h.Ceil != ceil*1024 {
					t.Errorf("%s: HTB rate %d ceil %d B/s, want %d and %d", c.ifb, h.Rate, h.Ceil, c.want.Average*1024, ceil*1024)
				}
				// u32 filters of one clsact share their hash tables, so each
				// hook lists both; the traffic test shows each redirects its
				// own direction.
				fs, err := f.ns.Handle().FilterList(f.ns.Link(t, target), c.parent)
				if err != nil || len(fs) != 2 {
					t.Fatalf("filters of %s at %x: %v %v", target, c.parent, fs, err)
				}
				found := false
				for _, fl := range fs {
					if u, ok := fl.(*netlink.U32); ok && len(u.Actions) == 1 {
						if m, ok := u.Actions[0].(*netlink.MirredAction); ok && m.Ifindex == l.Attrs().Index && m.MirredAction == netlink.TCA_EGRESS_REDIR {
							found = true
						}
					}
				}
				if !found {
					t.Errorf("no mirred redirect to %s among %v", c.ifb, fs)
				}
			}
			// libvirt sets the root qdisc of a guest's link to noqueue
			// when the guest starts; the shaping does not depend on it.
			if err := f.ns.Handle().QdiscReplace(&netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{
				LinkIndex: f.ns.Link(t, target).Attrs().Index, Parent: netlink.HANDLE_ROOT}, QdiscType: "noqueue"}); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(qdiscKinds(t, f.ns, target), ","); got != "clsact" {
				t.Errorf("after libvirt's noqueue, qdiscs of %s: %s", target, got)
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

// One direction only: one IFB.
func TestSetBandwidthOneWay(t *testing.T) {
	f := newFixture(t)
	if err := f.p.CreateTap(target, "br0", guest, 0); err != nil {
		t.Fatal(err)
	}
	inbound := &bandwidth.Bandwidth{In: &bandwidth.Rate{Average: 10}}
	if err := f.p.SetBandwidth(target, inbound); err != nil {
		t.Fatal(err)
	}
	in, out := IFBNames(target)
	if f.ns.HasLink(t, in) || shaper(t, f.ns, out) == nil {
		t.Error("a tap limited inbound only: want only the egress IFB")
	}
	mv := "vswdeadbeef0001"
	if _, err := f.p.CreateMacvtap(mv, "eth1", "vepa", "de:ad:be:ef:00:01"); err != nil {
		t.Fatal(err)
	}
	if err := f.p.SetBandwidth(mv, inbound); err != nil {
		t.Fatal(err)
	}
	in, out = IFBNames(mv)
	if f.ns.HasLink(t, out) || shaper(t, f.ns, in) == nil {
		t.Error("a macvtap limited inbound only: want only the ingress IFB")
	}
	for _, n := range []string{target, mv} {
		if err := f.p.Delete(n); err != nil {
			t.Fatal(err)
		}
	}
	if f.ns.HasLink(t, in) || f.ns.HasLink(t, "vsodeadbeefcafe") {
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

	// An IFB's name is taken (by something that is not ours).
	f.ns.AddVeth(t, "vsodeadbeefcafe", "squat0")
	before = f.ns.Snapshot(t)
	err := f.p.SetBandwidth(target, both)
	checkPlumbingErr(t, err, "cannot create IFB 'vsodeadbeefcafe'", "already exists (a veth)")
	clean(t)
	// Delete leaves a foreign link under an IFB's name alone, and says so.
	checkPlumbingErr(t, f.p.Delete(target), "refusing to delete link 'vsodeadbeefcafe'", "not an IFB")
	if !f.ns.HasLink(t, "vsodeadbeefcafe") || f.ns.HasLink(t, target) {
		t.Error("Delete removed the wrong link")
	}
	if err := f.ns.Handle().LinkDel(f.ns.Link(t, "vsodeadbeefcafe")); err != nil {
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
	// A second SetBandwidth on a shaped link fails (the IFB exists) and
	// leaves the first one in place.
	if err := f.p.SetBandwidth(target, &bandwidth.Bandwidth{In: &bandwidth.Rate{Average: 10}}); err != nil {
		t.Fatal(err)
	}
	checkPlumbingErr(t, f.p.SetBandwidth(target, both), "cannot create IFB 'vsodeadbeefcafe'", "already exists (a ifb)")
	checkPlumbingErr(t, f.p.SetBandwidth(target, &bandwidth.Bandwidth{Out: &bandwidth.Rate{Average: 10}}), "cannot set bandwidth of link '"+target+"'", "clsact")
	_, out := IFBNames(target)
	if h := shaper(t, f.ns, out); h == nil || h.Rate != 10*1024 {
		t.Errorf("first shaper changed: %+v", h)
	}
	if in, _ := IFBNames(target); f.ns.HasLink(t, in) {
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
	for _, n := range []string{"vsi000000000001", "vso000000000001", "vsoadmin"} {
		if err := f.ns.Handle().LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	f.ns.AddVeth(t, "vsi000000000002", "notifb0")
	gone, err := f.p.DeleteStrayIFBs()
	if err != nil || strings.Join(gone, ",") != "vsi000000000001,vso000000000001" {
		t.Fatalf("DeleteStrayIFBs: %v %v", gone, err)
	}
	in, out := IFBNames(target)
	for _, keep := range []string{in, out, "vsi000000000002", "vsoadmin"} {
		if !f.ns.HasLink(t, keep) {
			t.Errorf("%s deleted", keep)
		}
	}
}
