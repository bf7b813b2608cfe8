package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/virtswitch/virtswitch/netname"
	"github.com/virtswitch/virtswitch/xmlns"
)

// NS is the namespace of virtswitch's domain metadata (SPEC §2, Form B).
const NS = xmlns.Domain

// facts is what the hook needs to know about a domain XML to pick its one
// D-Bus call, or to decide it needs none.
//
// The hook reads these few facts with a streaming scan of its own rather
// than xmlrewrite.Inspect, which rejects inconsistent Form B as a whole: the
// hook must still learn the UUID to release such a domain, and judging Form B
// is the daemon's job (docs/HOOK.md has the reasons and the figures).
type facts struct {
	UUID  string
	Ports bool         // Form B: at least one virtswitch:port in <metadata>
	FormA []formAIface // every <interface type='network'> with a source network
}

type formAIface struct{ MAC, Network string }

// mayConcernUs is the fast path: a document that mentions neither our
// namespace nor the word "network" has no Form B port and no Form A interface,
// so it needs no parsing at all.
func mayConcernUs(doc []byte) bool {
	return bytes.Contains(doc, []byte(NS)) || bytes.Contains(doc, []byte("network"))
}

// scan reads the facts from a domain XML (the document libvirt passes on the
// hook's stdin).
func scan(doc []byte) (*facts, error) {
	f := &facts{}
	if !mayConcernUs(doc) {
		// The UUID is left empty: only calls made for ports need it.
		return f, nil
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	var path []string // local names from the root down
	var iface *formAIface
	var inUUID bool
	var uuid strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the domain XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			switch {
			case at(path, "domain", "uuid"):
				inUUID = true
			case at(path, "domain", "metadata", "ports", "port") && t.Name.Space == NS:
				f.Ports = true
			case at(path, "domain", "devices", "interface") && attr(t, "type") == "network":
				iface = &formAIface{}
			case iface != nil && at(path, "domain", "devices", "interface", "source"):
				iface.Network = attr(t, "network")
			case iface != nil && at(path, "domain", "devices", "interface", "mac"):
				iface.MAC = attr(t, "address")
			}
		case xml.EndElement:
			if iface != nil && at(path, "domain", "devices", "interface") {
				if iface.Network != "" {
					f.FormA = append(f.FormA, *iface)
				}
				iface = nil
			}
			inUUID = false
			path = path[:len(path)-1]
		case xml.CharData:
			if inUUID {
				uuid.Write(t)
			}
		}
	}
	f.UUID = strings.TrimSpace(uuid.String())
	return f, nil
}

// at tells whether the element path is exactly want.
func at(path []string, want ...string) bool {
	if len(path) != len(want) {
		return false
	}
	for i := range want {
		if path[i] != want[i] {
			return false
		}
	}
	return true
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// ours tells whether network is a virtswitch network on this host: by the
// decision in docs/ARCHITECTURE.md, CONFIG_DIR/NAME.xml exists (netname's
// Defined, which netdef's Store.Has is too; it refuses names that are not
// valid network names, so nothing outside the directory is ever looked at). This needs no daemon, so
// guests on libvirt's own networks start even when virtswitchd is down.
func ours(configDir, network string) bool {
	return netname.Defined(configDir, network)
}
