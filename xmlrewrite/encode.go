package xmlrewrite

import (
	"strings"

	"github.com/virtswitch/virtswitch/apierr"
)

// Encode converts every <interface type='network'> whose network ours
// accepts to Form B and records its binding in <metadata>. Other interfaces
// and every other byte are left as they are. changed is false (and out is
// doc) when there was nothing to convert.
func Encode(doc []byte, ours func(network string) bool) (out []byte, changed bool, err error) {
	d, err := analyse(doc)
	if err != nil {
		return nil, false, err
	}
	if ours == nil {
		return doc, false, nil
	}
	taken := map[[6]byte]string{} // MAC -> who has it, for duplicates
	for _, p := range d.formB {
		mac, _ := parseMAC(p.Port.MAC)
		taken[mac] = "the virtswitch interface with target '" + p.Port.Target + "'"
	}
	allMACs := map[[6]byte]bool{}
	for _, in := range d.ifaces {
		for _, m := range in.children("", "mac") {
			if mac, ok := parseMAC(m.attrOr("address")); ok {
				allMACs[mac] = true
			}
		}
	}
	var ed edits
	var ports []encoded
	for _, in := range d.ifaces {
		if in.attrOr("type") != "network" {
			continue
		}
		s := in.child("", "source")
		if s == nil {
			continue
		}
		net := s.attrOr("network")
		if net == "" || !ours(net) {
			continue
		}
		e, err := d.encodeIface(&ed, in, taken, allMACs)
		if err != nil {
			return nil, false, err
		}
		ports = append(ports, e)
	}
	if len(ports) == 0 {
		return doc, false, nil
	}
	d.addPorts(&ed, ports)
	return ed.apply(doc), true, nil
}

// encoded is one interface converted by Encode: what its port says.
type encoded struct {
	port    Port
	restore *restore
}

