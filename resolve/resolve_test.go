package resolve

import (
	"reflect"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/netdef"
	"github.com/virtswitch/virtswitch/vlan"
	"github.com/virtswitch/virtswitch/vport"
)

const inst = "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"

func qbg(managerid, typeid, typeidversion, instanceid string) *vport.VirtualPort {
	return &vport.VirtualPort{Type: vport.Qbg, Params: &vport.Params{
		ManagerID: managerid, TypeID: typeid, TypeIDVersion: typeidversion, InstanceID: instanceid}}
}

func typeless(p vport.Params) *vport.VirtualPort { return &vport.VirtualPort{Params: &p} }

// redVEPA is the seed's vepa red-network: network-level 802.1Qbg port,
// portgroups accounting (default, typeid 22) and engineering (typeid 33).
func redVEPA() *netdef.Network {
	return &netdef.Network{
		Name:        "red-network",
		Mode:        netdef.ModeVEPA,
		Devices:     []string{"eth10"},
		VirtualPort: qbg("11", "1193047", "2", ""),
		Portgroups: []netdef.Portgroup{
			{Name: "accounting", Default: true, VirtualPort: typeless(vport.Params{TypeID: "22"})},
			{Name: "engineering", VirtualPort: typeless(vport.Params{TypeID: "33"})},
		},
	}
}

func hostBridge() *netdef.Network {
	return &netdef.Network{Name: "red-network", Mode: netdef.ModeBridge, Bridge: "br0"}
}

func poolNet(mode string, vp *vport.VirtualPort, pgs ...netdef.Portgroup) *netdef.Network {
	return &netdef.Network{Name: "blue", Mode: mode, Devices: []string{"eth10", "eth11"}, VirtualPort: vp, Portgroups: pgs}
}

func params(vp *vport.VirtualPort) vport.Params {
	if vp == nil || vp.Params == nil {
		return vport.Params{}
	}
	return *vp.Params
}

