// Package bandwidth holds the <bandwidth> element shared by networks,
// portgroups and guest interfaces (libvirt's virNetDevBandwidth): its XML
// shape, libvirt's units and ranges, and which layer wins.
//
// Units are libvirt's: average and peak in KiB/s (kibibytes per second),
// burst in KiB. Each value is a decimal integer from 1 to 4294967295
// (libvirt's schema types "speed" and "BurstSize"). Applying a Bandwidth to a
// link is plumbing and lives in package plumb.
package bandwidth

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/virtswitch/virtswitch/apierr"
)

// Max is the largest value libvirt's schema allows for average, peak and
// burst (unsignedInt).
const Max = 1<<32 - 1

// Rate is one direction: <inbound> (to the guest) or <outbound> (from the
// guest). Zero Peak or Burst means "not set".
type Rate struct {
	Average uint64 // KiB/s
	Peak    uint64 // KiB/s; 0 = average
	Burst   uint64 // KiB;   0 = chosen by the shaper
}

// Bandwidth is one <bandwidth> element; a nil direction is unlimited.
type Bandwidth struct {
	In  *Rate // inbound: traffic to the guest
	Out *Rate // outbound: traffic from the guest
}

// FloorReason is why an inbound floor is refused (Unsupported): libvirt
// guarantees a floor only on networks whose bridge its own network driver
// owns (virNetDevBandwidthSupportsFloor).
const FloorReason = "libvirt guarantees a floor only on its own networks with forward mode nat, route, open or none (isolated), which virtswitch does not serve"

// Parse reads one <bandwidth> element (its bytes, from the start tag to the
// end tag). Errors are *apierr.Error of kind InvalidXML, or Unsupported for
// an inbound floor, with a message that names the element but not its
// owner: callers prefix the network, portgroup or interface.
//
// Stricter than libvirt where libvirt silently drops input (unknown
// elements) or accepts what its own schema refuses (0, values above
// 4294967295): a typo must not silently leave a guest unlimited.
// classID, which libvirt writes only in its status XML, is refused.
func Parse(elem []byte) (*Bandwidth, error) {
	dec := xml.NewDecoder(bytes.NewReader(elem))
	var root *xml.StartElement
	b := &Bandwidth{}
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("<bandwidth> is not well-formed: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if t.Name.Local != "bandwidth" {
					return nil, invalid("expected <bandwidth>, found <%s>", short(t.Name.Local))
				}
				c := t.Copy()
				root = &c
				for _, a := range t.Attr {
					if isXMLNS(a) {
						continue
					}
					if a.Name.Local == "classID" && a.Name.Space == "" {
						return nil, invalid("classID on <bandwidth> is libvirt's own status data, not configuration")
					}
					return nil, invalid("unknown attribute '%s' on <bandwidth>", short(a.Name.Local))
				}
			case 2:
				if t.Name.Space != root.Name.Space {
					return nil, invalid("unknown element <%s> in <bandwidth>", short(t.Name.Local))
				}
				var slot **Rate
				switch t.Name.Local {
				case "inbound":
					slot = &b.In
				case "outbound":
					slot = &b.Out
				default:
					return nil, invalid("unknown element <%s> in <bandwidth>", short(t.Name.Local))
				}
				if *slot != nil {
					return nil, invalid("only one <%s> element is allowed in <bandwidth>", t.Name.Local)
				}
				r, err := parseRate(t)
				if err != nil {
					return nil, err
				}
				*slot = r
			default:
				return nil, invalid("unknown element <%s> in <bandwidth>", short(t.Name.Local))
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(t)); s != "" {
				return nil, invalid("unexpected text '%s' in <bandwidth>", short(s))
			}
		case xml.Comment, xml.ProcInst:
		case xml.Directive:
			return nil, invalid("unexpected <!...> in <bandwidth>")
		}
	}
	if root == nil {
		return nil, invalid("no <bandwidth> element")
	}
	// libvirt keeps a <bandwidth> without directions as "none".
	if b.In == nil && b.Out == nil {
		return nil, nil
	}
	return b, nil
}

