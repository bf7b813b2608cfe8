// Package resolve decides what a guest interface gets on a network
// (SPEC §3.1–3.2): the effective portgroup, the merged <virtualport>, the
// <bandwidth> the network gives (portgroup over network), the
// actual connection type and mode, and whether the interface needs a pool
// device of its own. It is pure: no state, no I/O, and its inputs are never
// modified. docs/RESOLUTION.md lists the rules and the decisions taken where
// SPEC is silent.
package resolve

import (
	"fmt"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/netdef"
	"github.com/virtswitch/virtswitch/vlan"
	"github.com/virtswitch/virtswitch/vport"
)

// Actual connection types, as in libvirt's <actual type='...'>.
const (
	ActualDirect = "direct"
	ActualBridge = "bridge"
)

// Result is what one guest interface gets on one network.
type Result struct {
	Network     string
	Portgroup   string             // effective portgroup ("" none)
	ActualType  string             // "direct" | "bridge"
	Mode        string             // direct: vepa|private|bridge|passthrough; bridge: ""
	Bridge      string             // host bridge for ActualType "bridge"
	Exclusive   bool               // needs a device of its own
	VirtualPort *vport.VirtualPort // merged, complete, generated ids filled; nil if none
	// Bandwidth is what the network gives: the portgroup's <bandwidth>,
	// else the network's (nil: unlimited). An interface's own <bandwidth>
	// wins over it whole (bandwidth.Effective); libvirt applies that one
	// itself (docs/RESOLUTION.md).
	Bandwidth *bandwidth.Bandwidth
	// Vlan is the portgroup's <vlan>, else the network's, for an Open
	// vSwitch port (nil otherwise: netdef accepts a <vlan> only where the
	// port will be openvswitch).
	Vlan *vlan.Vlan
}

// Resolve works out what an interface that names network n, portgroup
// portgroup ("" = none named) and carries the <virtualport> iface (nil = none)
// gets. Errors carry an apierr Kind and name the network (and the portgroup
// when one is in effect); callers add the interface's MAC.
//
//   - NotFound: the named portgroup does not exist.
//   - Conflict: the layers disagree on a type or a parameter value, or the
//     merged type does not suit the network's connection type.
//   - InvalidXML: a layer's <virtualport> is malformed, carries a parameter
//     its merged type does not allow, or the merged port is incomplete.
//
// A missing 802.1Qbg instanceid or openvswitch interfaceid is generated, so
// each call may return a different one: the caller records the Result for
// the life of the allocation.
func Resolve(n *netdef.Network, portgroup string, iface *vport.VirtualPort) (*Result, error) {
	if n == nil {
		return nil, apierr.New(apierr.NotFound, "no network given")
	}
	res := &Result{Network: n.Name}

	var pg *netdef.Portgroup
	if portgroup != "" {
		if pg = n.Portgroup(portgroup); pg == nil {
			return nil, apierr.New(apierr.NotFound, "network '%s' has no portgroup '%s'", n.Name, portgroup)
		}
	} else {
		pg = n.DefaultPortgroup()
	}
	ctx := fmt.Sprintf("network '%s'", n.Name)
	if pg != nil {
		res.Portgroup = pg.Name
		ctx += fmt.Sprintf(" portgroup '%s'", pg.Name)
	}

	if err := actual(n, res); err != nil {
		return nil, err
	}

	layers := []layer{{"the network", n.VirtualPort}}
	if pg != nil {
		layers = append(layers, layer{fmt.Sprintf("portgroup '%s'", pg.Name), pg.VirtualPort})
	}
	layers = append(layers, layer{"the interface", iface})
	vp, err := merge(ctx, layers)
	if err != nil {
		return nil, err
	}
	if vp != nil {
		if err := suit(ctx, res, vp); err != nil {
			return nil, err
		}
		if err := complete(ctx, vp); err != nil {
			return nil, err
		}
	}
	res.VirtualPort = vp
	var pgBW *bandwidth.Bandwidth
	if pg != nil {
		pgBW = pg.Bandwidth
	}
	res.Bandwidth = bandwidth.Effective(pgBW, n.Bandwidth)
	if vp != nil && vp.Type == vport.OpenVSwitch {
		var pgVlan *vlan.Vlan
		if pg != nil {
			pgVlan = pg.Vlan
		}
		res.Vlan = vlan.Effective(pgVlan, n.Vlan)
	}
	res.Exclusive = res.ActualType == ActualDirect &&
		(res.Mode == netdef.ModePassthrough ||
			res.Mode == netdef.ModePrivate && vp != nil && vp.Type == vport.Qbh)
	return res, nil
}