func TestResolveSeedRedNetwork(t *testing.T) {
	tests := []struct {
		name      string
		portgroup string
		iface     *vport.VirtualPort
		wantPG    string
		want      vport.Params // InstanceID "*" = generated
	}{
		{"default portgroup accounting", "", typeless(vport.Params{InstanceID: inst}), "accounting",
			vport.Params{ManagerID: "11", TypeID: "22", TypeIDVersion: "2", InstanceID: inst}},
		{"engineering, typed interface with instanceid only", "engineering", qbg("", "", "", inst), "engineering",
			vport.Params{ManagerID: "11", TypeID: "33", TypeIDVersion: "2", InstanceID: inst}},
		{"no interface port: instanceid generated", "engineering", nil, "engineering",
			vport.Params{ManagerID: "11", TypeID: "33", TypeIDVersion: "2", InstanceID: "*"}},
		{"interface repeats the portgroup's value", "engineering", typeless(vport.Params{TypeID: "33", InstanceID: inst}), "engineering",
			vport.Params{ManagerID: "11", TypeID: "33", TypeIDVersion: "2", InstanceID: inst}},
		{"interface repeats values in another notation", "accounting", qbg("0x0b", "0x16", "02", strings.ToUpper(inst)), "accounting",
			vport.Params{ManagerID: "11", TypeID: "22", TypeIDVersion: "2", InstanceID: inst}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := redVEPA()
			r, err := Resolve(n, tt.portgroup, tt.iface)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if r.Network != "red-network" || r.Portgroup != tt.wantPG || r.ActualType != ActualDirect ||
				r.Mode != "vepa" || r.Bridge != "" || r.Exclusive {
				t.Fatalf("Resolve = %+v", r)
			}
			if r.VirtualPort == nil || r.VirtualPort.Type != vport.Qbg {
				t.Fatalf("virtualport = %+v, want 802.1Qbg", r.VirtualPort)
			}
			got := params(r.VirtualPort)
			if tt.want.InstanceID == "*" {
				if _, err := vport.ParseUUID(got.InstanceID); err != nil {
					t.Fatalf("generated instanceid %q: %v", got.InstanceID, err)
				}
				tt.want.InstanceID = got.InstanceID
			}
			if got != tt.want {
				t.Fatalf("params = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGeneratedIDsDiffer(t *testing.T) {
	a, err := Resolve(redVEPA(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Resolve(redVEPA(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.VirtualPort.Get("instanceid") == b.VirtualPort.Get("instanceid") {
		t.Fatalf("two resolutions generated the same instanceid %s", a.VirtualPort.Get("instanceid"))
	}
}

func TestResolveErrors(t *testing.T) {
	qbh := func(profile string) *vport.VirtualPort {
		return &vport.VirtualPort{Type: vport.Qbh, Params: &vport.Params{ProfileID: profile}}
	}
	ovs := &vport.VirtualPort{Type: vport.OpenVSwitch}
	tests := []struct {
		name      string
		net       *netdef.Network
		portgroup string
		iface     *vport.VirtualPort
		kind      apierr.Kind
		msg       string // exact message
	}{
		{"missing portgroup", redVEPA(), "sales", nil, apierr.NotFound,
			"network 'red-network' has no portgroup 'sales'"},
		{"seed interface typeid vs engineering", redVEPA(), "engineering", qbg("11", "1193047", "2", inst), apierr.Conflict,
			"network 'red-network' portgroup 'engineering': <virtualport> of the interface conflicts with portgroup 'engineering': attempt to merge virtualports with mismatched typeids (1193047 and 33)"},
		{"interface managerid vs network", redVEPA(), "", typeless(vport.Params{ManagerID: "12"}), apierr.Conflict,
			"network 'red-network' portgroup 'accounting': <virtualport> of the interface conflicts with the network: attempt to merge virtualports with mismatched managerids (12 and 11)"},
		{"interface instanceid vs portgroup", poolNet(netdef.ModeVEPA, qbg("1", "2", "3", ""),
			netdef.Portgroup{Name: "pg", VirtualPort: typeless(vport.Params{InstanceID: inst})}),
			"pg", typeless(vport.Params{InstanceID: "aaaaaaaa-8b5c-4eeb-8f00-d84eaa0aaa4f"}), apierr.Conflict,
			"network 'blue' portgroup 'pg': <virtualport> of the interface conflicts with portgroup 'pg': attempt to merge virtualports with mismatched instanceids ('aaaaaaaa-8b5c-4eeb-8f00-d84eaa0aaa4f' and '" + inst + "')"},
		{"interface profileid vs network", poolNet(netdef.ModeVEPA, qbh("eng")), "", typeless(vport.Params{ProfileID: "fin"}), apierr.Conflict,
			"network 'blue': <virtualport> of the interface conflicts with the network: attempt to merge virtualports with mismatched profileids ('fin' and 'eng')"},
		{"interface type vs network type", redVEPA(), "", qbh("x"), apierr.Conflict,
			"network 'red-network' portgroup 'accounting': <virtualport> of the interface conflicts with the network: attempt to merge virtualports with mismatched types (802.1Qbh and 802.1Qbg)"},
		{"portgroup type vs network type", poolNet(netdef.ModeVEPA, qbg("1", "2", "3", ""),
			netdef.Portgroup{Name: "pg", Default: true, VirtualPort: qbh("x")}), "", nil, apierr.Conflict,
			"network 'blue' portgroup 'pg': <virtualport> of portgroup 'pg' conflicts with the network: attempt to merge virtualports with mismatched types (802.1Qbh and 802.1Qbg)"},
		{"interface type vs portgroup type", poolNet(netdef.ModeVEPA, nil,
			netdef.Portgroup{Name: "pg", Default: true, VirtualPort: qbh("x")}), "", qbg("1", "2", "3", ""), apierr.Conflict,
			"network 'blue' portgroup 'pg': <virtualport> of the interface conflicts with portgroup 'pg': attempt to merge virtualports with mismatched types (802.1Qbg and 802.1Qbh)"},
		{"incomplete qbg", poolNet(netdef.ModeVEPA, &vport.VirtualPort{Type: vport.Qbg, Params: &vport.Params{ManagerID: "11"}}), "", nil, apierr.InvalidXML,
			"network 'blue': missing typeid in <virtualport type='802.1Qbg'>"},
		{"incomplete qbg typeidversion", poolNet(netdef.ModeVEPA, qbg("11", "5", "", "")), "", nil, apierr.InvalidXML,
			"network 'blue': missing typeidversion in <virtualport type='802.1Qbg'>"},
		{"incomplete qbh", poolNet(netdef.ModePrivate, nil), "", &vport.VirtualPort{Type: vport.Qbh}, apierr.InvalidXML,
			"network 'blue': missing profileid in <virtualport type='802.1Qbh'>"},
		{"openvswitch on direct", poolNet(netdef.ModeVEPA, nil), "", ovs, apierr.Conflict,
			"network 'blue': <virtualport type='openvswitch'> does not suit a direct (macvtap vepa) connection, which takes only 802.1Qbg or 802.1Qbh"},
		{"qbg on host bridge", hostBridge(), "", qbg("1", "2", "3", inst), apierr.Conflict,
			"network 'red-network': <virtualport type='802.1Qbg'> does not suit a connection to host bridge 'br0', which takes only openvswitch"},
		{"interface param not allowed for merged type", redVEPA(), "", typeless(vport.Params{ProfileID: "x"}), apierr.InvalidXML,
			"network 'red-network' portgroup 'accounting': <virtualport> of the interface: parameter profileid is not allowed in <virtualport type='802.1Qbg'>"},
		{"portgroup param not allowed for merged type", poolNet(netdef.ModePrivate, qbh("x"),
			netdef.Portgroup{Name: "pg", VirtualPort: typeless(vport.Params{TypeID: "4"})}), "pg", nil, apierr.InvalidXML,
			"network 'blue' portgroup 'pg': <virtualport> of portgroup 'pg': parameter typeid is not allowed in <virtualport type='802.1Qbh'>"},
		{"interface value out of range", redVEPA(), "", typeless(vport.Params{TypeID: "16777216"}), apierr.InvalidXML,
			"network 'red-network' portgroup 'accounting': <virtualport> of the interface: typeid parameter 16777216 out of range (0-16777215)"},
		{"interface unknown type", redVEPA(), "", &vport.VirtualPort{Type: "midonet"}, apierr.InvalidXML,
			"network 'red-network' portgroup 'accounting': <virtualport> of the interface: unknown <virtualport> type 'midonet'"},
		{"network with neither bridge nor pool", &netdef.Network{Name: "odd", Mode: netdef.ModeVEPA}, "", nil, apierr.InvalidXML,
			"network 'odd' (forward mode 'vepa') has neither a host bridge nor a device pool"},
		{"libvirt-only mode", &netdef.Network{Name: "natnet", Mode: "nat", Devices: []string{"eth0"}}, "", nil, apierr.Unsupported,
			"network 'natnet': forward mode 'nat' is served by libvirt's own network driver, not virtswitch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(tt.net, tt.portgroup, tt.iface)
			if err == nil {
				t.Fatalf("Resolve = %+v, want a %s error", r, tt.kind)
			}
			if r != nil {
				t.Errorf("Resolve returned %+v alongside the error", r)
			}
			if k := apierr.KindOf(err); k != tt.kind {
				t.Errorf("kind = %q, want %q (%v)", k, tt.kind, err)
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n got %q\nwant %q", err.Error(), tt.msg)
			}
		})
	}
}

func TestActualTypeAndExclusivity(t *testing.T) {
	qbh := &vport.VirtualPort{Type: vport.Qbh, Params: &vport.Params{ProfileID: "finance"}}
	tests := []struct {
		name      string
		net       *netdef.Network
		portgroup string
		iface     *vport.VirtualPort
		actual    string
		mode      string
		bridge    string
		exclusive bool
		vpType    string // "" = no virtualport
	}{
		{"host bridge", hostBridge(), "", nil, ActualBridge, "", "br0", false, ""},
		{"macvtap bridge pool", poolNet(netdef.ModeBridge, nil), "", nil, ActualDirect, "bridge", "", false, ""},
		{"vepa", poolNet(netdef.ModeVEPA, nil), "", nil, ActualDirect, "vepa", "", false, ""},
		{"private without port", poolNet(netdef.ModePrivate, nil), "", nil, ActualDirect, "private", "", false, ""},
		{"private with qbg", poolNet(netdef.ModePrivate, qbg("1", "2", "3", inst)), "", nil, ActualDirect, "private", "", false, vport.Qbg},
		{"private with network qbh", poolNet(netdef.ModePrivate, qbh), "", nil, ActualDirect, "private", "", true, vport.Qbh},
		{"private with qbh from the interface only", poolNet(netdef.ModePrivate, nil), "", qbh, ActualDirect, "private", "", true, vport.Qbh},
		{"private with qbh from a portgroup only", poolNet(netdef.ModePrivate, nil,
			netdef.Portgroup{Name: "fin", VirtualPort: qbh}), "fin", nil, ActualDirect, "private", "", true, vport.Qbh},
		{"private, qbh portgroup not in effect", poolNet(netdef.ModePrivate, nil,
			netdef.Portgroup{Name: "fin", VirtualPort: qbh}), "", nil, ActualDirect, "private", "", false, ""},
		{"passthrough", poolNet(netdef.ModePassthrough, nil), "", nil, ActualDirect, "passthrough", "", true, ""},
		{"passthrough with qbh", poolNet(netdef.ModePassthrough, qbh), "", nil, ActualDirect, "passthrough", "", true, vport.Qbh},
		{"vepa with qbh is shared", poolNet(netdef.ModeVEPA, qbh), "", nil, ActualDirect, "vepa", "", false, vport.Qbh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(tt.net, tt.portgroup, tt.iface)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if r.ActualType != tt.actual || r.Mode != tt.mode || r.Bridge != tt.bridge || r.Exclusive != tt.exclusive {
				t.Fatalf("Resolve = %+v, want actual %s mode %q bridge %q exclusive %v", r, tt.actual, tt.mode, tt.bridge, tt.exclusive)
			}
			gotType := ""
			if r.VirtualPort != nil {
				gotType = r.VirtualPort.Type
			}
			if gotType != tt.vpType {
				t.Fatalf("virtualport type %q, want %q", gotType, tt.vpType)
			}
		})
	}
}

func TestPortgroupChoice(t *testing.T) {
	plain := poolNet(netdef.ModeVEPA, nil, netdef.Portgroup{Name: "a"}, netdef.Portgroup{Name: "b"})
	withDefault := poolNet(netdef.ModeVEPA, nil, netdef.Portgroup{Name: "a"}, netdef.Portgroup{Name: "b", Default: true})
	tests := []struct {
		name      string
		net       *netdef.Network
		portgroup string
		want      string
	}{
		{"no name, no default: none", plain, "", ""},
		{"no name: the default", withDefault, "", "b"},
		{"a named one beats the default", withDefault, "a", "a"},
		{"named, no default", plain, "b", "b"},
		{"no portgroups at all", poolNet(netdef.ModeVEPA, nil), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(tt.net, tt.portgroup, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Portgroup != tt.want {
				t.Fatalf("portgroup %q, want %q", r.Portgroup, tt.want)
			}
		})
	}
	if _, err := Resolve(plain, "A", nil); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("portgroup names are case-sensitive (as libvirt's); got %v", err)
	}
}

func TestMergeLayers(t *testing.T) {
	tests := []struct {
		name  string
		net   *netdef.Network
		pg    string
		iface *vport.VirtualPort
		want  *vport.VirtualPort // nil = no virtualport
	}{
		{"no type anywhere: no port", poolNet(netdef.ModeVEPA, nil), "", nil, nil},
		{"type-less params alone are dropped", poolNet(netdef.ModeVEPA, nil,
			netdef.Portgroup{Name: "pg", Default: true, VirtualPort: typeless(vport.Params{TypeID: "22"})}), "",
			typeless(vport.Params{InstanceID: inst}), nil},
		{"type-less portgroup filled from the network", poolNet(netdef.ModeVEPA, qbg("11", "1193047", "2", ""),
			netdef.Portgroup{Name: "pg", VirtualPort: typeless(vport.Params{TypeID: "22", TypeIDVersion: "4"})}), "pg",
			typeless(vport.Params{InstanceID: inst}), qbg("11", "22", "4", inst)},
		{"portgroup beats network on every param", poolNet(netdef.ModeVEPA, qbg("1", "2", "3", inst),
			netdef.Portgroup{Name: "pg", VirtualPort: qbg("4", "5", "6", "aaaaaaaa-8b5c-4eeb-8f00-d84eaa0aaa4f")}), "pg",
			nil, qbg("4", "5", "6", "aaaaaaaa-8b5c-4eeb-8f00-d84eaa0aaa4f")},
		{"type from the portgroup, params from the interface", poolNet(netdef.ModeVEPA, nil,
			netdef.Portgroup{Name: "pg", VirtualPort: qbg("1", "2", "", "")}), "pg",
			typeless(vport.Params{TypeIDVersion: "3", InstanceID: inst}), qbg("1", "2", "3", inst)},
		{"type from the interface alone", poolNet(netdef.ModeVEPA, nil), "", qbg("7", "8", "9", inst), qbg("7", "8", "9", inst)},
		{"type in all three layers, equal", poolNet(netdef.ModeVEPA, qbg("1", "", "", ""),
			netdef.Portgroup{Name: "pg", VirtualPort: qbg("", "2", "", "")}), "pg",
			qbg("1", "2", "3", inst), qbg("1", "2", "3", inst)},
		{"qbh profile from the interface", poolNet(netdef.ModePrivate, &vport.VirtualPort{Type: vport.Qbh}), "",
			typeless(vport.Params{ProfileID: "finance"}),
			&vport.VirtualPort{Type: vport.Qbh, Params: &vport.Params{ProfileID: "finance"}}},
		{"network values normalised", poolNet(netdef.ModeVEPA, qbg("0x0b", "0x10", "010", "")), "",
			typeless(vport.Params{InstanceID: strings.ReplaceAll(strings.ToUpper(inst), "-", "")}), qbg("11", "16", "8", inst)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(tt.net, tt.pg, tt.iface)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !reflect.DeepEqual(r.VirtualPort, tt.want) {
				t.Fatalf("virtualport\n got %s\nwant %s", r.VirtualPort.Format(""), tt.want.Format(""))
			}
		})
	}
}

func TestEmptyVirtualPortChangesNothing(t *testing.T) {
	n := redVEPA()
	n.Portgroups[1].VirtualPort = &vport.VirtualPort{Params: &vport.Params{}}
	r, err := Resolve(n, "engineering", &vport.VirtualPort{})
	if err != nil {
		t.Fatal(err)
	}
	want := qbg("11", "1193047", "2", r.VirtualPort.Get("instanceid"))
	if !reflect.DeepEqual(r.VirtualPort, want) {
		t.Fatalf("virtualport\n got %s\nwant %s", r.VirtualPort.Format(""), want.Format(""))
	}
	r, err = Resolve(poolNet(netdef.ModeVEPA, nil), "", &vport.VirtualPort{})
	if err != nil || r.VirtualPort != nil {
		t.Fatalf("empty interface port on a network without one: %+v %v", r, err)
	}
}

func TestInputsNotMutated(t *testing.T) {
	n := redVEPA()
	n.VirtualPort = qbg("0x0b", "1193047", "2", "")
	iface := typeless(vport.Params{InstanceID: strings.ToUpper(inst)})
	nBefore := *n
	nvp, pg0, pg1, ivp := n.VirtualPort.Clone(), n.Portgroups[0].VirtualPort.Clone(), n.Portgroups[1].VirtualPort.Clone(), iface.Clone()

	r, err := Resolve(n, "engineering", iface)
	if err != nil {
		t.Fatal(err)
	}
	if r.VirtualPort == n.VirtualPort || r.VirtualPort == iface || r.VirtualPort.Params == n.VirtualPort.Params {
		t.Fatal("result shares memory with an input")
	}
	r.VirtualPort.Set("typeid", "99")
	if !reflect.DeepEqual(n.VirtualPort, nvp) || !reflect.DeepEqual(n.Portgroups[0].VirtualPort, pg0) ||
		!reflect.DeepEqual(n.Portgroups[1].VirtualPort, pg1) || !reflect.DeepEqual(iface, ivp) {
		t.Fatal("Resolve changed an input virtualport")
	}
	if n.Name != nBefore.Name || n.Mode != nBefore.Mode || &n.Devices[0] != &nBefore.Devices[0] {
		t.Fatal("Resolve changed the network")
	}

	// Generation does not write the id back into the caller's port either.
	noID := qbg("", "", "", "")
	if _, err := Resolve(redVEPA(), "", noID); err != nil {
		t.Fatal(err)
	}
	if noID.Get("instanceid") != "" {
		t.Fatal("generated instanceid leaked into the interface's port")
	}
}

// The bandwidth and VLAN an interface gets: portgroup over network, whole;
// a VLAN only for an Open vSwitch port.
func TestResolveBandwidthVlan(t *testing.T) {
	netBW := &bandwidth.Bandwidth{In: &bandwidth.Rate{Average: 100}}
	pgBW := &bandwidth.Bandwidth{Out: &bandwidth.Rate{Average: 200}}
	netVlan := &vlan.Vlan{Tags: []uint{10}}
	pgVlan := &vlan.Vlan{Tags: []uint{20}}
	n := &netdef.Network{Name: "ovsnet", Mode: netdef.ModeBridge, Bridge: "ovsbr0",
		VirtualPort: &vport.VirtualPort{Type: vport.OpenVSwitch}, Bandwidth: netBW, Vlan: netVlan,
		Portgroups: []netdef.Portgroup{{Name: "pg", Bandwidth: pgBW, Vlan: pgVlan}, {Name: "bare"}}}
	for _, c := range []struct {
		pg   string
		bw   *bandwidth.Bandwidth
		vlan *vlan.Vlan
	}{{"", netBW, netVlan}, {"pg", pgBW, pgVlan}, {"bare", netBW, netVlan}} {
		r, err := Resolve(n, c.pg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bandwidth.Equal(r.Bandwidth, c.bw) || !vlan.Equal(r.Vlan, c.vlan) {
			t.Errorf("portgroup %q: bandwidth %v vlan %v, want %v and %v", c.pg, r.Bandwidth, r.Vlan, c.bw, c.vlan)
		}
		if r.VirtualPort == nil || r.VirtualPort.Get("interfaceid") == "" {
			t.Errorf("portgroup %q: no generated interfaceid: %+v", c.pg, r.VirtualPort)
		}
	}
	// Not an Open vSwitch port: no VLAN, even if a hand-built network has one.
	n.VirtualPort = nil
	if r, err := Resolve(n, "pg", nil); err != nil || r.Vlan != nil || !bandwidth.Equal(r.Bandwidth, pgBW) {
		t.Errorf("plain bridge: %+v %v", r, err)
	}
}
