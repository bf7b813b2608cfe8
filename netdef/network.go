// Package netdef holds virtswitch's network definitions: libvirt network XML
// in the forward modes bridge, vepa, private and passthrough (SPEC §1).
package netdef

import (
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/vlan"
	"github.com/virtswitch/virtswitch/vport"
)

// Forward modes virtswitch serves.
const (
	ModeBridge      = "bridge"
	ModeVEPA        = "vepa"
	ModePrivate     = "private"
	ModePassthrough = "passthrough"
)

// Network is a validated network definition.
type Network struct {
	Name string
	UUID string // "" until the daemon assigns one on first define
	Mode string // one of the Mode* constants

	// Bridge is the host bridge of a bridge-mode network without a pool.
	Bridge string
	// Devices is the pool in order; the first is <forward dev>. nil for a
	// host-bridge network.
	Devices []string

	VirtualPort *vport.VirtualPort // network level; Type always set
	// Bandwidth is the network-level <bandwidth>: the limit of every
	// interface whose portgroup and own definition set none (nil: none).
	Bandwidth *bandwidth.Bandwidth
	// Vlan is the network-level <vlan> (Open vSwitch networks only).
	Vlan       *vlan.Vlan
	Portgroups []Portgroup
	Metadata   string // inner XML of <metadata>, kept as given; "" = none
}

// Portgroup is one <portgroup>.
type Portgroup struct {
	Name        string
	Default     bool
	VirtualPort *vport.VirtualPort // Type may be ""
	Bandwidth   *bandwidth.Bandwidth
	Vlan        *vlan.Vlan
}

// Status is the live part of the status view (GetXMLDesc flag 1).
type Status struct {
	Connections uint
	Devices     map[string]uint // connections per pool device
}

// Pool reports whether n is a direct (macvtap) network with a device pool.
func (n *Network) Pool() bool { return len(n.Devices) > 0 }

// Portgroup returns the portgroup called name, or nil.
func (n *Network) Portgroup(name string) *Portgroup {
	for i := range n.Portgroups {
		if n.Portgroups[i].Name == name {
			return &n.Portgroups[i]
		}
	}
	return nil
}

// DefaultPortgroup returns the portgroup marked default, or nil.
func (n *Network) DefaultPortgroup() *Portgroup {
	for i := range n.Portgroups {
		if n.Portgroups[i].Default {
			return &n.Portgroups[i]
		}
	}
	return nil
}
