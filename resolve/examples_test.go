package resolve

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/netdef"
	"github.com/virtswitch/virtswitch/pool"
	"github.com/virtswitch/virtswitch/vport"
)

// example parses one of the project's shipped example networks.
func example(t *testing.T, name string) *netdef.Network {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := netdef.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

func TestExampleNetworks(t *testing.T) {
	tests := []struct {
		file, portgroup string
		iface           *vport.VirtualPort
		actual, mode    string
		bridge          string
		exclusive       bool
		want            *vport.VirtualPort // InstanceID "*" = generated
		kind            apierr.Kind        // error expected
	}{
		// SPEC §2's Form A interface on engineering gives SPEC §4's <actual>.
		{file: "red-network-vepa.xml", portgroup: "engineering", iface: qbg("", "", "", inst),
			actual: "direct", mode: "vepa", want: qbg("11", "33", "2", inst)},
		{file: "red-network-vepa.xml", iface: typeless(vport.Params{InstanceID: inst}),
			actual: "direct", mode: "vepa", want: qbg("11", "22", "2", inst)},
		{file: "red-network-vepa.xml", portgroup: "engineering", iface: qbg("11", "1193047", "2", inst), kind: apierr.Conflict},
		{file: "red-network-vepa.xml", portgroup: "marketing", kind: apierr.NotFound},
		{file: "red-network-bridge.xml", actual: "bridge", bridge: "eth0"},
		{file: "red-network-bridge.xml", iface: typeless(vport.Params{InstanceID: inst}), actual: "bridge", bridge: "eth0"},
		{file: "red-network-passthrough.xml", actual: "direct", mode: "passthrough", exclusive: true},
		{file: "blue-network-private-qbh.xml", actual: "direct", mode: "private", exclusive: true,
			want: &vport.VirtualPort{Type: vport.Qbh, Params: &vport.Params{ProfileID: "finance-vlan"}}},
		{file: "green-network-macvtap-bridge.xml", actual: "direct", mode: "bridge"},
		{file: "green-network-macvtap-bridge.xml", portgroup: "db", actual: "direct", mode: "bridge",
			want: qbg("5", "16", "1", "*")},
		{file: "ovs-network.xml", actual: "bridge", bridge: "ovsbr0",
			want: &vport.VirtualPort{Type: vport.OpenVSwitch, Params: &vport.Params{InterfaceID: "*"}}},
		{file: "ovs-network.xml", portgroup: "tenant-a", actual: "bridge", bridge: "ovsbr0",
			want: &vport.VirtualPort{Type: vport.OpenVSwitch, Params: &vport.Params{ProfileID: "tenant-a-profile", InterfaceID: "*"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.portgroup, func(t *testing.T) {
			r, err := Resolve(example(t, tt.file), tt.portgroup, tt.iface)
			if tt.kind != "" {
				if apierr.KindOf(err) != tt.kind {
					t.Fatalf("Resolve = %+v, %v; want a %s error", r, err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.ActualType != tt.actual || r.Mode != tt.mode || r.Bridge != tt.bridge || r.Exclusive != tt.exclusive {
				t.Fatalf("Resolve = %+v", r)
			}
			want := tt.want.Clone()
			for _, id := range []string{"instanceid", "interfaceid"} {
				if want != nil && want.Get(id) == "*" {
					want.Set(id, r.VirtualPort.Get(id))
				}
			}
			if r.VirtualPort.Format("") != want.Format("") {
				t.Fatalf("virtualport\n got %s\nwant %s", r.VirtualPort.Format(""), want.Format(""))
			}
		})
	}
}

// The seed's passthrough pool end to end: eight guests get eth10…eth17 in
// order, a ninth is refused, and a release makes room again.
func TestSeedPassthroughWithPool(t *testing.T) {
	n := example(t, "red-network-passthrough.xml")
	p := pool.New(n.Name, n.Devices)
	for i := range 9 {
		r, err := Resolve(n, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := p.Allocate(fmt.Sprintf("guest%d/52:54:00:00:00:%02x", i, i), r.Exclusive)
		if i < 8 {
			if err != nil || dev != fmt.Sprint("eth1", i) {
				t.Fatalf("guest %d: %q %v", i, dev, err)
			}
			continue
		}
		if apierr.KindOf(err) != apierr.PoolExhausted ||
			err.Error() != "network 'red-network' requires exclusive access to interfaces, but none are available" {
			t.Fatalf("ninth guest: %q %v", dev, err)
		}
	}
	p.Release("guest3/52:54:00:00:00:03")
	if dev, err := p.Allocate("guest8/52:54:00:00:00:08", true); err != nil || dev != "eth13" {
		t.Fatalf("after a release: %q %v", dev, err)
	}
}
