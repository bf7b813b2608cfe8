package netdef

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
)

// Builders for the rule table: a network called net1 in the given mode.
func poolNet(mode, body string) string {
	return "<network><name>net1</name><forward mode='" + mode + "'><interface dev='eth0'/></forward>" + body + "</network>"
}

func hostBridge(body string) string {
	return "<network><name>net1</name><forward mode='bridge'/><bridge name='br0'/>" + body + "</network>"
}

func forwardNet(forward, body string) string {
	return "<network><name>net1</name>" + forward + body + "</network>"
}

type ruleCase struct {
	rule string      // the SPEC §1 rule the case exercises
	xml  string      // input
	kind apierr.Kind // "" = must be accepted
	// For failures: substrings the message must contain besides the network
	// name (the offending element). For successes: ignored.
	want []string
	// netName is what the message must carry to name the network:
	// "" means "network 'net1'", "-" only a leading "network".
	netName string
	check   func(t *testing.T, n *Network) // extra checks on an accepted network
}

var ruleCases = []ruleCase{
	// <name>
	{rule: "name required", xml: poolNet("vepa", ""), check: func(t *testing.T, n *Network) {
		if n.Name != "net1" {
			t.Errorf("name %q", n.Name)
		}
	}},
	{rule: "name required", xml: "<network><forward mode='vepa' dev='eth0'/></network>", kind: apierr.InvalidXML, want: []string{"<name>"}, netName: "-"},
	{rule: "name syntax", xml: strings.Replace(poolNet("vepa", ""), "net1", "A.b_c+d-9", 1), check: func(t *testing.T, n *Network) {
		if n.Name != "A.b_c+d-9" {
			t.Errorf("name %q", n.Name)
		}
	}},
	{rule: "name syntax", xml: strings.Replace(poolNet("vepa", ""), "net1", "a"+strings.Repeat("b", 63), 1)},
	{rule: "name syntax", xml: strings.Replace(poolNet("vepa", ""), "net1", "a"+strings.Repeat("b", 64), 1), kind: apierr.InvalidXML, want: []string{"<name>"}, netName: "network 'a" + strings.Repeat("b", 64) + "'"},
	{rule: "name syntax", xml: strings.Replace(poolNet("vepa", ""), "net1", "-net", 1), kind: apierr.InvalidXML, want: []string{"<name>"}, netName: "network '-net'"},
	{rule: "name syntax", xml: strings.Replace(poolNet("vepa", ""), "net1", "a/b", 1), kind: apierr.InvalidXML, want: []string{"<name>"}, netName: "network 'a/b'"},
	{rule: "name syntax", xml: strings.Replace(poolNet("vepa", ""), "net1", "a b", 1), kind: apierr.InvalidXML, want: []string{"<name>"}, netName: "network 'a b'"},
	{rule: "name syntax", xml: strings.Replace(poolNet("vepa", ""), "net1", "", 1), kind: apierr.InvalidXML, want: []string{"<name>"}, netName: "network ''"},
	{rule: "name syntax", xml: strings.Replace(poolNet("vepa", ""), "<name>net1</name>", "<name>net1</name><name>net2</name>", 1), kind: apierr.InvalidXML, want: []string{"more than one <name>"}},

	// <uuid>
	{rule: "uuid optional", xml: poolNet("vepa", ""), check: func(t *testing.T, n *Network) {
		if n.UUID != "" {
			t.Errorf("uuid %q, want empty", n.UUID)
		}
	}},
	{rule: "uuid optional", xml: poolNet("vepa", "<uuid>81FF0D90C91E674264DA4A736EDB9A8B</uuid>"), check: func(t *testing.T, n *Network) {
		if n.UUID != "81ff0d90-c91e-6742-64da-4a736edb9a8b" {
			t.Errorf("uuid %q not canonical", n.UUID)
		}
	}},
	{rule: "uuid optional", xml: poolNet("vepa", "<uuid>not-a-uuid</uuid>"), kind: apierr.InvalidXML, want: []string{"<uuid>"}},

	// forward modes
	{rule: "forward mode", xml: poolNet("vepa", ""), check: wantMode(ModeVEPA)},
	{rule: "forward mode", xml: poolNet("private", ""), check: wantMode(ModePrivate)},
	{rule: "forward mode", xml: poolNet("passthrough", ""), check: wantMode(ModePassthrough)},
	{rule: "forward mode", xml: poolNet("bridge", ""), check: wantMode(ModeBridge)},
	{rule: "forward mode", xml: hostBridge(""), check: wantMode(ModeBridge)},
	{rule: "forward mode", xml: forwardNet("", "<bridge name='virbr0'/>"), kind: apierr.Unsupported, want: []string{"<forward>", "libvirt's own network driver"}},
	{rule: "forward mode", xml: forwardNet("<forward mode='nat'/>", "<ip address='10.0.0.1' prefix='24'/>"), kind: apierr.Unsupported, want: []string{"mode='nat'", "libvirt's own network driver"}},
	{rule: "forward mode", xml: forwardNet("<forward/>", ""), kind: apierr.Unsupported, want: []string{"mode='nat'", "libvirt's own network driver"}},
	{rule: "forward mode", xml: forwardNet("<forward mode='route' dev='eth0'/>", ""), kind: apierr.Unsupported, want: []string{"mode='route'", "libvirt's own network driver"}},
	{rule: "forward mode", xml: forwardNet("<forward mode='open'/>", ""), kind: apierr.Unsupported, want: []string{"mode='open'", "libvirt's own network driver"}},
	{rule: "forward mode", xml: forwardNet("<forward mode='hostdev' managed='yes'><pf dev='eth2'/></forward>", ""), kind: apierr.Unsupported, want: []string{"mode='hostdev'", "libvirt's own network driver"}},
	{rule: "forward mode", xml: forwardNet("<forward mode='none'/>", ""), kind: apierr.Unsupported, want: []string{"mode='none'", "libvirt's own network driver"}},
	{rule: "forward mode", xml: forwardNet("<forward mode='macvtap' dev='eth0'/>", ""), kind: apierr.InvalidXML, want: []string{"<forward> mode 'macvtap'"}},
	{rule: "forward mode", xml: forwardNet("<forward mode='VEPA' dev='eth0'/>", ""), kind: apierr.InvalidXML, want: []string{"<forward> mode 'VEPA'"}},
	{rule: "forward mode", xml: forwardNet("<forward mode='vepa' dev='eth0'/><forward mode='vepa' dev='eth1'/>", ""), kind: apierr.InvalidXML, want: []string{"more than one <forward>"}},

	// bridge mode: bridge xor pool
	{rule: "bridge: bridge xor pool", xml: hostBridge(""), check: func(t *testing.T, n *Network) {
		if n.Bridge != "br0" || n.Devices != nil || n.Pool() {
			t.Errorf("bridge %q devices %v", n.Bridge, n.Devices)
		}
	}},
	{rule: "bridge: bridge xor pool", xml: forwardNet("<forward mode='bridge' dev='eth0'/>", ""), check: func(t *testing.T, n *Network) {
		if n.Bridge != "" || !reflect.DeepEqual(n.Devices, []string{"eth0"}) || !n.Pool() {
			t.Errorf("bridge %q devices %v", n.Bridge, n.Devices)
		}
	}},
	{rule: "bridge: bridge xor pool", xml: forwardNet("<forward mode='bridge' dev='eth0'/>", "<bridge name='br0'/>"), kind: apierr.InvalidXML, want: []string{"bridge name or a forward dev, but not both"}},
	{rule: "bridge: bridge xor pool", xml: forwardNet("<forward mode='bridge'/>", ""), kind: apierr.InvalidXML, want: []string{"<bridge name>", "pool"}},
	{rule: "bridge: bridge xor pool", xml: forwardNet("<forward mode='bridge'/>", "<bridge/>"), kind: apierr.InvalidXML, want: []string{"<bridge> without a name"}},
	{rule: "bridge: bridge xor pool", xml: forwardNet("<forward mode='bridge'/>", "<bridge name='br0'/><bridge name='br1'/>"), kind: apierr.InvalidXML, want: []string{"more than one <bridge>"}},

	// vepa/private/passthrough: pool required, no <bridge>
	{rule: "direct: pool required", xml: forwardNet("<forward mode='vepa'/>", ""), kind: apierr.InvalidXML, want: []string{"mode='vepa'", "pool"}},
	{rule: "direct: pool required", xml: forwardNet("<forward mode='private'/>", ""), kind: apierr.InvalidXML, want: []string{"mode='private'", "pool"}},
	{rule: "direct: pool required", xml: forwardNet("<forward mode='passthrough'/>", ""), kind: apierr.InvalidXML, want: []string{"mode='passthrough'", "pool"}},
	{rule: "direct: pool required", xml: poolNet("passthrough", ""), check: wantDevices("eth0")},
	{rule: "direct: no bridge", xml: poolNet("private", ""), check: wantMode(ModePrivate)},
	{rule: "direct: no bridge", xml: poolNet("vepa", "<bridge name='br0'/>"), kind: apierr.InvalidXML, want: []string{"<bridge name='br0'>", "mode='vepa'"}},
	{rule: "direct: no bridge", xml: poolNet("passthrough", "<bridge name='br0'/>"), kind: apierr.InvalidXML, want: []string{"<bridge name='br0'>", "mode='passthrough'"}},

	// the pool
	{rule: "pool: forward dev and interfaces", xml: forwardNet("<forward mode='passthrough' dev='eth9'/>", ""), check: wantDevices("eth9")},
	{rule: "pool: forward dev and interfaces", xml: forwardNet("<forward mode='vepa' dev='eth1'><interface dev='eth1'/><interface dev='eth2'/></forward>", ""), check: wantDevices("eth1", "eth2")},
	{rule: "pool: forward dev and interfaces", xml: forwardNet("<forward mode='vepa'><interface dev='eth1'/><interface dev='eth2'/><interface dev='eth3'/></forward>", ""), check: wantDevices("eth1", "eth2", "eth3")},
	{rule: "pool: forward dev and interfaces", xml: forwardNet("<forward mode='vepa' dev='eth1'><interface dev='eth2'/><interface dev='eth1'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward dev='eth1'> must match first <interface dev='eth2'/>"}},
	{rule: "pool: device listed twice", xml: forwardNet("<forward mode='vepa'><interface dev='eth1'/><interface dev='eth10'/><interface dev='eth1.5'/></forward>", ""), check: wantDevices("eth1", "eth10", "eth1.5")},
	{rule: "pool: device listed twice", xml: forwardNet("<forward mode='vepa'><interface dev='eth1'/><interface dev='eth2'/><interface dev='eth1'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"'eth1'", "only be listed once"}},
	{rule: "pool: device listed twice", xml: forwardNet("<forward mode='vepa' dev='eth1'><interface dev='eth1'/><interface dev='eth1'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"'eth1'", "only be listed once"}},
	{rule: "pool: child without dev", xml: forwardNet("<forward mode='private'><interface dev='a'/><interface dev='b'/></forward>", ""), check: wantDevices("a", "b")},
	{rule: "pool: child without dev", xml: forwardNet("<forward mode='vepa'><interface dev='eth1'/><interface/></forward>", ""), kind: apierr.InvalidXML, want: []string{"missing required dev attribute", "<forward><interface>"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='"+strings.Repeat("e", 15)+"'/><interface dev='a.b-c_d\\e'/></forward>", ""), check: wantDevices(strings.Repeat("e", 15), "a.b-c_d\\e")},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='"+strings.Repeat("e", 16)+"'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "longer than 15 bytes"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='eth/0'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "'eth/0'"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='eth 0'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "a space"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='eth&#9;0'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "control character"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='.'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "'.'"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='..'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "'..'"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev=''/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "empty"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='eth0:1'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "':'"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa'><interface dev='eth@0'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<forward><interface dev>", "'@'"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa' dev='eth/0'/>", ""), kind: apierr.InvalidXML, want: []string{"<forward dev>", "'eth/0'"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='vepa' dev=''/>", ""), kind: apierr.InvalidXML, want: []string{"<forward dev>", "empty"}},
	{rule: "pool: device name syntax", xml: forwardNet("<forward mode='bridge'/>", "<bridge name='a/b'/>"), kind: apierr.InvalidXML, want: []string{"<bridge name>", "'a/b'"}},

	// elements that have no meaning in these modes: InvalidXML
	{rule: "no ip/mac/dns/domain/mtu", xml: poolNet("vepa", ""), check: wantMode(ModeVEPA)},
	{rule: "no ip/mac/dns/domain/mtu", xml: poolNet("vepa", "<ip address='192.168.1.1' netmask='255.255.255.0'/>"), kind: apierr.InvalidXML, want: []string{"<ip>", "mode='vepa'"}},
	{rule: "no ip/mac/dns/domain/mtu", xml: hostBridge("<mac address='52:54:00:17:3F:47'/>"), kind: apierr.InvalidXML, want: []string{"<mac>", "mode='bridge'"}},
	{rule: "no ip/mac/dns/domain/mtu", xml: poolNet("private", "<dns><host ip='1.2.3.4'><hostname>a</hostname></host></dns>"), kind: apierr.InvalidXML, want: []string{"<dns>"}},
	{rule: "no ip/mac/dns/domain/mtu", xml: poolNet("passthrough", "<domain name='example.com'/>"), kind: apierr.InvalidXML, want: []string{"<domain>"}},
	{rule: "no ip/mac/dns/domain/mtu", xml: hostBridge("<mtu size='9000'/>"), kind: apierr.InvalidXML, want: []string{"<mtu>"}},
	{rule: "no ip/mac/dns/domain/mtu", xml: hostBridge("<mtu size='not-a-number'/>"), kind: apierr.InvalidXML, want: []string{"<mtu>"}},

	// Unsupported until implemented
	{rule: "unsupported features", xml: poolNet("vepa", "<portgroup name='pg1'/>"), check: wantMode(ModeVEPA)},

	// <bandwidth> on networks and portgroups (issue 17): libvirt's units and ranges
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound average='1000'/></bandwidth>"), check: wantBandwidth("", "inbound 1000 KiB/s, outbound unlimited")},
	{rule: "bandwidth", xml: hostBridge("<bandwidth><inbound average='1000' peak='5000' burst='1024'/><outbound average='4294967295'/></bandwidth><portgroup name='pg1'><bandwidth><outbound average='10' burst='1'/></bandwidth></portgroup>"),
		check: func(t *testing.T, n *Network) {
			wantBandwidth("", "inbound 1000 KiB/s peak 5000 KiB/s burst 1024 KiB, outbound 4294967295 KiB/s")(t, n)
			wantBandwidth("pg1", "inbound unlimited, outbound 10 KiB/s burst 1 KiB")(t, n)
		}},
	{rule: "bandwidth", xml: poolNet("passthrough", "<portgroup name='pg1' default='yes'><virtualport type='802.1Qbh'/><bandwidth>\n  <outbound average='10'/>\n</bandwidth></portgroup>"), check: wantBandwidth("pg1", "inbound unlimited, outbound 10 KiB/s")},
	{rule: "bandwidth", xml: hostBridge("<bandwidth/>"), check: wantBandwidth("", "unlimited")},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound average='0'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"network 'net1': <bandwidth>: average='0' in <inbound> is out of range (1 to 4294967295)"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><outbound average='4294967296'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"average='4294967296' in <outbound> is out of range"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><outbound average='10' burst='99999999999999999999999'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"burst='99999999999999999999999' in <outbound> is out of range"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound average='0x10'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"average='0x10' in <inbound> is not a decimal number"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound average='-5'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"average='-5'", "not a decimal number"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound peak='10'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"'peak' and 'burst' in <inbound> require 'average'"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"missing mandatory 'average' in <inbound>"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound average='100' peak='50'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"peak='50' in <inbound> is lower than average='100'"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound average='1'/><inbound average='2'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"only one <inbound>"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbund average='1'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"unknown element <inbund> in <bandwidth>"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound average='1' avrage='2'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"unknown attribute 'avrage' on <inbound>"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth classID='3'><inbound average='1'/></bandwidth>"), kind: apierr.InvalidXML, want: []string{"classID"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound average='1'/></bandwidth><bandwidth/>"), kind: apierr.InvalidXML, want: []string{"more than one <bandwidth>"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<portgroup name='pg1'><bandwidth/><bandwidth/></portgroup>"), kind: apierr.InvalidXML, want: []string{"more than one <bandwidth> in <portgroup name='pg1'>"}},
	{rule: "bandwidth", xml: hostBridge("<portgroup name='pg1'><bandwidth><outbound average='10' floor='5'/></bandwidth></portgroup>"), kind: apierr.InvalidXML, want: []string{"network 'net1': <portgroup name='pg1'> <bandwidth>: 'floor' is only allowed in <inbound>"}},
	{rule: "bandwidth", xml: hostBridge("<portgroup name='pg1'><bandwidth><inbound average='10' floor='5'/></bandwidth></portgroup>"), kind: apierr.Unsupported, want: []string{"network 'net1': <portgroup name='pg1'> <bandwidth>: 'floor' in <inbound> is not supported", "nat, route, open or none"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound floor='5'/></bandwidth>"), kind: apierr.Unsupported, want: []string{"'floor' in <inbound>"}},
	{rule: "bandwidth", xml: poolNet("vepa", "<bandwidth><inbound floor='5'/></bandwidth><mtu size='9000'/>"), kind: apierr.InvalidXML, want: []string{"<mtu>"}},
	{rule: "unsupported features", xml: hostBridge("<vlan><tag id='42'/></vlan>"), kind: apierr.Unsupported, want: []string{"<vlan>"}},
	// <vlan>: Open vSwitch networks only (issue 17), libvirt's rules
	{rule: "vlan", xml: hostBridge("<vlan><tag id='not-a-number'/></vlan>"), kind: apierr.InvalidXML, want: []string{"network 'net1': <vlan>: invalid vlan tag id 'not-a-number'"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='42'/></vlan>"), check: wantVlan("", "tag 42")},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan trunk='yes'><tag id='42'/></vlan>"), check: wantVlan("", "trunk 42")},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='42' nativeMode='untagged'/><tag id='47'/><tag id='0'/></vlan><portgroup name='pg1'><vlan><tag id='4095'/></vlan></portgroup>"),
		check: func(t *testing.T, n *Network) {
			wantVlan("", "trunk 42,47,0 native untagged 42")(t, n)
			wantVlan("pg1", "tag 4095")(t, n)
		}},
	{rule: "vlan", xml: hostBridge("<portgroup name='pg1'><virtualport type='openvswitch'/><vlan><tag id='7' nativeMode='tagged'/><tag id='8'/></vlan></portgroup>"), check: wantVlan("pg1", "trunk 7,8 native tagged 7")},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='4096'/></vlan>"), kind: apierr.InvalidXML, want: []string{"vlan tag id 4096 too large (maximum 4095)"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan/>"), kind: apierr.InvalidXML, want: []string{"missing tag id"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan trunk='no'><tag id='1'/><tag id='2'/></vlan>"), kind: apierr.InvalidXML, want: []string{"trunk='no'", "more than one vlan tag"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan trunk='maybe'><tag id='1'/></vlan>"), kind: apierr.InvalidXML, want: []string{"trunk='maybe'"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='1' nativeMode='untagged'/></vlan>"), kind: apierr.InvalidXML, want: []string{"not allowed with a native vlan id"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='1' nativeMode='tagged'/><tag id='2' nativeMode='untagged'/></vlan>"), kind: apierr.InvalidXML, want: []string{"duplicate native vlan setting"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='1' nativeMode='both'/><tag id='2'/></vlan>"), kind: apierr.InvalidXML, want: []string{"nativeMode='both'"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='1'/><tag id='1'/></vlan>"), kind: apierr.InvalidXML, want: []string{"listed twice"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag/></vlan>"), kind: apierr.InvalidXML, want: []string{"missing or invalid vlan tag id"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='1'/></vlan><vlan><tag id='2'/></vlan>"), kind: apierr.InvalidXML, want: []string{"more than one <vlan>"}},
	{rule: "vlan", xml: hostBridge("<virtualport type='openvswitch'/><vlan><tag id='1'/><member/></vlan>"), kind: apierr.InvalidXML, want: []string{"unknown element <member> in <vlan>"}},
	{rule: "vlan", xml: poolNet("vepa", "<vlan><tag id='42'/></vlan>"), kind: apierr.Unsupported, want: []string{"network 'net1': <vlan>: virtswitch applies a VLAN only to Open vSwitch ports", "direct (forward mode='vepa')"}},
	{rule: "vlan", xml: poolNet("passthrough", "<portgroup name='pg1'><vlan><tag id='42'/></vlan></portgroup>"), kind: apierr.Unsupported, want: []string{"<portgroup name='pg1'> <vlan>", "Open vSwitch"}},
	{rule: "unsupported features", xml: hostBridge("<port isolated='yes'/>"), kind: apierr.Unsupported, want: []string{"<port isolated>"}},
	{rule: "unsupported features", xml: forwardNet("<forward mode='passthrough'><pf dev='eth0'/></forward>", ""), kind: apierr.Unsupported, want: []string{"<pf>"}},
	{rule: "unsupported features", xml: forwardNet("<forward mode='passthrough'><address type='pci' domain='0x0000' bus='0x11' slot='0x10' function='0x1'/></forward>", ""), kind: apierr.Unsupported, want: []string{"<address>"}},
	{rule: "unsupported features", xml: strings.Replace(poolNet("vepa", ""), "<network>", "<network trustGuestRxFilters='no'>", 1), kind: apierr.Unsupported, want: []string{"trustGuestRxFilters", "<network>"}},
	{rule: "unsupported features", xml: poolNet("vepa", "<portgroup name='pg1' trustGuestRxFilters='yes'/>"), kind: apierr.Unsupported, want: []string{"trustGuestRxFilters", "<portgroup name='pg1'>"}},
	{rule: "unsupported features", xml: hostBridge("<portgroup name='pg1'><vlan><tag id='1'/></vlan></portgroup>"), kind: apierr.Unsupported, want: []string{"<vlan>", "<portgroup name='pg1'>"}},
	{rule: "unsupported features", xml: hostBridge("<bridge macTableManager='libvirt'/>"), kind: apierr.InvalidXML, want: []string{"more than one <bridge>"}},
	{rule: "unsupported features", xml: strings.Replace(hostBridge(""), "<bridge name='br0'/>", "<bridge name='br0' macTableManager='libvirt'/>", 1), kind: apierr.Unsupported, want: []string{"macTableManager"}},
	// An invalid definition is reported as such even when it also uses an
	// unsupported feature.
	{rule: "unsupported features", xml: forwardNet("<forward mode='passthrough'><pf dev='eth0'/></forward>", "<ip address='192.168.1.1'/>"), kind: apierr.InvalidXML, want: []string{"<ip>"}},

	// metadata
	{rule: "metadata kept as given", xml: hostBridge("<metadata>\n    <a:x xmlns:a='urn:a' k=\"v\">text &amp; more<!-- c --></a:x>\n  </metadata>"), check: func(t *testing.T, n *Network) {
		if want := "\n    <a:x xmlns:a='urn:a' k=\"v\">text &amp; more<!-- c --></a:x>\n  "; n.Metadata != want {
			t.Errorf("metadata %q, want %q", n.Metadata, want)
		}
	}},
	{rule: "metadata kept as given", xml: strings.Replace(hostBridge("<metadata><a:x/></metadata>"), "<network>", "<network xmlns:a='urn:a'>", 1), kind: apierr.InvalidXML, want: []string{"<metadata>", "prefix 'a'"}},
	{rule: "metadata kept as given", xml: hostBridge("<metadata><a:x xmlns:a='urn:a' k='1' k='2'/></metadata>"), kind: apierr.InvalidXML, want: []string{"<metadata>", "twice"}},
	{rule: "metadata kept as given", xml: hostBridge("<metadata><?xml version='1.0'?><a:x xmlns:a='urn:a'/></metadata>"), kind: apierr.InvalidXML, want: []string{"<metadata>", "XML declaration"}},
	{rule: "metadata kept as given", xml: hostBridge("<metadata>loose text</metadata>"), kind: apierr.InvalidXML, want: []string{"<metadata>", "text"}},
	{rule: "metadata kept as given", xml: hostBridge("<metadata><a:x xmlns:a='urn:a'/></metadata><metadata/>"), kind: apierr.InvalidXML, want: []string{"more than one <metadata>"}},

	// network-level virtualport
	{rule: "virtualport: type required", xml: poolNet("vepa", "<virtualport type='802.1Qbg'/>"), check: wantVPType("802.1Qbg")},
	{rule: "virtualport: type required", xml: poolNet("vepa", "<virtualport><parameters typeid='1'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "type"}},
	{rule: "virtualport: type required", xml: poolNet("vepa", "<virtualport type=''/>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "empty type"}},
	{rule: "virtualport: type per kind", xml: poolNet("private", "<virtualport type='802.1Qbh'><parameters profileid='p'/></virtualport>"), check: wantVPType("802.1Qbh")},
	{rule: "virtualport: type per kind", xml: poolNet("bridge", "<virtualport type='802.1Qbg'/>"), check: wantVPType("802.1Qbg")},
	{rule: "virtualport: type per kind", xml: hostBridge("<virtualport type='openvswitch'/>"), check: wantVPType("openvswitch")},
	{rule: "virtualport: type per kind", xml: poolNet("vepa", "<virtualport type='openvswitch'/>"), kind: apierr.InvalidXML, want: []string{"<virtualport type='openvswitch'>", "802.1Qbg"}},
	{rule: "virtualport: type per kind", xml: hostBridge("<virtualport type='802.1Qbg'/>"), kind: apierr.InvalidXML, want: []string{"<virtualport type='802.1Qbg'>", "host-bridge", "openvswitch"}},
	{rule: "virtualport: type per kind", xml: hostBridge("<virtualport type='802.1Qbh'/>"), kind: apierr.InvalidXML, want: []string{"<virtualport type='802.1Qbh'>"}},
	{rule: "virtualport: type per kind", xml: hostBridge("<virtualport type='midonet'/>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "midonet"}},
	{rule: "virtualport: one only", xml: hostBridge("<virtualport type='openvswitch'/><portgroup name='a'><virtualport/></portgroup>"), check: wantVPType("openvswitch")},
	{rule: "virtualport: one only", xml: hostBridge("<virtualport type='openvswitch'/><virtualport type='openvswitch'/>"), kind: apierr.InvalidXML, want: []string{"more than one <virtualport>"}},

	// virtualport parameters and ranges
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters managerid='255' typeid='0xFFFFFF' typeidversion='0' instanceid='09B11C53-8B5C-4EEB-8F00-D84EAA0AAA4F'/></virtualport>"), check: func(t *testing.T, n *Network) {
		p := n.VirtualPort.Params
		if p == nil || p.ManagerID != "255" || p.TypeID != "16777215" || p.TypeIDVersion != "0" || p.InstanceID != "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f" {
			t.Errorf("params not canonical: %+v", p)
		}
	}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters managerid='256'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "managerid"}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters typeid='16777216'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "typeid"}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters typeidversion='0x100'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "typeidversion"}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters typeid='-1'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "typeid"}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters instanceid='xyz'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "instanceid"}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters profileid='p'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "profileid"}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "interfaceid"}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters typeid=''/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "empty typeid"}},
	{rule: "virtualport: 802.1Qbg params", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters bogus='1'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport><parameters>", "bogus"}},
	{rule: "virtualport: 802.1Qbh params", xml: poolNet("private", "<virtualport type='802.1Qbh'><parameters profileid='"+strings.Repeat("p", 39)+"'/></virtualport>"), check: wantVPType("802.1Qbh")},
	{rule: "virtualport: 802.1Qbh params", xml: poolNet("private", "<virtualport type='802.1Qbh'><parameters profileid='"+strings.Repeat("p", 40)+"'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "profileid"}},
	{rule: "virtualport: 802.1Qbh params", xml: poolNet("private", "<virtualport type='802.1Qbh'><parameters managerid='1'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "managerid"}},
	{rule: "virtualport: openvswitch params", xml: hostBridge("<virtualport type='openvswitch'><parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' profileid='x'/></virtualport>"), check: wantVPType("openvswitch")},
	{rule: "virtualport: openvswitch params", xml: hostBridge("<virtualport type='openvswitch'><parameters interfaceid='nope'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "interfaceid"}},
	{rule: "virtualport: openvswitch params", xml: hostBridge("<virtualport type='openvswitch'><parameters typeid='1'/></virtualport>"), kind: apierr.InvalidXML, want: []string{"<virtualport>", "typeid"}},

	// portgroups
	{rule: "portgroup: name required", xml: poolNet("vepa", "<portgroup name='a'/><portgroup name='b'/>"), check: func(t *testing.T, n *Network) {
		if len(n.Portgroups) != 2 || n.Portgroup("b") == nil || n.Portgroup("c") != nil || n.DefaultPortgroup() != nil {
			t.Errorf("portgroups %+v", n.Portgroups)
		}
	}},
	{rule: "portgroup: name required", xml: poolNet("vepa", "<portgroup default='yes'/>"), kind: apierr.InvalidXML, want: []string{"<portgroup>", "name"}},
	{rule: "portgroup: name required", xml: poolNet("vepa", "<portgroup name=''/>"), kind: apierr.InvalidXML, want: []string{"<portgroup>", "name"}},
	{rule: "portgroup: name required", xml: poolNet("vepa", "<portgroup name='a b'/>"), kind: apierr.InvalidXML, want: []string{"<portgroup>", "'a b'"}},
	{rule: "portgroup: name unique", xml: poolNet("vepa", "<portgroup name='a'/><portgroup name='A'/>"), check: func(t *testing.T, n *Network) {
		if len(n.Portgroups) != 2 {
			t.Errorf("portgroups %+v", n.Portgroups)
		}
	}},
	{rule: "portgroup: name unique", xml: poolNet("vepa", "<portgroup name='a'/><portgroup name='a'/>"), kind: apierr.InvalidXML, want: []string{"<portgroup name='a'>", "more than once"}},
	{rule: "portgroup: one default", xml: poolNet("vepa", "<portgroup name='a' default='no'/><portgroup name='b' default='YES'/>"), check: func(t *testing.T, n *Network) {
		if d := n.DefaultPortgroup(); d == nil || d.Name != "b" {
			t.Errorf("default portgroup %+v", d)
		}
	}},
	{rule: "portgroup: one default", xml: poolNet("vepa", "<portgroup name='a' default='Yes'/><portgroup name='b' default='yes'/>"), kind: apierr.InvalidXML, want: []string{"multiple default <portgroup>", "a and b"}},
	{rule: "portgroup: one default", xml: poolNet("vepa", "<portgroup name='a' default='true'/>"), kind: apierr.InvalidXML, want: []string{"default='true'", "<portgroup name='a'>"}},
	{rule: "portgroup: virtualport may omit type", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters managerid='11'/></virtualport><portgroup name='a'><virtualport><parameters typeid='22'/></virtualport></portgroup>"), check: func(t *testing.T, n *Network) {
		pg := n.Portgroup("a")
		if pg == nil || pg.VirtualPort == nil || pg.VirtualPort.Type != "" || pg.VirtualPort.Get("typeid") != "22" {
			t.Errorf("portgroup %+v", pg)
		}
	}},
	{rule: "portgroup: virtualport may omit type", xml: poolNet("vepa", "<portgroup name='a'><virtualport><parameters profileid='x'/></virtualport></portgroup>"), check: func(t *testing.T, n *Network) {
		if pg := n.Portgroup("a"); pg == nil || pg.VirtualPort.Get("profileid") != "x" {
			t.Errorf("portgroup %+v", pg)
		}
	}},
	{rule: "portgroup: virtualport fits network", xml: poolNet("private", "<virtualport type='802.1Qbh'/><portgroup name='a'><virtualport type='802.1Qbh'><parameters profileid='x'/></virtualport></portgroup>"), check: wantVPType("802.1Qbh")},
	{rule: "portgroup: virtualport fits network", xml: hostBridge("<portgroup name='a'><virtualport type='openvswitch'/></portgroup>")},
	{rule: "portgroup: virtualport may omit type", xml: poolNet("vepa", "<portgroup name='a'><virtualport type=''/></portgroup>"), kind: apierr.InvalidXML, want: []string{"<portgroup name='a'> <virtualport>", "empty type"}},
	{rule: "portgroup: virtualport fits network", xml: poolNet("vepa", "<virtualport type='802.1Qbg'/><portgroup name='a'><virtualport type='802.1Qbh'/></portgroup>"), kind: apierr.InvalidXML, want: []string{"<portgroup name='a'> <virtualport>", "802.1Qbh", "802.1Qbg"}},
	{rule: "portgroup: virtualport fits network", xml: hostBridge("<portgroup name='a'><virtualport type='802.1Qbg'/></portgroup>"), kind: apierr.InvalidXML, want: []string{"<portgroup name='a'> <virtualport>", "802.1Qbg"}},
	{rule: "portgroup: virtualport fits network", xml: poolNet("vepa", "<virtualport type='802.1Qbg'/><portgroup name='a'><virtualport><parameters profileid='x'/></virtualport></portgroup>"), kind: apierr.InvalidXML, want: []string{"<portgroup name='a'> <virtualport>", "profileid"}},
	{rule: "portgroup: virtualport fits network", xml: poolNet("vepa", "<portgroup name='a'><virtualport><parameters typeid='1' profileid='x'/></virtualport></portgroup>"), kind: apierr.InvalidXML, want: []string{"<portgroup name='a'> <virtualport>", "fit none"}},
	{rule: "portgroup: virtualport ranges", xml: poolNet("vepa", "<portgroup name='a'><virtualport><parameters managerid='0xff' typeidversion='255'/></virtualport></portgroup>"), check: func(t *testing.T, n *Network) {
		if v := n.Portgroup("a").VirtualPort; v.Get("managerid") != "255" || v.Get("typeidversion") != "255" {
			t.Errorf("portgroup virtualport %+v", v.Params)
		}
	}},
	{rule: "portgroup: virtualport ranges", xml: poolNet("vepa", "<portgroup name='a'><virtualport><parameters managerid='300'/></virtualport></portgroup>"), kind: apierr.InvalidXML, want: []string{"<portgroup name='a'> <virtualport>", "managerid"}},
	{rule: "portgroup: virtualport ranges", xml: poolNet("vepa", "<portgroup name='a'><virtualport type='midonet'/></portgroup>"), kind: apierr.InvalidXML, want: []string{"<portgroup name='a'> <virtualport>", "midonet"}},

	// what libvirtxml models but virtswitch does not serve: rejected, never ignored
	{rule: "other libvirt features", xml: hostBridge("<route address='10.0.0.0' prefix='8' gateway='192.168.1.1'/>"), kind: apierr.InvalidXML, want: []string{"<route>"}},
	{rule: "other libvirt features", xml: strings.Replace(hostBridge("<dnsmasq:options><dnsmasq:option value='foo=bar'/></dnsmasq:options>"), "<network>", "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>", 1), kind: apierr.InvalidXML, want: []string{"<dnsmasq:options>"}},
	{rule: "other libvirt features", xml: strings.Replace(hostBridge(""), "<network>", "<network ipv6='yes'>", 1), kind: apierr.InvalidXML, want: []string{"ipv6", "<network>"}},
	{rule: "other libvirt features", xml: forwardNet("<forward mode='vepa' dev='eth0'><nat><port start='1024' end='65535'/></nat></forward>", ""), kind: apierr.InvalidXML, want: []string{"<nat>"}},
	{rule: "other libvirt features", xml: forwardNet("<forward mode='passthrough' dev='eth0'><driver name='vfio'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"<driver>"}},
	{rule: "other libvirt features", xml: forwardNet("<forward mode='passthrough' dev='eth0' managed='yes'/>", ""), kind: apierr.InvalidXML, want: []string{"managed", "<forward>"}},
	{rule: "other libvirt features", xml: strings.Replace(hostBridge(""), "<bridge name='br0'/>", "<bridge name='br0' stp='on' delay='0'/>", 1), kind: apierr.InvalidXML, want: []string{"stp", "<bridge>"}},
	{rule: "other libvirt features", xml: strings.Replace(hostBridge(""), "<bridge name='br0'/>", "<bridge name='br0' zone='trusted'/>", 1), kind: apierr.InvalidXML, want: []string{"zone", "<bridge>"}},
	{rule: "other libvirt features", xml: forwardNet("<forward mode='vepa' dev='eth0'/>", "<bridge macTableManager='libvirt'/>"), kind: apierr.InvalidXML, want: []string{"macTableManager", "<bridge>"}},
	{rule: "other libvirt features", xml: strings.Replace(hostBridge(""), "<network>", "<network connections='4'>", 1), check: wantMode(ModeBridge)},
	{rule: "other libvirt features", xml: strings.Replace(hostBridge(""), "<network>", "<network connections='lots'>", 1), kind: apierr.InvalidXML, want: []string{"connections", "<network>"}},
	{rule: "other libvirt features", xml: forwardNet("<forward mode='vepa'><interface dev='eth0' connections='2'/></forward>", ""), check: wantDevices("eth0")},

	// shape: unknown or repeated elements and attributes, text, namespaces
	{rule: "document shape", xml: hostBridge("<title>lab</title>"), kind: apierr.InvalidXML, want: []string{"unknown element <title>", "<network>"}},
	{rule: "document shape", xml: forwardNet("<forward mode='vepa'><interfce dev='eth0'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"unknown element <interfce>", "<forward>"}},
	{rule: "document shape", xml: forwardNet("<forward mode='vepa' device='eth0'/>", ""), kind: apierr.InvalidXML, want: []string{"unknown attribute 'device'", "<forward>"}},
	{rule: "document shape", xml: forwardNet("<forward mode='vepa'><interface dev='eth0'><x/></interface></forward>", ""), kind: apierr.InvalidXML, want: []string{"unknown element <x>", "<forward><interface>"}},
	{rule: "document shape", xml: forwardNet("<forward mode='vepa'>eth0<interface dev='eth0'/></forward>", ""), kind: apierr.InvalidXML, want: []string{"unexpected text 'eth0'", "<forward>"}},
	{rule: "document shape", xml: poolNet("vepa", "<portgroup name='a'><virtualport/><virtualport/></portgroup>"), kind: apierr.InvalidXML, want: []string{"more than one <virtualport>", "<portgroup name='a'>"}},
	{rule: "document shape", xml: poolNet("vepa", "<virtualport type='802.1Qbg'><parameters/><parameters/></virtualport>"), kind: apierr.InvalidXML, want: []string{"more than one <parameters>"}},
	{rule: "document shape", xml: poolNet("vepa", "<x:portgroup xmlns:x='urn:x' name='a'/>"), kind: apierr.InvalidXML, want: []string{"unknown element <portgroup>", "urn:x"}},
	{rule: "document shape", xml: strings.Replace(poolNet("vepa", ""), "<forward mode='vepa'>", "<forward mode='vepa' x:dev='eth9' xmlns:x='urn:x'>", 1), kind: apierr.InvalidXML, want: []string{"unknown attribute 'dev'", "<forward>"}},
	{rule: "document shape", xml: `<?xml version="1.0"?>` + "\n<!-- comment -->\n" + poolNet("vepa", "<!-- inside -->"), check: wantMode(ModeVEPA)},
	{rule: "document shape", xml: "<!DOCTYPE network [<!ENTITY e 'eth0'>]>" + poolNet("vepa", ""), kind: apierr.InvalidXML, want: []string{"DOCTYPE"}},
	{rule: "document shape", xml: poolNet("vepa", "") + poolNet("vepa", ""), kind: apierr.InvalidXML, want: []string{"more than one root"}},
	{rule: "document shape", xml: "<network><name>net1</name><forward mode='vepa' dev='eth0'>", kind: apierr.InvalidXML, want: []string{"not well-formed"}},
	{rule: "document shape", xml: "<domain><name>net1</name></domain>", kind: apierr.InvalidXML, want: []string{"<domain>", "expected <network>"}},
	{rule: "document shape", xml: "", kind: apierr.InvalidXML, want: []string{"not well-formed"}, netName: "-"},
}

func wantMode(mode string) func(*testing.T, *Network) {
	return func(t *testing.T, n *Network) {
		if n.Mode != mode {
			t.Errorf("mode %q, want %q", n.Mode, mode)
		}
	}
}

func wantDevices(devs ...string) func(*testing.T, *Network) {
	return func(t *testing.T, n *Network) {
		if !reflect.DeepEqual(n.Devices, devs) {
			t.Errorf("devices %q, want %q", n.Devices, devs)
		}
	}
}

func wantBandwidth(portgroup, want string) func(*testing.T, *Network) {
	return func(t *testing.T, n *Network) {
		bw := n.Bandwidth
		if portgroup != "" {
			bw = n.Portgroup(portgroup).Bandwidth
		}
		if got := bw.String(); got != want {
			t.Errorf("bandwidth of %q: %s, want %s", portgroup, got, want)
		}
	}
}

func wantVlan(portgroup, want string) func(*testing.T, *Network) {
	return func(t *testing.T, n *Network) {
		v := n.Vlan
		if portgroup != "" {
			v = n.Portgroup(portgroup).Vlan
		}
		if got := v.String(); got != want {
			t.Errorf("vlan of %q: %s, want %s", portgroup, got, want)
		}
	}
}

func wantVPType(typ string) func(*testing.T, *Network) {
	return func(t *testing.T, n *Network) {
		if n.VirtualPort == nil || n.VirtualPort.Type != typ {
			t.Errorf("virtualport %+v, want type %q", n.VirtualPort, typ)
		}
	}
}

func TestParseRules(t *testing.T) {
	pass, fail := map[string]bool{}, map[string]bool{}
	for i, c := range ruleCases {
		n, err := Parse([]byte(c.xml))
		if c.kind == "" {
			pass[c.rule] = true
			if err != nil {
				t.Errorf("case %d (%s): %s\nrejected: %v", i, c.rule, c.xml, err)
				continue
			}
			if c.check != nil {
				c.check(t, n)
			}
			checkRoundTrip(t, n)
			validateXML(t, fmt.Sprintf("case%d.xml", i), n)
			continue
		}
		fail[c.rule] = true
		if err == nil {
			t.Errorf("case %d (%s): %s\naccepted, want %s", i, c.rule, c.xml, c.kind)
			continue
		}
		if _, ok := err.(*apierr.Error); !ok {
			t.Errorf("case %d (%s): error %T is not an *apierr.Error", i, c.rule, err)
		}
		if k := apierr.KindOf(err); k != c.kind {
			t.Errorf("case %d (%s): %s\nkind %s, want %s: %v", i, c.rule, c.xml, k, c.kind, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("case %d (%s): message is not one line: %q", i, c.rule, msg)
		}
		netName := c.netName
		if netName == "" {
			netName = "net1"
		}
		if netName == "-" {
			if !strings.HasPrefix(msg, "network") {
				t.Errorf("case %d (%s): message %q does not start with 'network'", i, c.rule, msg)
			}
		} else if netName == "net1" {
			netName = "network 'net1'"
		}
		if netName != "-" && !strings.Contains(msg, netName) {
			t.Errorf("case %d (%s): message %q does not name network '%s'", i, c.rule, msg, netName)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("case %d (%s): message %q lacks %q", i, c.rule, msg, w)
			}
		}
	}
	// Every rule has both a passing and a failing case.
	for r := range pass {
		if !fail[r] {
			t.Errorf("rule %q has no failing case", r)
		}
	}
	for r := range fail {
		if !pass[r] {
			t.Errorf("rule %q has no passing case", r)
		}
	}
}

// checkRoundTrip asserts that n formats to XML that parses back to an equal
// network and formats identically (config and status views).
func checkRoundTrip(t *testing.T, n *Network) {
	t.Helper()
	out := n.Format(nil)
	n2, err := Parse([]byte(out))
	if err != nil {
		t.Errorf("formatted network does not parse: %v\n%s", err, out)
		return
	}
	if !reflect.DeepEqual(n, n2) {
		t.Errorf("re-parsed network differs:\n%+v\n%+v\n%s", n, n2, out)
	}
	if out2 := n2.Format(nil); out2 != out {
		t.Errorf("format not idempotent:\n%s\n---\n%s", out, out2)
	}
	st := &Status{Connections: 7, Devices: map[string]uint{}}
	for i, d := range n.Devices {
		st.Devices[d] = uint(i % 2)
	}
	n3, err := Parse([]byte(n.Format(st)))
	if err != nil {
		t.Errorf("status view does not parse: %v", err)
	} else if !reflect.DeepEqual(n, n3) {
		t.Errorf("status view re-parses to a different network")
	}
}

// Inputs near the D-Bus limit (4 MiB): messages stay short, big pools work.
func TestParseLargeInputs(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, in := range []string{
		forwardNet("<forward mode='nat'/>", "") + "",
		strings.Replace(poolNet("vepa", ""), "net1", long, 1),
		strings.Replace(poolNet("vepa", ""), "net1", "-"+long, 1),
		forwardNet("<forward mode='"+long+"'/>", ""),
		forwardNet("<forward mode='vepa'><interface dev='"+long+"'/></forward>", ""),
		poolNet("vepa", "<virtualport type='802.1Qbg'><parameters instanceid='"+long+"'/></virtualport>"),
		poolNet("vepa", "<"+long+"/>"),
		poolNet("vepa", "<portgroup name='"+long+"'/><portgroup name='"+long+"'/>"),
	} {
		in = strings.Replace(in, "<name>net1</name>", "<name>"+long+"</name>", 1)
		_, err := Parse([]byte(in))
		if err == nil {
			t.Fatal("accepted")
		}
		if len(err.Error()) > 520 {
			t.Errorf("message of %d bytes: %.200s", len(err.Error()), err)
		}
	}

	// Text split by many comments is gathered in linear time.
	var b strings.Builder
	b.WriteString("<network><name>net1</name><forward mode='vepa' dev='eth0'>")
	for b.Len() < 4<<20 {
		b.WriteString("<!-- c -->")
	}
	b.WriteString("</forward></network>")
	if _, err := Parse([]byte(b.String())); err != nil {
		t.Errorf("comments: %v", err)
	}

	// A pool of thousands of devices (SR-IOV VFs).
	b.Reset()
	b.WriteString("<network><name>vfs</name><forward mode='passthrough'>")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "<interface dev='vf%d'/>", i)
	}
	b.WriteString("</forward></network>")
	n, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Devices) != 5000 || n.Devices[4999] != "vf4999" {
		t.Errorf("%d devices", len(n.Devices))
	}
	checkRoundTrip(t, n)
}
