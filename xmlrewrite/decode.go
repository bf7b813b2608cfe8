package xmlrewrite

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/vlan"
)

// Decode converts every Form B interface back to Form A and removes our
// ports from <metadata> (and <metadata> itself when Encode created it).
// changed is false (and out is doc) when there was no Form B interface.
func Decode(doc []byte) (out []byte, changed bool, err error) {
	d, err := analyse(doc)
	if err != nil {
		return nil, false, err
	}
	if len(d.formB) == 0 {
		return doc, false, nil
	}
	var ed edits
	for _, p := range d.formB {
		if err := d.decodeIface(&ed, p, nil); err != nil {
			return nil, false, err
		}
	}
	d.removePorts(&ed)
	return ed.apply(doc), true, nil
}

// Status returns the state-dir XML for a Form B domain: the domain in Form
// A where each virtswitch interface also carries <target dev='vsw...'/> and
// the <actual> element actual[target] describes (SPEC §4). Every port needs
// an entry and every entry a port.
func Status(formB []byte, actual map[string]Actual) ([]byte, error) {
	d, err := analyse(formB)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var ed edits
	for _, p := range d.formB {
		a, ok := actual[p.Port.Target]
		if !ok {
			return nil, d.errorf("interface %s (target '%s'): no actual state given", p.Port.MAC, p.Port.Target)
		}
		seen[p.Port.Target] = true
		if err := d.decodeIface(&ed, p, &a); err != nil {
			return nil, err
		}
	}
	for t := range actual {
		if !seen[t] {
			return nil, d.errorf("actual state given for target '%s', which no virtswitch interface has", t)
		}
	}
	d.removePorts(&ed)
	return ed.apply(formB), nil
}

// decodeIface plans the edits that turn one Form B interface back into Form
// A. With act != nil it writes the status form instead: our target stays
// (without managed='no') followed by <actual>, a generated MAC stays, and an
// original <target> that Encode set aside is not restored.
func (d *domain) decodeIface(ed *edits, p *portB, act *Actual) error {
	src := d.doc.src
	in := p.iface
	r := p.restore
	if r == nil {
		r = &restore{}
	}
	_, attrs := d.doc.rawStartTag(in)
	for _, a := range attrs {
		if a.name == "type" {
			t := "network"
			if r.rawType != "" && unescapesTo(r.rawType, "network") {
				t = r.rawType
			}
			ed.replace(a.valStart, a.valEnd, t)
			break
		}
	}
	dropMac := r.macGenerated && act == nil
	var kept []item
	atMac, wsMac := 0, ""
	for i, it := range in.items {
		if it.kind == itemText {
			continue
		}
		switch {
		case it.kind == itemElem && it.elem == p.target:
			s, e := d.doc.wsBefore(in.items, i)
			if act == nil {
				ed.replace(s, it.end, "")
			} else {
				x, err := formatActual(*act, string(src[s:e]))
				if err != nil {
					return d.errorf("interface %s (target '%s'): %v", p.Port.MAC, p.Port.Target, err)
				}
				ed.replace(it.start, it.end, "<target dev='"+p.Port.Target+"'/>"+string(src[s:e])+x)
			}
			continue
		case it.kind == itemElem && it.elem == p.mac:
			s, e := d.doc.wsBefore(in.items, i)
			atMac, wsMac = len(kept), string(src[s:e])
			if dropMac {
				ed.replace(s, it.end, "")
				continue
			}
		}
		kept = append(kept, it)
	}
	frags := canonical(p.Port, atMac)
	if r.hasFragments {
		if ok, names := fragmentsFit(r.fragments, p.Port, len(kept)); ok {
			frags = nil
			for i, f := range r.fragments {
				if act != nil && names[i] == "target" {
					continue
				}
				frags = append(frags, f)
			}
		}
	}
	for _, f := range frags {
		at := in.tagEnd
		if f.at > 0 {
			at = kept[f.at-1].end
		}
		text := f.text
		if f.element != "" {
			text = canonicalText(f.element, p.Port, wsMac)
		}
		ed.insert(at, text)
	}
	return nil
}

