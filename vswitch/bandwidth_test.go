package vswitch

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/plumb"
	"github.com/virtswitch/virtswitch/testenv"
)

const bwBridge = `<network>
  <name>bw-bridge</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
  <bandwidth>
    <inbound average='100'/>
  </bandwidth>
  <portgroup name='fast'>
    <bandwidth>
      <inbound average='8000' peak='9000'/>
      <outbound average='4000'/>
    </bandwidth>
  </portgroup>
</network>`

// htbRate is the rate (bytes/s) of the HTB class on link name's egress, 0
// if it has none.
func htbRate(t *testing.T, ns *testenv.NetNS, name string) uint64 {
	t.Helper()
	l, err := ns.Handle().LinkByName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cs, err := ns.Handle().ClassList(l, netlink.MakeHandle(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if h, ok := c.(*netlink.HtbClass); ok {
			return h.Rate
		}
	}
	return 0
}

// Prepare applies the bandwidth in effect (portgroup over network) on the
// link it makes and records it in <actual>; an interface's own <bandwidth>
// is recorded but left to libvirt; Release removes link and IFB.
func TestPrepareBandwidth(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sw.Define([]byte(bwBridge)); err != nil {
		t.Fatal(err)
	}
	own := "\n      <bandwidth>\n        <inbound average='77'/>\n      </bandwidth>"
	g := newGuest(t, f, "bw1", "b0000000-0000-4000-8000-000000000001",
		testenv.FormAInterface("bw-bridge", "fast", "52:54:00:00:b0:01", ""),
		testenv.FormAInterface("bw-bridge", "", "52:54:00:00:b0:02", ""),
		testenv.FormAInterfaceRaw("bw-bridge", "", "52:54:00:00:b0:03", own),
	)
	before := f.ns.Snapshot(t)
	st, err := f.sw.Prepare(g.formB)
	if err != nil {
		t.Fatal(err)
	}
	s := string(st)
	for _, want := range []string{
		"<source bridge='br0'/>\n        <bandwidth>\n          <inbound average='8000' peak='9000'/>\n          <outbound average='4000'/>\n        </bandwidth>",
		"<source bridge='br0'/>\n        <bandwidth>\n          <inbound average='100'/>\n        </bandwidth>",
		"<source bridge='br0'/>\n        <bandwidth>\n          <inbound average='77'/>\n        </bandwidth>",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks\n%s\nin\n%s", want, s)
		}
	}
	// A tap: inbound leaves it (egress IFB vso…), outbound enters it (vsi…).
	if r := htbRate(t, f.ns, "vso52540000b001"); r != 8000*1024 {
		t.Errorf("portgroup interface: inbound HTB rate %d", r)
	}
	if r := htbRate(t, f.ns, "vsi52540000b001"); r != 4000*1024 {
		t.Errorf("portgroup interface: outbound HTB rate %d", r)
	}
	if r := htbRate(t, f.ns, "vso52540000b002"); r != 100*1024 || f.ns.HasLink(t, "vsi52540000b002") {
		t.Errorf("network-level interface: HTB rate %d", r)
	}
	if f.ns.HasLink(t, "vso52540000b003") || f.ns.HasLink(t, "vsi52540000b003") {
		t.Error("interface with its own <bandwidth> was shaped by virtswitch")
	}
	if err := f.sw.Release(g.uuid); err != nil {
		t.Fatal(err)
	}
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Errorf("after release:\n%s", d)
	}
}

// A prepare whose shaping fails undoes everything: links, IFBs, counts,
// state file; the error names the domain and interface.
func TestPrepareBandwidthFails(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sw.Define([]byte(bwBridge)); err != nil {
		t.Fatal(err)
	}
	g := newGuest(t, f, "bw2", "b0000000-0000-4000-8000-000000000002",
		testenv.FormAInterface("bw-bridge", "", "52:54:00:00:b0:11", ""),
		testenv.FormAInterface("bw-bridge", "fast", "52:54:00:00:b0:12", ""),
	)
	// Something that is not ours holds the second interface's IFB name.
	f.ns.AddVeth(t, "vsi52540000b012", "squat0")
	before := f.ns.Snapshot(t)
	_, err := f.sw.Prepare(g.formB)
	if err == nil || apierr.KindOf(err) != apierr.Plumbing ||
		!strings.Contains(err.Error(), "domain 'bw2'") || !strings.Contains(err.Error(), "interface 52:54:00:00:b0:12") ||
		!strings.Contains(err.Error(), "IFB 'vsi52540000b012'") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Prepare: %v", err)
	}
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Errorf("left behind:\n%s", d)
	}
	if c := counts(f.sw); strings.Contains(c, "bw-bridge=1") || strings.Contains(c, "bw-bridge=2") {
		t.Errorf("counts %s", c)
	}
	if _, err := f.sw.DomainStatus(g.uuid); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("state file left: %v", err)
	}
}

// Recovery deletes the IFB of a link whose domain is gone, and IFBs whose
// link is gone.
func TestRecoverBandwidth(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sw.Define([]byte(bwBridge)); err != nil {
		t.Fatal(err)
	}
	g := newGuest(t, f, "bw3", "b0000000-0000-4000-8000-000000000003",
		testenv.FormAInterface("bw-bridge", "fast", "52:54:00:00:b0:21", ""))
	before := f.ns.Snapshot(t)
	stop := f.run(t, g)
	if _, err := f.sw.Prepare(g.formB); err != nil {
		t.Fatal(err)
	}
	// A stray IFB (its link deleted by hand).
	stray, _ := plumb.IFBNames("vsw52540000ffff")
	if err := f.ns.Handle().LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: stray}}); err != nil {
		t.Fatal(err)
	}
	f.restart(t)
	if !f.ns.HasLink(t, "vsi52540000b021") || f.ns.HasLink(t, stray) {
		t.Error("recovery kept the stray IFB or removed a running guest's")
	}
	stop()
	f.restart(t)
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Errorf("after the guest died and recovery ran:\n%s", d)
	}
}