// encodeIface plans the edits that turn one Form A interface into Form B.
func (d *domain) encodeIface(ed *edits, in *node, taken map[[6]byte]string, allMACs map[[6]byte]bool) (encoded, error) {
	src := d.doc.src
	name := ifaceName(in)
	for _, one := range []string{"source", "virtualport", "mac", "target"} {
		if n := len(in.children("", one)); n > 1 {
			return encoded{}, d.errorf("%s: more than one <%s>", name, one)
		}
	}
	if in.child("", "actual") != nil {
		return encoded{}, d.errorf("%s: has an <actual> element, which only status XML carries", name)
	}
	if err := d.checkText(in); err != nil {
		return encoded{}, err
	}
	if err := d.unsupported(in, name); err != nil {
		return encoded{}, err
	}
	q, err := queues(in)
	if err != nil {
		return encoded{}, d.errorf("%s: %v", name, err)
	}
	source := in.child("", "source")
	p := Port{Network: source.attrOr("network"), Portgroup: source.attrOr("portgroup"), Queues: q}
	vpNode := in.child("", "virtualport")
	if vpNode != nil {
		p.VirtualPort = readVPort(vpNode)
		if err := p.VirtualPort.Clone().Normalize(); err != nil {
			return encoded{}, d.errorf("%s: %v", name, err)
		}
	}
	macNode := in.child("", "mac")
	var mac [6]byte
	if macNode != nil {
		p.MAC = macNode.attrOr("address")
		var ok bool
		if mac, ok = parseMAC(p.MAC); !ok {
			return encoded{}, d.errorf("%s: cannot parse MAC address '%s'", name, p.MAC)
		}
		if mac[0]&1 != 0 {
			return encoded{}, d.errorf("%s: expected a unicast MAC address, found multicast '%s'", name, p.MAC)
		}
	} else {
		for {
			mac = randomMAC()
			if !allMACs[mac] {
				break
			}
		}
		allMACs[mac] = true
		p.MAC = formatMAC(mac)
		name = "interface " + p.MAC + " (generated)"
	}
	p.Target = targetFor(mac)
	if who, dup := taken[mac]; dup {
		return encoded{}, d.errorf("%s: MAC is also used by %s; virtswitch names the device after the MAC (%s), so it must be unique", name, who, p.Target)
	}
	taken[mac] = "interface " + p.MAC + " (network '" + p.Network + "')"
	r := &restore{}

	// The type attribute: only its value changes, quotes and neighbours stay.
	_, attrs := d.doc.rawStartTag(in)
	for _, a := range attrs {
		if a.name == "type" {
			if raw := string(src[a.valStart:a.valEnd]); raw != "network" {
				r.rawType = raw
			}
			ed.replace(a.valStart, a.valEnd, "ethernet")
			break
		}
	}

	// Cut out <source>, <virtualport> and any <target>, each with the
	// whitespace before it, and remember where they were relative to the
	// items that stay.
	var actual []fragment
	kept := 0
	atMac, wsMac := 0, ""
	firstWS := ""
	sawElem := false
	for i, it := range in.items {
		if it.kind == itemText {
			continue
		}
		if it.kind == itemElem && !sawElem {
			sawElem = true
			s, e := d.doc.wsBefore(in.items, i)
			firstWS = string(src[s:e])
		}
		if it.kind == itemElem && it.elem.name.Space == "" {
			switch it.elem.name.Local {
			case "source", "virtualport", "target":
				s, _ := d.doc.wsBefore(in.items, i)
				ed.replace(s, it.end, "")
				actual = append(actual, fragment{at: kept, element: it.elem.name.Local, text: string(src[s:it.end])})
				continue
			case "mac":
				atMac = kept
				s, e := d.doc.wsBefore(in.items, i)
				wsMac = string(src[s:e])
			}
		}
		kept++
	}
	targetTag := "<target dev='" + p.Target + "' managed='no'/>"
	if macNode != nil {
		ed.insert(macNode.end, wsMac+targetTag)
	} else {
		r.macGenerated = true
		atMac, wsMac = 0, firstWS
		ed.insert(in.tagEnd, wsMac+"<mac address='"+p.MAC+"'/>"+wsMac+targetTag)
	}
	for i, f := range actual {
		// Keep bytes only where the canonical rule would not write them.
		if f.element != "target" && f.text == canonicalText(f.element, p, wsMac) {
			actual[i].text = ""
		} else {
			actual[i].element = ""
		}
	}
	if !sameFragments(actual, canonical(p, atMac)) {
		r.hasFragments = true
		r.fragments = actual
	}
	if !r.macGenerated && r.rawType == "" && !r.hasFragments {
		r = nil
	}
	return encoded{port: p, restore: r}, nil
}

// unsupported refuses what a Form B (ethernet) interface cannot carry:
// libvirt rejects <port isolated='yes'/> and an inbound bandwidth floor on
// type='ethernet' when the domain is defined, and a <vlan> when it starts;
// virtswitch does not implement them itself yet, and passing them through
// silently would drop an isolation or QoS the user asked for.
func (d *domain) unsupported(in *node, name string) error {
	refuse := func(what string) error {
		return apierr.New(apierr.Unsupported, "%s: %s: %s is not supported on virtswitch networks", d.subject(), name, what)
	}
	if in.child("", "vlan") != nil {
		return refuse("<vlan>")
	}
	for _, p := range in.children("", "port") {
		if p.attrOr("isolated") == "yes" {
			return refuse("<port isolated='yes'/>")
		}
	}
	for _, bw := range in.children("", "bandwidth") {
		for _, inb := range bw.children("", "inbound") {
			if _, ok := inb.attr("floor"); ok {
				return refuse("<bandwidth><inbound floor=.../>")
			}
		}
	}
	return nil
}

// canonical is what Decode puts back when a port carries no fragments:
// <source> and <virtualport> (canonicalText), right before the <mac>.
func canonical(p Port, atMac int) []fragment {
	out := []fragment{{at: atMac, element: "source"}}
	if p.VirtualPort != nil {
		out = append(out, fragment{at: atMac, element: "virtualport"})
	}
	return out
}