// fragmentsFit checks that a port's saved fragments still describe it: one
// <source> naming the port's network and portgroup, the port's virtualport,
// positions within the interface. A port edited after Encode fails the check
// and is decoded by the canonical rule instead. It also returns each
// fragment's element name.
func fragmentsFit(frs []fragment, p Port, nKept int) (bool, []string) {
	names := make([]string, len(frs))
	var sources, vports, targets int
	last := 0
	for i, f := range frs {
		if f.at < last || f.at > nKept {
			return false, nil
		}
		last = f.at
		if f.element != "" {
			names[i] = f.element
			if f.element == "source" {
				sources++
			} else {
				vports++
			}
			continue
		}
		doc, err := parse([]byte(f.text))
		if err != nil || len(doc.items) > 2 || doc.root.name.Space != "" {
			return false, nil
		}
		n := doc.root
		names[i] = n.name.Local
		switch n.name.Local {
		case "source":
			sources++
			pg, _ := n.attr("portgroup")
			if n.attrOr("network") != p.Network || pg != p.Portgroup {
				return false, nil
			}
		case "virtualport":
			vports++
			if p.VirtualPort == nil || !sameVPort(readVPort(n), p.VirtualPort) {
				return false, nil
			}
		case "target":
			targets++
		default:
			return false, nil
		}
	}
	if sources != 1 || vports > 1 || targets > 1 || (vports == 1) != (p.VirtualPort != nil) {
		return false, nil
	}
	return true, names
}

// unescapesTo reports whether raw, an attribute value as written, means want.
func unescapesTo(raw, want string) bool {
	if strings.ContainsAny(raw, "'<") {
		return false
	}
	var v struct {
		A string `xml:"a,attr"`
	}
	if err := xml.Unmarshal([]byte("<x a='"+raw+"'/>"), &v); err != nil {
		return false
	}
	return v.A == want
}

// removePorts drops our port entries from <metadata>. When that leaves our
// ports element, or <metadata>, with nothing but whitespace, the element goes
// too, or is replaced by the original Encode recorded for it.
func (d *domain) removePorts(ed *edits) {
	if d.ports == nil {
		return
	}
	root, md, ports := d.doc.root, d.metadata, d.ports
	isPort := func(n *node) bool { return n.is(NS, "port") }
	if !d.onlySpaceBut(ports, isPort) {
		for i, it := range ports.items {
			if it.kind == itemElem && isPort(it.elem) {
				s, _ := d.doc.wsBefore(ports.items, i)
				ed.replace(s, it.end, "")
			}
		}
		return
	}
	orig, hasOrig := ports.attr("original")
	origName := ""
	if hasOrig {
		if od, err := parse([]byte(orig)); err == nil && len(od.items) == 1 {
			origName = od.root.name.Local
		}
	}
	if d.onlySpaceBut(md, func(n *node) bool { return n == ports }) {
		if origName == "metadata" {
			ed.replace(md.start, md.end, orig)
		} else {
			s, _ := d.doc.wsBefore(root.items, root.index(md))
			ed.replace(s, md.end, "")
		}
		return
	}
	if origName == "ports" {
		ed.replace(ports.start, ports.end, orig)
	} else {
		s, _ := d.doc.wsBefore(md.items, md.index(ports))
		ed.replace(s, ports.end, "")
	}
}

// formatActual writes an <actual> element in libvirt's status XML shape;
// ws is the whitespace it is preceded by.
func formatActual(a Actual, ws string) (string, error) {
	in := nested(ws)
	var b strings.Builder
	b.WriteString("<actual type='" + escAttr(a.Type) + "'>")
	switch a.Type {
	case "direct":
		if a.Dev == "" || a.Mode == "" {
			return "", fmt.Errorf("direct actual needs a device and a mode")
		}
		b.WriteString(in + "<source dev='" + escAttr(a.Dev) + "' mode='" + escAttr(a.Mode) + "'/>")
	case "bridge":
		if a.Bridge == "" {
			return "", fmt.Errorf("bridge actual needs a bridge")
		}
		b.WriteString(in + "<source bridge='" + escAttr(a.Bridge) + "'/>")
	default:
		return "", fmt.Errorf("unknown actual type '%s'", a.Type)
	}
	if a.Vlan != nil {
		b.WriteString(in + a.Vlan.Format(nested(in), in))
	}
	if a.VirtualPort != nil {
		b.WriteString(in + formatVPort(a.VirtualPort, "", in))
	}
	if a.Bandwidth != nil {
		b.WriteString(in + a.Bandwidth.Format(nested(in), in))
	}
	if a.SavedMAC != "" {
		if _, ok := parseMAC(a.SavedMAC); !ok {
			return "", fmt.Errorf("saved MAC '%s' is not a MAC address", a.SavedMAC)
		}
		b.WriteString(in + "<virtswitch:saved xmlns:virtswitch='" + NS + "' mac='" + a.SavedMAC + "'/>")
	}
	b.WriteString(closing(ws) + "</actual>")
	return b.String(), nil
}

