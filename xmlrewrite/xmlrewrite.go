// Package xmlrewrite converts guest domain XML between the portable Form A
// (<interface type='network'>) and the libvirt-startable Form B (an unmanaged
// <interface type='ethernet'> plus a port in the domain's <metadata>), and
// writes and reads the state-dir status XML with <actual> (SPEC §2, §4).
//
// Documents are rewritten surgically: the byte ranges of the interfaces and
// of <metadata> are found with encoding/xml and new bytes are spliced in, so
// every other byte (other devices, comments, attribute order and quoting,
// whitespace, other applications' metadata) is preserved, and
// Decode(Encode(x)) == x byte for byte. docs/DOMAIN-XML.md describes both
// forms, the bookkeeping that makes the round trip exact, and the status file.
package xmlrewrite

import (
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/vlan"
	"github.com/virtswitch/virtswitch/vport"
	"github.com/virtswitch/virtswitch/xmlns"
)

// NS is the XML namespace of virtswitch's domain metadata.
const NS = xmlns.Domain

// Port is one virtswitch interface of a domain.
type Port struct {
	Target      string             // vsw + the 12 hex digits of the MAC
	MAC         string             // as written in the interface
	Network     string             // virtswitch network name
	Portgroup   string             // "" when the interface names none
	VirtualPort *vport.VirtualPort // as written in the interface (may be partial), nil if none
	Queues      int                // <driver queues='N'/>, 0 if absent
	// Bandwidth is the interface's own <bandwidth> (nil: none). It stays in
	// the interface in both forms: libvirt applies it to the device itself.
	Bandwidth *bandwidth.Bandwidth
}

// Domain is what Inspect and ParseStatus read from a domain document.
type Domain struct {
	UUID, Name string
	Ports      []Port   // virtswitch interfaces, in document order
	FormA      []string // network names of the remaining <interface type='network'>
}

// Actual is what an interface got on this host: the <actual> element of the
// status XML, plus what undoing the plumbing needs.
type Actual struct {
	Type        string // "direct" | "bridge"
	Dev, Mode   string // direct: pool device and macvtap mode
	Bridge      string // bridge: host bridge
	VirtualPort *vport.VirtualPort
	Vlan        *vlan.Vlan           // Open vSwitch ports: portgroup's, else network's
	Bandwidth   *bandwidth.Bandwidth // in effect (interface, else portgroup, else network)
	SavedMAC    string               // passthrough: the device's own MAC before we changed it
}

// Inspect reads a domain: its UUID and name, its Form B ports joined with
// their interfaces, and the networks of its Form A interfaces. Inconsistent
// Form B (a port without its interface, duplicate targets or MACs, a target
// that is not vsw+MAC, ...) is an InvalidXML error naming the domain and the
// interface.
func Inspect(doc []byte) (*Domain, error) {
	d, err := analyse(doc)
	if err != nil {
		return nil, err
	}
	out := &Domain{UUID: d.uuid, Name: d.name}
	for _, p := range d.formB {
		out.Ports = append(out.Ports, p.Port)
	}
	for _, in := range d.ifaces {
		if in.attrOr("type") != "network" {
			continue
		}
		if s := in.child("", "source"); s != nil {
			if net := s.attrOr("network"); net != "" {
				out.FormA = append(out.FormA, net)
			}
		}
	}
	return out, nil
}