// canonicalText writes the port's <source> or <virtualport> as the SPEC's
// Form A does: libvirt's style, single quotes, preceded by the whitespace
// that precedes the <mac> and indented like it.
func canonicalText(element string, p Port, wsMac string) string {
	switch element {
	case "source":
		s := "<source network='" + escAttr(p.Network) + "'"
		if p.Portgroup != "" {
			s += " portgroup='" + escAttr(p.Portgroup) + "'"
		}
		return wsMac + s + "/>"
	case "virtualport":
		if p.VirtualPort != nil {
			return wsMac + formatVPort(p.VirtualPort, "", wsMac)
		}
	}
	return ""
}

func sameFragments(a, b []fragment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// formatPort writes one <port> of our metadata, without leading whitespace;
// ws is the whitespace it is preceded by.
func formatPort(prefix, ws string, p Port, r *restore) string {
	var b strings.Builder
	b.WriteString("<" + prefix + "port target='" + p.Target + "' network='" + escAttr(p.Network) + "'")
	if p.Portgroup != "" {
		b.WriteString(" portgroup='" + escAttr(p.Portgroup) + "'")
	}
	if p.VirtualPort == nil && r == nil {
		b.WriteString("/>")
		return b.String()
	}
	b.WriteString(">")
	in := nested(ws)
	if p.VirtualPort != nil {
		b.WriteString(in + formatVPort(p.VirtualPort, prefix, in))
	}
	if r != nil {
		b.WriteString(in + "<" + prefix + "restore")
		if r.macGenerated {
			b.WriteString(" mac='generated'")
		}
		if r.rawType != "" {
			b.WriteString(" type='" + escAttr(r.rawType) + "'")
		}
		if short, ok := shortForm(r.fragments); ok {
			b.WriteString(short + "/>")
		} else {
			b.WriteString(">")
			in2 := nested(in)
			for _, f := range r.fragments {
				b.WriteString(in2 + "<" + prefix + "fragment at='" + itoa(f.at) + "'")
				if f.element != "" {
					b.WriteString(" element='" + f.element + "'/>")
				} else {
					b.WriteString(">" + escText(f.text) + "</" + prefix + "fragment>")
				}
			}
			b.WriteString(closing(in) + "</" + prefix + "restore>")
		}
	}
	b.WriteString(closing(ws) + "</" + prefix + "port>")
	return b.String()
}

// shortForm writes fragments that are all canonical text as attributes
// source='N' [virtualport='M'] of <restore>, when that loses nothing: at one
// position the short form always puts the source first.
func shortForm(frs []fragment) (string, bool) {
	out := ""
	pos := map[string]int{}
	for _, f := range frs {
		if f.element == "" {
			return "", false
		}
		if _, dup := pos[f.element]; dup {
			return "", false
		}
		pos[f.element] = f.at
		out += " " + f.element + "='" + itoa(f.at) + "'"
	}
	if s, ok := pos["source"]; ok {
		if v, ok := pos["virtualport"]; ok && v == s && frs[0].element == "virtualport" {
			return "", false
		}
		if len(frs) == 2 && frs[0].element == "virtualport" {
			// Attributes are read source first.
			out = " source='" + itoa(s) + "' virtualport='" + itoa(pos["virtualport"]) + "'"
		}
	}
	return out, true
}

// formatPorts writes a new <virtswitch:ports> element (without leading
// whitespace); original, if not "", is the element it replaces.
func formatPorts(ws string, ports []encoded, original string) string {
	var b strings.Builder
	b.WriteString("<virtswitch:ports xmlns:virtswitch='" + NS + "'")
	if original != "" {
		b.WriteString(" original='" + escAttr(original) + "'")
	}
	b.WriteString(">")
	in := nested(ws)
	for _, e := range ports {
		b.WriteString(in + formatPort("virtswitch:", in, e.port, e.restore))
	}
	b.WriteString(closing(ws) + "</virtswitch:ports>")
	return b.String()
}

// onlySpaceBut reports whether n holds nothing but whitespace and the
// elements skip accepts.
func (d *domain) onlySpaceBut(n *node, skip func(*node) bool) bool {
	for _, it := range n.items {
		switch it.kind {
		case itemText:
			if !isSpace(d.doc.src[it.start:it.end]) {
				return false
			}
		case itemElem:
			if !skip(it.elem) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// addPorts records the new ports in <metadata>. The layout is chosen so that
// Decode, which drops our ports element (and <metadata>) when nothing else is
// left in it, gives back the original bytes: an element Decode would drop
// but that existed before is replaced, and its original text kept in the
// 'original' attribute.
func (d *domain) addPorts(ed *edits, ports []encoded) {
	src := d.doc.src
	root := d.doc.root
	isPort := func(n *node) bool { return n.is(NS, "port") }
	if d.metadata == nil {
		// libvirt's schema accepts <metadata> anywhere among <domain>'s
		// children; libvirt writes it after the identity elements.
		anchor := -1
		for i, it := range root.items {
			if it.kind != itemElem || it.elem.name.Space != "" {
				continue
			}
			switch it.elem.name.Local {
			case "name", "uuid", "genid", "title", "description":
				anchor = i
			}
		}
		at := root.tagEnd
		ws := ""
		if anchor >= 0 {
			s, e := d.doc.wsBefore(root.items, anchor)
			ws, at = string(src[s:e]), root.items[anchor].end
		} else {
			for i, it := range root.items {
				if it.kind == itemElem {
					s, e := d.doc.wsBefore(root.items, i)
					ws = string(src[s:e])
					break
				}
			}
		}
		in := nested(ws)
		ed.insert(at, ws+"<metadata>"+in+formatPorts(in, ports, "")+closing(ws)+"</metadata>")
		return
	}
	md := d.metadata
	portsRemovable := d.ports == nil || d.onlySpaceBut(d.ports, isPort)
	hasPorts := d.ports != nil && d.ports.child(NS, "port") != nil
	if !hasPorts && portsRemovable {
		if d.onlySpaceBut(md, func(n *node) bool { return n == d.ports }) {
			s, e := d.doc.wsBefore(root.items, root.index(md))
			ws := string(src[s:e])
			in := nested(ws)
			ed.replace(md.start, md.end, "<metadata>"+in+formatPorts(in, ports, string(src[md.start:md.end]))+closing(ws)+"</metadata>")
			return
		}
		if d.ports != nil {
			s, e := d.doc.wsBefore(md.items, md.index(d.ports))
			ed.replace(d.ports.start, d.ports.end, formatPorts(string(src[s:e]), ports, string(src[d.ports.start:d.ports.end])))
			return
		}
		at, ws := appendPoint(d.doc, md)
		ed.insert(at, ws+formatPorts(ws, ports, ""))
		return
	}
	// Our ports element exists and stays: add port entries after its last
	// item, in its prefix.
	qname, _ := d.doc.rawStartTag(d.ports)
	prefix := ""
	if i := strings.IndexByte(qname, ':'); i >= 0 {
		prefix = qname[:i+1]
	}
	at, ws := appendPoint(d.doc, d.ports)
	for _, e := range ports {
		ed.insert(at, ws+formatPort(prefix, ws, e.port, e.restore))
	}
}

// appendPoint returns where a new last child of n goes and the whitespace to
// put before it: after the last non-text item, indented like it.
func appendPoint(doc *document, n *node) (int, string) {
	for i := len(n.items) - 1; i >= 0; i-- {
		if n.items[i].kind != itemText {
			s, e := doc.wsBefore(n.items, i)
			return n.items[i].end, string(doc.src[s:e])
		}
	}
	return n.closeStart, ""
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}