// ParseStatus reads a status XML written by Status: the domain with its
// virtswitch ports (interfaces that carry <actual>) and their actual state
// by target.
func ParseStatus(status []byte) (*Domain, map[string]Actual, error) {
	d, err := analyse(status)
	if err != nil {
		return nil, nil, err
	}
	out := &Domain{UUID: d.uuid, Name: d.name}
	acts := map[string]Actual{}
	for _, in := range d.ifaces {
		if in.attrOr("type") != "network" {
			continue
		}
		src := in.child("", "source")
		an := in.child("", "actual")
		if an == nil {
			if src != nil && src.attrOr("network") != "" {
				out.FormA = append(out.FormA, src.attrOr("network"))
			}
			continue
		}
		name := ifaceName(in)
		tn, mn := in.child("", "target"), in.child("", "mac")
		if tn == nil || mn == nil || src == nil {
			return nil, nil, d.errorf("%s: a status interface needs <source>, <mac> and <target>", name)
		}
		p := Port{Target: tn.attrOr("dev"), MAC: mn.attrOr("address"), Network: src.attrOr("network"), Portgroup: src.attrOr("portgroup")}
		mac, ok := parseMAC(p.MAC)
		if !ok {
			return nil, nil, d.errorf("%s: cannot parse MAC address '%s'", name, p.MAC)
		}
		if p.Target != targetFor(mac) {
			return nil, nil, d.errorf("%s: target '%s' does not match the MAC (expected '%s')", name, p.Target, targetFor(mac))
		}
		if _, dup := acts[p.Target]; dup {
			return nil, nil, d.errorf("%s: target '%s' is used by two interfaces", name, p.Target)
		}
		if vp := in.child("", "virtualport"); vp != nil {
			p.VirtualPort = readVPort(vp)
		}
		if p.Queues, err = queues(in); err != nil {
			return nil, nil, d.errorf("%s: %v", name, err)
		}
		a := Actual{Type: an.attrOr("type")}
		as := an.child("", "source")
		switch {
		case as == nil:
			return nil, nil, d.errorf("%s: <actual> has no <source>", name)
		case a.Type == "direct":
			a.Dev, a.Mode = as.attrOr("dev"), as.attrOr("mode")
		case a.Type == "bridge":
			a.Bridge = as.attrOr("bridge")
		default:
			return nil, nil, d.errorf("%s: unknown <actual type='%s'>", name, a.Type)
		}
		if vp := an.child("", "virtualport"); vp != nil {
			a.VirtualPort = readVPort(vp)
		}
		if vn := an.child("", "vlan"); vn != nil {
			if a.Vlan, err = vlan.Parse(status[vn.start:vn.end]); err != nil {
				return nil, nil, apierr.Wrap(err, apierr.InvalidXML, "%s: %s: <actual>", d.subject(), name)
			}
		}
		if bn := an.child("", "bandwidth"); bn != nil {
			if a.Bandwidth, err = bandwidth.Parse(status[bn.start:bn.end]); err != nil {
				return nil, nil, apierr.Wrap(err, apierr.InvalidXML, "%s: %s: <actual>", d.subject(), name)
			}
		}
		if p.Bandwidth, err = d.ownBandwidth(in); err != nil {
			return nil, nil, err
		}
		if sv := an.child(NS, "saved"); sv != nil {
			a.SavedMAC = sv.attrOr("mac")
		}
		out.Ports = append(out.Ports, p)
		acts[p.Target] = a
	}
	return out, acts, nil
}
