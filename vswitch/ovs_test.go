package vswitch

import (
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/plumb"
	"github.com/virtswitch/virtswitch/testenv"
)

const ovsNet = `<network>
  <name>ovs-net</name>
  <forward mode='bridge'/>
  <bridge name='ovsbr0'/>
  <virtualport type='openvswitch'/>
  <vlan>
    <tag id='10'/>
  </vlan>
  <portgroup name='tenant-a'>
    <vlan trunk='yes'>
      <tag id='42'/>
      <tag id='47' nativeMode='untagged'/>
    </vlan>
    <virtualport>
      <parameters profileid='tenant-a-profile'/>
    </virtualport>
  </portgroup>
</network>`

const (
	ovsIfaceID = "7a1b2c3d-0000-4000-8000-00000000aaaa"
	ovsTarget1 = "vsw52540000c001"
	ovsTarget2 = "vsw52540000c002"
)

// ovsSetup: the fixture with a real Open vSwitch (bridge ovsbr0, userspace
// datapath) in its namespace, the Switch talking to it, ovs-net defined.
func ovsSetup(t *testing.T) (*fixture, *testenv.OVS, *guest) {
	f := newFixture(t)
	o := testenv.StartOVS(t, f.ns)
	o.AddBridge("ovsbr0")
	f.ovs = &plumb.OVS{DB: o.DB}
	f.sw = f.open(t)
	if _, err := f.sw.Define([]byte(ovsNet)); err != nil {
		t.Fatal(err)
	}
	g := newGuest(t, f, "ovs1", "c0000000-0000-4000-8000-000000000001",
		testenv.FormAInterfaceRaw("ovs-net", "tenant-a", "52:54:00:00:c0:01",
			"\n      <virtualport type='openvswitch'>\n        <parameters interfaceid='"+ovsIfaceID+"'/>\n      </virtualport>"),
		testenv.FormAInterface("ovs-net", "", "52:54:00:00:c0:02", ""))
	return f, o, g
}

func ovsPorts(t *testing.T, o *testenv.OVS) string {
	t.Helper()
	out, err := o.Try("--no-wait", "list-ports", "ovsbr0")
	if err != nil && !strings.Contains(err.Error(), "no bridge named ovsbr0") {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(out), " ")
}

// Prepare adds each tap to the Open vSwitch bridge with libvirt's
// external-ids and the portgroup's (else the network's) VLAN, records it
// in <actual>; Release removes ports and taps.
func TestPrepareOVS(t *testing.T) {
	f, o, g := ovsSetup(t)
	before := f.ns.Snapshot(t)
	st, err := f.sw.Prepare(g.formB)
	if err != nil {
		t.Fatal(err)
	}
	if got := ovsPorts(t, o); got != ovsTarget1+" "+ovsTarget2 {
		t.Fatalf("ports %q", got)
	}
	ids := o.Run("get", "Interface", ovsTarget1, "external-ids")
	for _, want := range []string{`attached-mac="52:54:00:00:c0:01"`, `iface-id="` + ovsIfaceID + `"`, "iface-status=active", `vm-id="` + g.uuid + `"`} {
		if !strings.Contains(ids, want) {
			t.Errorf("external-ids %s lack %s", ids, want)
		}
	}
	for col, want := range map[string]string{"tag": "47", "trunks": "[42, 47]", "vlan_mode": "native-untagged"} {
		if got := o.Run("get", "Port", ovsTarget1, col); got != want {
			t.Errorf("%s: Port %s = %s, want %s", ovsTarget1, col, got, want)
		}
	}
	if got := o.Run("get", "Port", ovsTarget2, "tag"); got != "10" {
		t.Errorf("%s: tag %s, want the network's 10", ovsTarget2, got)
	}
	// The second interface's generated interfaceid is the recorded one.
	id2 := strings.Trim(o.Run("get", "Interface", ovsTarget2, "external-ids:iface-id"), `"`)
	s := string(st)
	for _, want := range []string{
		"<actual type='bridge'>\n        <source bridge='ovsbr0'/>\n        <vlan trunk='yes'>\n          <tag id='42'/>\n          <tag id='47' nativeMode='untagged'/>\n        </vlan>\n        <virtualport type='openvswitch'>\n          <parameters profileid='tenant-a-profile' interfaceid='" + ovsIfaceID + "'/>",
		"<vlan>\n          <tag id='10'/>\n        </vlan>\n        <virtualport type='openvswitch'>\n          <parameters interfaceid='" + id2 + "'/>",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks\n%s\nin\n%s", want, s)
		}
	}
	if err := f.sw.Release(g.uuid); err != nil {
		t.Fatal(err)
	}
	if got := ovsPorts(t, o); got != "" {
		t.Errorf("ports after release: %q", got)
	}
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Errorf("after release:\n%s", d)
	}
}

