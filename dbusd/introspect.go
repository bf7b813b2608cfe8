package main

import (
	"encoding/xml"
	"sort"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"

	"github.com/virtswitch/virtswitch/busapi"
)

// method describes one exported method: its D-Bus name, its arguments for
// introspection, and whether only root may call it.
type method struct {
	name string
	in   []introspect.Arg
	out  []introspect.Arg
	root bool
}

func in(name, sig string) introspect.Arg {
	return introspect.Arg{Name: name, Type: sig, Direction: "in"}
}
func out(name, sig string) introspect.Arg {
	return introspect.Arg{Name: name, Type: sig, Direction: "out"}
}

// managerMethods is SPEC §6's Manager table. The policy file and the uid
// check in server.go follow the root column.
var managerMethods = []method{
	{"DefineNetwork", []introspect.Arg{in("xml", "s")}, []introspect.Arg{out("network", "o")}, true},
	{"UndefineNetwork", []introspect.Arg{in("name", "s")}, nil, true},
	{"ListNetworks", nil, []introspect.Arg{out("networks", "ao")}, false},
	{"LookupNetwork", []introspect.Arg{in("name", "s")}, []introspect.Arg{out("network", "o")}, false},
	{"PrepareDomain", []introspect.Arg{in("domainXML", "s")}, []introspect.Arg{out("statusXML", "s")}, true},
	{"ReleaseDomain", []introspect.Arg{in("uuid", "s")}, nil, true},
	{"ReconnectDomain", []introspect.Arg{in("domainXML", "s")}, []introspect.Arg{out("statusXML", "s")}, true},
	{"RewriteIncoming", []introspect.Arg{in("domainXML", "s")}, []introspect.Arg{out("domainXML", "s")}, true},
	{"EncodeDomain", []introspect.Arg{in("xml", "s")}, []introspect.Arg{out("xml", "s")}, false},
	{"DecodeDomain", []introspect.Arg{in("xml", "s")}, []introspect.Arg{out("xml", "s")}, false},
	{"GetDomainStatus", []introspect.Arg{in("uuid", "s")}, []introspect.Arg{out("statusXML", "s")}, false},
	{"Reload", nil, nil, true},
}

var networkMethods = []method{
	{"GetXMLDesc", []introspect.Arg{in("flags", "u")}, []introspect.Arg{out("xml", "s")}, false},
}

var managerSignals = []introspect.Signal{
	{Name: "DomainPrepared", Args: []introspect.Arg{{Name: "uuid", Type: "s"}, {Name: "name", Type: "s"}}},
	{Name: "DomainReleased", Args: []introspect.Arg{{Name: "uuid", Type: "s"}}},
	{Name: "DomainAdopted", Args: []introspect.Arg{{Name: "uuid", Type: "s"}, {Name: "name", Type: "s"}}},
}

func introspectMethods(ms []method) []introspect.Method {
	out := make([]introspect.Method, 0, len(ms))
	for _, m := range ms {
		args := append(append([]introspect.Arg{}, m.in...), m.out...)
		out = append(out, introspect.Method{Name: m.name, Args: args})
	}
	return out
}

// objectNode is the introspection of one of our objects: its own interface,
// the standard ones, and child nodes.
func objectNode(iface introspect.Interface, props *prop.Properties, children []string) string {
	iface.Properties = props.Introspection(iface.Name)
	sort.Slice(iface.Properties, func(i, j int) bool { return iface.Properties[i].Name < iface.Properties[j].Name })
	n := introspect.Node{
		Interfaces: []introspect.Interface{iface, prop.IntrospectData, introspect.IntrospectData, introspect.PeerData},
	}
	for _, c := range children {
		n.Children = append(n.Children, introspect.Node{Name: c})
	}
	b, err := xml.MarshalIndent(n, "", " ")
	if err != nil {
		// Only fixed, valid data goes in; a failure is a programming error.
		panic(err)
	}
	return introspect.IntrospectDeclarationString + string(b) + "\n"
}

// introspector answers Introspect with a freshly built document, so the
// root's child nodes follow network definitions.
type introspector func() string

func (f introspector) Introspect() (string, *dbus.Error) { return f(), nil }

func managerInterface() introspect.Interface {
	return introspect.Interface{Name: busapi.ManagerInterface, Methods: introspectMethods(append(managerMethods[:len(managerMethods):len(managerMethods)], schedMethods...)), Signals: managerSignals}
}

func networkInterface() introspect.Interface {
	return introspect.Interface{Name: busapi.NetworkInterface, Methods: introspectMethods(networkMethods)}
}