func parseRate(t xml.StartElement) (*Rate, error) {
	where := "<" + t.Name.Local + ">"
	r := &Rate{}
	seen := map[string]bool{}
	hasFloor := false
	for _, a := range t.Attr {
		if isXMLNS(a) {
			continue
		}
		name := a.Name.Local
		if a.Name.Space != "" {
			return nil, invalid("unknown attribute '%s' on %s in <bandwidth>", short(name), where)
		}
		if seen[name] {
			return nil, invalid("attribute '%s' given twice on %s", short(name), where)
		}
		seen[name] = true
		var dst *uint64
		switch name {
		case "average":
			dst = &r.Average
		case "peak":
			dst = &r.Peak
		case "burst":
			dst = &r.Burst
		case "floor":
			hasFloor = true
			if _, err := number(a.Value, name, where); err != nil {
				return nil, err
			}
			continue
		default:
			return nil, invalid("unknown attribute '%s' on %s in <bandwidth>", short(name), where)
		}
		v, err := number(a.Value, name, where)
		if err != nil {
			return nil, err
		}
		*dst = v
	}
	if hasFloor {
		if t.Name.Local == "outbound" {
			// libvirt: "'floor' attribute allowed only in <inbound> element".
			return nil, invalid("'floor' is only allowed in <inbound>, not in <outbound>")
		}
		return nil, apierr.New(apierr.Unsupported, "'floor' in <inbound> is not supported: %s", FloorReason)
	}
	if r.Average == 0 {
		if r.Peak != 0 || r.Burst != 0 {
			return nil, invalid("'peak' and 'burst' in %s require 'average'", where)
		}
		return nil, invalid("missing mandatory 'average' in %s", where)
	}
	if r.Peak != 0 && r.Peak < r.Average {
		// libvirt passes this to tc, where a ceiling below the rate
		// means nothing; refuse it rather than guess.
		return nil, invalid("peak='%d' in %s is lower than average='%d'", r.Peak, where, r.Average)
	}
	return r, nil
}

// number reads a value as libvirt's schema defines it: decimal digits only,
// 1..4294967295.
func number(s, name, where string) (uint64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, invalid("%s='%s' in %s is not a decimal number (KiB/s for average and peak, KiB for burst)", name, short(s), where)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < 1 || v > Max {
		return 0, invalid("%s='%s' in %s is out of range (1 to %d)", name, short(s), where, uint64(Max))
	}
	return v, nil
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

// Effective is the bandwidth an interface gets, as libvirt decides it: the
// first layer that has a <bandwidth>, given highest priority first (the
// interface's own, its portgroup's, the network's). A layer wins whole:
// libvirt copies the portgroup's element only when the interface has none,
// and directions are not mixed across layers. The result is a copy.
func Effective(layers ...*Bandwidth) *Bandwidth {
	for _, l := range layers {
		if l != nil {
			return l.Clone()
		}
	}
	return nil
}

// Clone returns a deep copy (nil for nil).
func (b *Bandwidth) Clone() *Bandwidth {
	if b == nil {
		return nil
	}
	c := &Bandwidth{}
	if b.In != nil {
		in := *b.In
		c.In = &in
	}
	if b.Out != nil {
		out := *b.Out
		c.Out = &out
	}
	return c
}

// Equal reports whether a and b set the same limits.
func Equal(a, b *Bandwidth) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return sameRate(a.In, b.In) && sameRate(a.Out, b.Out)
}

func sameRate(a, b *Rate) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// Format writes b in libvirt's style (virNetDevBandwidthFormat: average,
// peak, burst; inbound before outbound). The first line has no indentation;
// nested lines start with nl (a newline and the indentation of the
// children, or "" to write everything on one line), and the end tag with
// end. It writes "" for nil.
func (b *Bandwidth) Format(nl, end string) string {
	if b == nil {
		return ""
	}
	var s strings.Builder
	s.WriteString("<bandwidth>")
	for _, d := range []struct {
		name string
		r    *Rate
	}{{"inbound", b.In}, {"outbound", b.Out}} {
		if d.r == nil {
			continue
		}
		fmt.Fprintf(&s, "%s<%s average='%d'", nl, d.name, d.r.Average)
		if d.r.Peak != 0 {
			fmt.Fprintf(&s, " peak='%d'", d.r.Peak)
		}
		if d.r.Burst != 0 {
			fmt.Fprintf(&s, " burst='%d'", d.r.Burst)
		}
		s.WriteString("/>")
	}
	s.WriteString(end + "</bandwidth>")
	return s.String()
}

// FormatIndented writes b on lines of its own, each prefixed by indent,
// ending in a newline (network definitions' style). "" for nil.
func (b *Bandwidth) FormatIndented(indent string) string {
	if b == nil {
		return ""
	}
	return indent + b.Format("\n"+indent+"  ", "\n"+indent) + "\n"
}

// String is a short human form for logs and messages.
func (b *Bandwidth) String() string {
	if b == nil {
		return "unlimited"
	}
	part := func(name string, r *Rate) string {
		if r == nil {
			return name + " unlimited"
		}
		s := fmt.Sprintf("%s %d KiB/s", name, r.Average)
		if r.Peak != 0 {
			s += fmt.Sprintf(" peak %d KiB/s", r.Peak)
		}
		if r.Burst != 0 {
			s += fmt.Sprintf(" burst %d KiB", r.Burst)
		}
		return s
	}
	return part("inbound", b.In) + ", " + part("outbound", b.Out)
}