// actual fills the connection type, mode and bridge from the forward mode
// (SPEC §1 table).
func actual(n *netdef.Network, res *Result) error {
	switch {
	case n.Pool():
		switch n.Mode {
		case netdef.ModeBridge, netdef.ModeVEPA, netdef.ModePrivate, netdef.ModePassthrough:
		default:
			return apierr.New(apierr.Unsupported,
				"network '%s': forward mode '%s' is served by libvirt's own network driver, not virtswitch", n.Name, n.Mode)
		}
		res.ActualType, res.Mode = ActualDirect, n.Mode
	case n.Mode == netdef.ModeBridge && n.Bridge != "":
		res.ActualType, res.Bridge = ActualBridge, n.Bridge
	default:
		// netdef.Parse never yields this; a hand-built Network might.
		return apierr.New(apierr.InvalidXML,
			"network '%s' (forward mode '%s') has neither a host bridge nor a device pool", n.Name, n.Mode)
	}
	return nil
}

// layer is one source of <virtualport> data, lowest priority first.
type layer struct {
	name string // for messages: "the network", "portgroup 'P'", "the interface"
	vp   *vport.VirtualPort
}

// merge combines the layers (network < portgroup < interface) into one
// typed port, or nil when no layer has a type. The result is a fresh value.
func merge(ctx string, layers []layer) (*vport.VirtualPort, error) {
	// Normalise copies first, so values compare canonically ("0x16" equals
	// "22", UUID case and dashes do not matter) and bad values are caught
	// whichever layer they are in.
	vps := make([]*vport.VirtualPort, len(layers))
	for i, l := range layers {
		vps[i] = l.vp.Clone()
		if err := vps[i].Normalize(); err != nil {
			return nil, apierr.New(apierr.InvalidXML, "%s: <virtualport> of %s: %v", ctx, l.name, err)
		}
	}

	typ, typFrom := "", -1
	for i, v := range vps {
		if v == nil || v.Type == "" {
			continue
		}
		if typ == "" {
			typ, typFrom = v.Type, i
			continue
		}
		if v.Type != typ {
			return nil, apierr.New(apierr.Conflict,
				"%s: <virtualport> of %s conflicts with %s: attempt to merge virtualports with mismatched types (%s and %s)",
				ctx, layers[i].name, layers[typFrom].name, v.Type, typ)
		}
	}
	if typ == "" {
		// Type-less parameters alone describe no port: libvirt drops them
		// too, and it keeps a guest's type-less port portable to hosts
		// whose network has no virtualport (docs/RESOLUTION.md).
		return nil, nil
	}

	// A type-less layer's parameters must suit the type the others set.
	for i, v := range vps {
		if v == nil || v.Type != "" {
			continue
		}
		v.Type = typ
		if err := v.Normalize(); err != nil {
			return nil, apierr.New(apierr.InvalidXML, "%s: <virtualport> of %s: %v", ctx, layers[i].name, err)
		}
	}

	out := &vport.VirtualPort{Type: typ}
	from := map[string]int{} // parameter → index of the layer that set it
	last := len(vps) - 1     // the interface
	for i, v := range vps[:last] {
		// Network and portgroup: the later (portgroup) value wins (seed).
		for _, name := range vport.ParamNames {
			if val := v.Get(name); val != "" {
				out.Set(name, val)
				from[name] = i
			}
		}
	}
	if v := vps[last]; v != nil {
		for _, name := range vport.ParamNames {
			val := v.Get(name)
			if val == "" {
				continue
			}
			if have := out.Get(name); have != "" && have != val {
				q := ""
				if name == "instanceid" || name == "interfaceid" || name == "profileid" {
					q = "'" // libvirt quotes string-like values, not numbers
				}
				return nil, apierr.New(apierr.Conflict,
					"%s: <virtualport> of %s conflicts with %s: attempt to merge virtualports with mismatched %ss (%s%s%s and %s%s%s)",
					ctx, layers[last].name, layers[from[name]].name, name, q, val, q, q, have, q)
			}
			out.Set(name, val)
		}
	}
	return out, nil
}

// suit checks that the merged type fits the connection: macvtap can do the
// 802.1Qbg/Qbh (VDP) types, a host bridge only openvswitch.
func suit(ctx string, res *Result, vp *vport.VirtualPort) error {
	switch res.ActualType {
	case ActualDirect:
		if vp.Type == vport.Qbg || vp.Type == vport.Qbh {
			return nil
		}
		return apierr.New(apierr.Conflict,
			"%s: <virtualport type='%s'> does not suit a direct (macvtap %s) connection, which takes only 802.1Qbg or 802.1Qbh",
			ctx, vp.Type, res.Mode)
	default:
		if vp.Type == vport.OpenVSwitch {
			return nil
		}
		return apierr.New(apierr.Conflict,
			"%s: <virtualport type='%s'> does not suit a connection to host bridge '%s', which takes only openvswitch",
			ctx, vp.Type, res.Bridge)
	}
}

// complete fills generated ids and rejects a port that still lacks a
// required parameter.
func complete(ctx string, vp *vport.VirtualPort) error {
	for {
		missing := vp.Missing()
		switch missing {
		case "":
			return nil
		case "instanceid", "interfaceid":
			// Per-interface identities: generated, as libvirt does, and
			// recorded by the caller so they stay stable.
			vp.Set(missing, vport.NewUUID())
		default:
			return apierr.New(apierr.InvalidXML, "%s: missing %s in <virtualport type='%s'>", ctx, missing, vp.Type)
		}
	}
}
