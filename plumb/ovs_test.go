package plumb

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/vlan"
)

const (
	ifaceID = "5b2c7d4e-1111-4222-8333-444455556666"
	vmID    = "11111111-2222-4333-8444-555566667777"
)

func TestVlanArgs(t *testing.T) {
	for _, c := range []struct {
		v    *vlan.Vlan
		want []string
	}{
		{nil, nil},
		{&vlan.Vlan{Tags: []uint{42}}, []string{"tag=42"}},
		{&vlan.Vlan{Tags: []uint{42}, Trunk: true}, []string{"trunks=42"}},
		{&vlan.Vlan{Tags: []uint{42, 47}, Trunk: true, NativeMode: vlan.NativeUntagged, NativeTag: 47}, []string{"vlan_mode=native-untagged", "tag=47", "trunks=42,47"}},
		{&vlan.Vlan{Tags: []uint{1, 2}, Trunk: true, NativeMode: vlan.NativeTagged, NativeTag: 1}, []string{"vlan_mode=native-tagged", "tag=1", "trunks=1,2"}},
	} {
		if got := vlanArgs(c.v); !reflect.DeepEqual(got, c.want) {
			t.Errorf("vlanArgs(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// ovsFixture: the plumb fixture plus a real Open vSwitch whose ovs-vswitchd
// runs in the fixture's namespace, with bridge ovsbr0.
func ovsFixture(t *testing.T) (*fixture, *testenv.OVS, *OVS) {
	f := newFixture(t)
	o := testenv.StartOVS(t, f.ns)
	o.AddBridge("ovsbr0")
	return f, o, &OVS{DB: o.DB}
}

// A tap on an Open vSwitch bridge, with libvirt's external-ids and the
// VLAN settings; Delete and DeletePort remove both halves.
func TestCreateOVSTap(t *testing.T) {
	f, o, ovs := ovsFixture(t)
	before := f.ns.Snapshot(t)
	v := &vlan.Vlan{Tags: []uint{42, 47}, Trunk: true, NativeMode: vlan.NativeUntagged, NativeTag: 47}
	err := f.p.CreateOVSTap(target, guest, 0, ovs, OVSPort{Bridge: "ovsbr0", InterfaceID: ifaceID, ProfileID: "tenant-a", VMID: vmID, Vlan: v})
	if err != nil {
		t.Fatal(err)
	}
	l := f.ns.Link(t, target)
	if l.Type() != "tuntap" || l.Attrs().HardwareAddr.String() != tapGuest || l.Attrs().Flags&1 == 0 {
		t.Errorf("tap: %s %s %v", l.Type(), l.Attrs().HardwareAddr, l.Attrs().Flags)
	}
	if br := o.Run("port-to-br", target); br != "ovsbr0" {
		t.Errorf("port-to-br = %q", br)
	}
	ids := o.Run("get", "Interface", target, "external-ids")
	for _, want := range []string{`attached-mac="` + guest + `"`, `iface-id="` + ifaceID + `"`, `iface-status=active`, `vm-id="` + vmID + `"`} {
		if !strings.Contains(ids, want) {
			t.Errorf("Interface external-ids %s lacks %s", ids, want)
		}
	}
	if got := o.Run("get", "Port", target, "external-ids:port-profile"); got != `"tenant-a"` && got != "tenant-a" {
		t.Errorf("port-profile %s", got)
	}
	for col, want := range map[string]string{"tag": "47", "trunks": "[42, 47]", "vlan_mode": "native-untagged"} {
		if got := o.Run("get", "Port", target, col); got != want {
			t.Errorf("Port %s = %s, want %s", col, got, want)
		}
	}
	// ovs-vswitchd took the port (ofport assigned, no error).
	if e := o.Run("get", "Interface", target, "error"); e != "[]" {
		t.Errorf("Interface error: %s", e)
	}
	ports, err := ovs.Ports("vsw")
	if err != nil || !reflect.DeepEqual(ports, []string{target}) {
		t.Errorf("Ports = %v %v", ports, err)
	}

	if err := f.p.Delete(target); err != nil {
		t.Fatal(err)
	}
	if err := ovs.DeletePort(target); err != nil {
		t.Fatal(err)
	}
	if err := ovs.DeletePort(target); err != nil {
		t.Errorf("DeletePort of a port that is gone: %v", err)
	}
	if p := o.Run("list-ports", "ovsbr0"); p != "" {
		t.Errorf("ports left: %s", p)
	}
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Errorf("after delete:\n%s", d)
	}
}

// Failures leave no tap and no port: a bridge Open vSwitch does not have,
// ovs-vswitchd not running (ovs-vsctl commits the port, then times out
// waiting for it), the database not reachable.
func TestCreateOVSTapFailures(t *testing.T) {
	f, o, ovs := ovsFixture(t)
	before := f.ns.Snapshot(t)
	port := OVSPort{Bridge: "nobr", InterfaceID: ifaceID, VMID: vmID}
	clean := func(t *testing.T) {
		t.Helper()
		if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
			t.Errorf("left behind:\n%s", d)
		}
		if p, err := o.Try("--no-wait", "list-ports", "ovsbr0"); err != nil || p != "" {
			t.Errorf("ports left: %q %v", p, err)
		}
	}
	err := f.p.CreateOVSTap(target, guest, 0, ovs, port)
	checkPlumbingErr(t, err, "cannot create tap '"+target+"'", "Open vSwitch bridge 'nobr' does not exist")
	clean(t)

	// A Linux bridge is not an Open vSwitch bridge.
	port.Bridge = "br0"
	checkPlumbingErr(t, f.p.CreateOVSTap(target, guest, 0, ovs, port), "Open vSwitch bridge 'br0' does not exist")
	clean(t)

	// No interfaceid.
	checkPlumbingErr(t, f.p.CreateOVSTap(target, guest, 0, ovs, OVSPort{Bridge: "ovsbr0"}), "no interfaceid")

	// ovs-vswitchd is not running: the call is bounded by the timeout.
	o.StopVswitchd()
	short := &OVS{DB: o.DB, Timeout: 2 * time.Second}
	port.Bridge = "ovsbr0"
	start := time.Now()
	err = f.p.CreateOVSTap(target, guest, 0, short, port)
	checkPlumbingErr(t, err, "cannot add tap '"+target+"' to Open vSwitch bridge 'ovsbr0'", "timeout")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s with a 2 s timeout", d)
	}
	clean(t)

	// The database is not reachable either.
	bad := &OVS{DB: "unix:" + o.Dir + "/nothing.sock", Timeout: time.Second}
	checkPlumbingErr(t, f.p.CreateOVSTap(target, guest, 0, bad, port), "asking Open vSwitch about bridge 'ovsbr0'")
	clean(t)
	checkPlumbingErr(t, bad.DeletePort(target), "cannot remove Open vSwitch port '"+target+"'")
}
