package rig

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/vishvananda/netlink"

	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// Counts are a network's connection counts: total and per pool device
// (devices with 0 left out).
type Counts struct {
	Connections uint
	Devices     map[string]uint
}

func (c Counts) String() string {
	var devs []string
	for d, n := range c.Devices {
		if n > 0 {
			devs = append(devs, fmt.Sprintf("%s:%d", d, n))
		}
	}
	sort.Strings(devs)
	return fmt.Sprintf("%d[%s]", c.Connections, strings.Join(devs, " "))
}

// Equal compares two counts (zero device entries ignored).
func (c Counts) Equal(o Counts) bool { return c.String() == o.String() }

// StatusCounts reads every network's counts from the daemon's status XML
// (GetXMLDesc(1): the core's counts at the moment of the call).
func StatusCounts(c *busapi.Client) (map[string]Counts, error) {
	var paths []dbus.ObjectPath
	if err := c.Call("ListNetworks", []any{&paths}); err != nil {
		return nil, err
	}
	out := map[string]Counts{}
	for _, p := range paths {
		var doc string
		if err := c.CallOn(string(p), busapi.NetworkInterface+".GetXMLDesc", []any{&doc}, uint32(1)); err != nil {
			return nil, err
		}
		var n struct {
			Name        string `xml:"name"`
			Connections uint   `xml:"connections,attr"`
			Forward     struct {
				Ifaces []struct {
					Dev         string `xml:"dev,attr"`
					Connections uint   `xml:"connections,attr"`
				} `xml:"interface"`
			} `xml:"forward"`
		}
		if err := xml.Unmarshal([]byte(doc), &n); err != nil {
			return nil, fmt.Errorf("status XML of %s: %v", p, err)
		}
		cn := Counts{Connections: n.Connections, Devices: map[string]uint{}}
		for _, i := range n.Forward.Ifaces {
			if i.Connections > 0 {
				cn.Devices[i.Dev] = i.Connections
			}
		}
		out[n.Name] = cn
	}
	return out, nil
}

// PropertyCounts reads every network's Connections and Devices properties
// (what D-Bus clients see; updated by the daemon's refresh worker).
func PropertyCounts(c *busapi.Client) (map[string]Counts, error) {
	var paths []dbus.ObjectPath
	if err := c.Call("ListNetworks", []any{&paths}); err != nil {
		return nil, err
	}
	out := map[string]Counts{}
	for _, p := range paths {
		var all map[string]dbus.Variant
		if err := c.CallOn(string(p), "org.freedesktop.DBus.Properties.GetAll", []any{&all}, busapi.NetworkInterface); err != nil {
			return nil, err
		}
		name, _ := all["Name"].Value().(string)
		conns, _ := all["Connections"].Value().(uint32)
		var devs []struct {
			Device      string
			Connections uint32
		}
		if err := dbus.Store([]any{all["Devices"].Value()}, &devs); err != nil {
			return nil, fmt.Errorf("Devices of %s: %v", p, err)
		}
		cn := Counts{Connections: uint(conns), Devices: map[string]uint{}}
		for _, d := range devs {
			if d.Connections > 0 {
				cn.Devices[d.Device] = uint(d.Connections)
			}
		}
		out[name] = cn
	}
	return out, nil
}

// StateEntry is one state file, parsed.
type StateEntry struct {
	UUID   string
	Domain *xmlrewrite.Domain
	Actual map[string]xmlrewrite.Actual // by target
}

// ReadState parses every file in STATE/domains. Files that are not
// UUID.xml (a temp file left by a crash) are returned in stray.
func ReadState(stateDir string) (entries []StateEntry, stray []string, err error) {
	dir := filepath.Join(stateDir, "domains")
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	for _, e := range ents {
		uuid, ok := strings.CutSuffix(e.Name(), ".xml")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			stray = append(stray, e.Name())
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		d, acts, err := xmlrewrite.ParseStatus(b)
		if err != nil {
			return nil, nil, fmt.Errorf("state file %s: %v", e.Name(), err)
		}
		entries = append(entries, StateEntry{UUID: uuid, Domain: d, Actual: acts})
	}
	return entries, stray, nil
}

// Truth is the counts a fresh allocation of the given state would give:
// one connection per recorded interface, on its network and device.
func Truth(entries []StateEntry, networks []string) map[string]Counts {
	out := map[string]Counts{}
	for _, n := range networks {
		out[n] = Counts{Devices: map[string]uint{}}
	}
	for _, e := range entries {
		for _, p := range e.Domain.Ports {
			c, ok := out[p.Network]
			if !ok {
				c = Counts{Devices: map[string]uint{}}
			}
			c.Connections++
			if a := e.Actual[p.Target]; a.Type == "direct" {
				c.Devices[a.Dev]++
			}
			out[p.Network] = c
		}
	}
	return out
}

// Link is what the checks need to know about one link.
type Link struct {
	Name, Kind, MAC string
	Lower, Master   string // macvtap's device; tap's bridge
	Mode            string // macvtap mode (vepa, private, bridge, passthru)
}

// Links lists the namespace's links by name.
func Links(h *netlink.Handle) (map[string]Link, error) {
	ls, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	byIndex := map[int]string{}
	for _, l := range ls {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	out := map[string]Link{}
	for _, l := range ls {
		a := l.Attrs()
		k := Link{Name: a.Name, Kind: l.Type(), MAC: a.HardwareAddr.String(),
			Lower: byIndex[a.ParentIndex], Master: byIndex[a.MasterIndex]}
		if m, ok := l.(*netlink.Macvtap); ok {
			// SPEC's names, as the state files' <actual> has them.
			if k.Mode = testenv.MacvlanModeName(m.Mode); k.Mode == "passthru" {
				k.Mode = "passthrough"
			}
		}
		out[a.Name] = k
	}
	return out, nil
}
