// Package vlan holds the <vlan> element of networks and portgroups
// (libvirt's virNetDevVlan): tags, trunk and the native VLAN, with libvirt's
// rules. virtswitch applies it only to Open vSwitch ports (package plumb),
// the one kind of port on which libvirt supports a VLAN for such networks.
package vlan

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/virtswitch/virtswitch/apierr"
)

// Native VLAN modes (<tag nativeMode='...'>).
const (
	NativeTagged   = "tagged"
	NativeUntagged = "untagged"
)

// MaxTag is the largest VLAN id libvirt accepts.
const MaxTag = 4095

// Vlan is one <vlan> element.
type Vlan struct {
	Tags       []uint // in document order; at least one
	Trunk      bool   // more than one tag, or trunk='yes'
	NativeMode string // "" | NativeTagged | NativeUntagged
	NativeTag  uint   // the tag carrying nativeMode, when NativeMode != ""
}

// Parse reads one <vlan> element (its bytes). Errors are InvalidXML with
// libvirt's wording where it has one, naming the element but not its owner.
func Parse(elem []byte) (*Vlan, error) {
	dec := xml.NewDecoder(bytes.NewReader(elem))
	v := &Vlan{}
	depth := 0
	trunk := ""
	hasTrunk := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("<vlan> is not well-formed: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if t.Name.Local != "vlan" {
					return nil, invalid("expected <vlan>, found <%s>", short(t.Name.Local))
				}
				for _, a := range t.Attr {
					switch {
					case isXMLNS(a):
					case a.Name.Space == "" && a.Name.Local == "trunk" && !hasTrunk:
						trunk, hasTrunk = a.Value, true
					default:
						return nil, invalid("unknown attribute '%s' on <vlan>", short(a.Name.Local))
					}
				}
			case depth == 2 && t.Name.Local == "tag":
				if err := v.readTag(t); err != nil {
					return nil, err
				}
			default:
				return nil, invalid("unknown element <%s> in <vlan>", short(t.Name.Local))
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(t)); s != "" {
				return nil, invalid("unexpected text '%s' in <vlan>", short(s))
			}
		case xml.Directive:
			return nil, invalid("unexpected <!...> in <vlan>")
		}
	}
	if len(v.Tags) == 0 {
		return nil, invalid("missing tag id - each <vlan> must have at least one <tag id='n'/> subelement")
	}
	v.Trunk = len(v.Tags) > 1
	if hasTrunk {
		switch strings.ToLower(trunk) {
		case "yes":
			v.Trunk = true
		case "no":
			if len(v.Tags) > 1 {
				return nil, invalid("invalid \"trunk='no'\" setting in <vlan> - more than one vlan tag specified")
			}
		default:
			return nil, invalid("invalid \"trunk='%s'\" setting in <vlan> - must be 'yes' or 'no'", short(trunk))
		}
	}
	if v.NativeMode != "" && !v.Trunk {
		return nil, invalid("invalid configuration in <vlan> - \"trunk='no'\" is not allowed with a native vlan id")
	}
	return v, nil
}

func (v *Vlan) readTag(t xml.StartElement) error {
	var id, mode string
	hasID := false
	for _, a := range t.Attr {
		switch {
		case isXMLNS(a):
		case a.Name.Space == "" && a.Name.Local == "id" && !hasID:
			id, hasID = a.Value, true
		case a.Name.Space == "" && a.Name.Local == "nativeMode" && mode == "":
			mode = a.Value
		default:
			return invalid("unknown attribute '%s' on <vlan><tag>", short(a.Name.Local))
		}
	}
	if !hasID {
		return invalid("missing or invalid vlan tag id attribute")
	}
	if id == "" || strings.TrimLeft(id, "0123456789") != "" {
		return invalid("invalid vlan tag id '%s' (a decimal number 0 to %d)", short(id), MaxTag)
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil || n > MaxTag {
		return invalid("vlan tag id %s too large (maximum %d)", short(id), MaxTag)
	}
	for _, have := range v.Tags {
		if have == uint(n) {
			return invalid("vlan tag id %d is listed twice", n)
		}
	}
	switch mode {
	case "":
	case NativeTagged, NativeUntagged:
		if v.NativeMode != "" {
			return invalid("duplicate native vlan setting")
		}
		v.NativeMode, v.NativeTag = mode, uint(n)
	default:
		return invalid("invalid nativeMode='%s' on <vlan><tag> (tagged or untagged)", short(mode))
	}
	v.Tags = append(v.Tags, uint(n))
	return nil
}

// Effective is the <vlan> an interface gets: the first non-nil layer,
// highest priority first (portgroup, network), as libvirt decides.
func Effective(layers ...*Vlan) *Vlan {
	for _, l := range layers {
		if l != nil {
			return l.Clone()
		}
	}
	return nil
}

// Clone returns a deep copy (nil for nil).
func (v *Vlan) Clone() *Vlan {
	if v == nil {
		return nil
	}
	c := *v
	c.Tags = append([]uint(nil), v.Tags...)
	return &c
}

// Equal reports whether a and b describe the same VLAN setting.
func Equal(a, b *Vlan) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if a.Trunk != b.Trunk || a.NativeMode != b.NativeMode || a.NativeTag != b.NativeTag || len(a.Tags) != len(b.Tags) {
		return false
	}
	for i := range a.Tags {
		if a.Tags[i] != b.Tags[i] {
			return false
		}
	}
	return true
}

// Format writes v in libvirt's style (virNetDevVlanFormat); nl and end as
// in bandwidth.Format: the whitespace before each child and before the end
// tag. "" for nil.
func (v *Vlan) Format(nl, end string) string {
	if v == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("<vlan")
	if v.Trunk {
		b.WriteString(" trunk='yes'")
	}
	b.WriteString(">")
	for _, t := range v.Tags {
		fmt.Fprintf(&b, "%s<tag id='%d'", nl, t)
		if v.NativeMode != "" && t == v.NativeTag {
			fmt.Fprintf(&b, " nativeMode='%s'", v.NativeMode)
		}
		b.WriteString("/>")
	}
	b.WriteString(end + "</vlan>")
	return b.String()
}

// FormatIndented writes v on lines of its own, each prefixed by indent,
// ending in a newline. "" for nil.
func (v *Vlan) FormatIndented(indent string) string {
	if v == nil {
		return ""
	}
	return indent + v.Format("\n"+indent+"  ", "\n"+indent) + "\n"
}

// String is a short human form for logs and messages.
func (v *Vlan) String() string {
	if v == nil {
		return "no vlan"
	}
	tags := make([]string, len(v.Tags))
	for i, t := range v.Tags {
		tags[i] = strconv.FormatUint(uint64(t), 10)
	}
	s := "tag " + strings.Join(tags, ",")
	if v.Trunk {
		s = "trunk " + strings.Join(tags, ",")
	}
	if v.NativeMode != "" {
		s += fmt.Sprintf(" native %s %d", v.NativeMode, v.NativeTag)
	}
	return s
}

func isXMLNS(a xml.Attr) bool {
	return a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns")
}

func invalid(format string, a ...any) error {
	return apierr.New(apierr.InvalidXML, format, a...)
}

func short(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