// A daemon killed in the middle of a prepare (after a port was added) and
// a guest that died: recovery removes the ports and taps. A port no state
// file accounts for is swept too.
func TestRecoverOVS(t *testing.T) {
	f, o, g := ovsSetup(t)
	before := f.ns.Snapshot(t)
	crashHook = func(s string) {
		if s == "plumbed "+ovsTarget2 {
			panic(crash{s})
		}
	}
	func() {
		defer func() {
			if r := recover(); r != (crash{"plumbed " + ovsTarget2}) {
				t.Fatalf("prepare did not stop (recovered %v)", r)
			}
		}()
		f.sw.Prepare(g.formB)
	}()
	crashHook = nil
	if got := ovsPorts(t, o); got != ovsTarget1+" "+ovsTarget2 {
		t.Fatalf("ports at the crash %q", got)
	}
	f.restart(t)
	if got := ovsPorts(t, o); got != "" {
		t.Errorf("ports after the crash and recovery: %q", got)
	}
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Errorf("after the crash and recovery:\n%s", d)
	}

	// A running guest keeps its ports over a restart; once it dies,
	// recovery removes them.
	stop := f.run(t, g)
	if _, err := f.sw.Prepare(g.formB); err != nil {
		t.Fatal(err)
	}
	o.Run("add-port", "ovsbr0", "vsw52540000ffff", "--", "set", "Interface", "vsw52540000ffff", "type=internal")
	f.restart(t)
	if got := ovsPorts(t, o); got != ovsTarget1+" "+ovsTarget2 {
		t.Errorf("ports of the running guest after a restart: %q", got)
	}
	stop()
	f.restart(t)
	if got := ovsPorts(t, o); got != "" {
		t.Errorf("ports after the guest died: %q", got)
	}
}

// Bad input and a broken Open vSwitch: one-line errors naming the domain
// and interface, nothing left behind.
func TestPrepareOVSFailures(t *testing.T) {
	f, o, g := ovsSetup(t)
	check := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if err == nil || apierr.KindOf(err) != apierr.Plumbing || strings.Contains(err.Error(), "\n") {
			t.Fatalf("Prepare: %v", err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		if got := ovsPorts(t, o); got != "" {
			t.Errorf("ports left: %q", got)
		}
		// (Open vSwitch's own devices change as the test breaks it.)
		for _, prefix := range []string{"vsw", "vsq"} {
			if names, err := f.plumber.Names(prefix); err != nil || len(names) != 0 {
				t.Errorf("links left: %v %v", names, err)
			}
		}
		if c := counts(f.sw); !strings.Contains(c, "ovs-net=0") {
			t.Errorf("counts %s", c)
		}
	}
	// The OVS bridge does not exist.
	o.Run("del-br", "ovsbr0")
	_, err := f.sw.Prepare(g.formB)
	check(t, err, "domain 'ovs1'", "interface 52:54:00:00:c0:01", "Open vSwitch bridge 'ovsbr0' does not exist")

	// ovs-vswitchd is not running.
	o.AddBridge("ovsbr0")
	o.StopVswitchd()
	f.ovs.Timeout = 2e9
	_, err = f.sw.Prepare(g.formB)
	check(t, err, "interface 52:54:00:00:c0:01", "Open vSwitch bridge 'ovsbr0'", "no answer within the 2s timeout")
}
