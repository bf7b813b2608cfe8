package netdef

import (
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"libvirt.org/go/libvirtxml"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/vlan"
	"github.com/virtswitch/virtswitch/vport"
)

// dnsmasqNS is the namespace of libvirt's <dnsmasq:options>.
const dnsmasqNS = "http://libvirt.org/schemas/network/dnsmasq/1.0"

// Parse reads one libvirt network definition and validates every rule of
// SPEC §1. Every error is an *apierr.Error of kind InvalidXML or Unsupported
// whose one-line message names the network and the offending element.
//
// Order of checks, so that the most useful error wins when a definition has
// several problems:
//  1. well-formed XML with a <network> root;
//  2. forward mode: networks that libvirt's own driver serves (no <forward>,
//     nat, route, open, hostdev) are Unsupported whatever else they hold;
//  3. <name> syntax;
//  4. everything that makes the definition invalid (InvalidXML), in document
//     order, then the semantic rules (pool, bridge, virtualports, portgroups);
//  5. only then features not implemented yet (Unsupported): a definition that
//     is invalid stays invalid once they are, so that is reported first.
//
// A <uuid> is canonicalised (lower case, dashed); a missing one is left "".
func Parse(data []byte) (*Network, error) {
	root, err := scan(data)
	if err != nil {
		return nil, validUTF8(apierr.New(apierr.InvalidXML, "%s: XML is not well-formed: %v", nameHint(data), err))
	}
	p := &parser{data: data, root: root}
	n, err := p.parse()
	if err != nil {
		return nil, validUTF8(err)
	}
	return n, nil
}

// validUTF8 makes sure a message can travel over D-Bus, which only carries
// valid UTF-8 (encoding/xml quotes offending input bytes in its errors), and
// bounds its length: values quoted from the input (by encoding/xml or vport)
// may be huge.
func validUTF8(err error) error {
	if e, ok := err.(*apierr.Error); ok {
		msg := strings.ToValidUTF8(e.Msg, "\ufffd")
		if len(msg) > 512 {
			cut := 512
			for !utf8.RuneStart(msg[cut]) {
				cut--
			}
			msg = msg[:cut] + "..."
		}
		e.Msg = msg
	}
	return err
}

type parser struct {
	data []byte
	root *node
	net  string // network name for messages (raw, possibly invalid)
	mode string

	unsupported []error    // deferred Unsupported findings, document order
	cut         [][2]int64 // spans hidden from libvirtxml (parsed here instead)

	uuid, metadata, forward, bridge, vport, bandwidth, vlan *node
	portgroups                                              []*node
	pgVports                                                []*node // per portgroup, nil if none
	pgBandwidths                                            []*node // per portgroup, nil if none
	pgVlans                                                 []*node // per portgroup, nil if none
}

func (p *parser) errf(k apierr.Kind, format string, a ...any) error {
	return apierr.New(k, "network '%s': %s", p.net, fmt.Sprintf(format, a...))
}

func (p *parser) invalid(format string, a ...any) error {
	return p.errf(apierr.InvalidXML, format, a...)
}

func (p *parser) unsupportedf(format string, a ...any) {
	p.unsupported = append(p.unsupported, p.errf(apierr.Unsupported, "virtswitch does not support %s yet", fmt.Sprintf(format, a...)))
}

func (p *parser) parse() (*Network, error) {
	r := p.root
	if r.name.Local != "network" || r.name.Space != "" {
		return nil, apierr.New(apierr.InvalidXML, "%s: root element is %s, expected <network>", nameHint(p.data), elemName(r.name))
	}

	// The name, as given, for messages; validated below.
	nameNode := r.kid("name")
	if nameNode != nil {
		p.net = shorten(nameNode.text)
	} else {
		p.net = "(unnamed)"
	}

	if err := p.checkOwnership(); err != nil {
		return nil, err
	}
	if nameNode == nil {
		return nil, apierr.New(apierr.InvalidXML, "network definition has no <name> element")
	}
	if !ValidName(nameNode.text) {
		return nil, apierr.New(apierr.InvalidXML, "network '%s': invalid <name>: must match ^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$", p.net)
	}

	if err := p.walk(); err != nil {
		return nil, err
	}
	n, err := p.build()
	if err != nil {
		return nil, err
	}
	if len(p.unsupported) > 0 {
		return nil, p.unsupported[0]
	}
	return n, nil
}

// checkOwnership rejects networks served by libvirt's own network driver.
// Like libvirt, the first <forward> counts and a missing mode means nat.
func (p *parser) checkOwnership() error {
	fwd := p.root.kid("forward")
	if fwd == nil {
		return p.errf(apierr.Unsupported, "a network without <forward> (isolated) is served by libvirt's own network driver, not virtswitch")
	}
	mode, _ := fwd.attr("mode")
	mode = shorten(mode)
	if mode == "" {
		mode = "nat"
	}
	switch mode {
	case ModeBridge, ModeVEPA, ModePrivate, ModePassthrough:
		p.mode = mode
		return nil
	case "nat", "route", "open", "hostdev", "none": // libvirt reads "none" as isolated
		return p.errf(apierr.Unsupported, "<forward mode='%s'> networks are served by libvirt's own network driver, not virtswitch", mode)
	}
	return p.invalid("unknown <forward> mode '%s'", mode)
}

// rule says what to do with a known element or attribute that virtswitch
// does not serve. A zero rule means "accepted".
type rule struct {
	kind apierr.Kind
	why  string
}

func (p *parser) apply(r rule, what string, n *node) error {
	switch r.kind {
	case apierr.InvalidXML:
		return p.invalid("%s %s", what, r.why)
	case apierr.Unsupported:
		p.unsupportedf("%s", what)
		if n != nil {
			p.cut = append(p.cut, [2]int64{n.start, n.end})
		}
	}
	return nil
}

// checkAttrs checks n's attributes against allowed (name -> rule); where
// names the element in messages. xmlns declarations are always fine.
func (p *parser) checkAttrs(n *node, where string, allowed map[string]rule) error {
	seen := map[string]bool{}
	for _, a := range n.attrs {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		if a.Name.Space != "" {
			return p.invalid("unknown attribute '%s' (namespace '%s') on %s", shorten(a.Name.Local), shorten(a.Name.Space), where)
		}
		if seen[a.Name.Local] {
			return p.invalid("attribute '%s' given twice on %s", shorten(a.Name.Local), where)
		}
		seen[a.Name.Local] = true
		r, ok := allowed[a.Name.Local]
		if !ok {
			return p.invalid("unknown attribute '%s' on %s", shorten(a.Name.Local), where)
		}
		if err := p.apply(r, fmt.Sprintf("attribute %s='%s' on %s", a.Name.Local, shorten(a.Value), where), nil); err != nil {
			return err
		}
	}
	return nil
}

// noText rejects character data in an element that holds none (libvirt's
// schema does not allow it; libvirt's parser would ignore it).
func (p *parser) noText(n *node, where string) error {
	if strings.TrimSpace(n.text) != "" {
		return p.invalid("unexpected text '%s' in %s", shorten(strings.TrimSpace(n.text)), where)
	}
	return nil
}

// leaf checks an element that may have attributes but neither children nor text.
func (p *parser) leaf(n *node, where string, allowed map[string]rule) error {
	if err := p.checkAttrs(n, where, allowed); err != nil {
		return err
	}
	if len(n.kids) > 0 {
		return p.invalid("unknown element %s in %s", elemName(n.kids[0].name), where)
	}
	return p.noText(n, where)
}

func (p *parser) modeMsg() string { return fmt.Sprintf("forward mode='%s'", p.mode) }

// walk checks the structure of the whole document.
func (p *parser) walk() error {
	r := p.root
	notHere := rule{apierr.InvalidXML, "is not allowed in a network with " + p.modeMsg() + " (virtswitch networks have no host-side addressing, DNS or DHCP)"}
	if err := p.checkAttrs(r, "<network>", map[string]rule{
		"connections":         {}, // live state from a status view; ignored, as libvirt does
		"ipv6":                {apierr.InvalidXML, "(IPv6 between guests on libvirt's own bridge) is not allowed in a network with " + p.modeMsg()},
		"trustGuestRxFilters": {kind: apierr.Unsupported},
	}); err != nil {
		return err
	}
	if v, ok := r.attr("connections"); ok {
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return p.invalid("invalid connections='%s' on <network>", shorten(v))
		}
	}
	if err := p.noText(r, "<network>"); err != nil {
		return err
	}
	single := map[string]**node{
		"name": new(*node), "uuid": &p.uuid, "metadata": &p.metadata,
		"forward": &p.forward, "bridge": &p.bridge, "virtualport": &p.vport,
		"bandwidth": &p.bandwidth, "vlan": &p.vlan,
	}
	for _, k := range r.kids {
		if k.name.Space != "" {
			if k.name.Space == dnsmasqNS && k.name.Local == "options" {
				return p.invalid("<dnsmasq:options> is only for networks served by libvirt's dnsmasq, not with %s", p.modeMsg())
			}
			return p.invalid("unknown element %s in <network>", elemName(k.name))
		}
		name := k.name.Local
		if slot, ok := single[name]; ok {
			if *slot != nil {
				return p.invalid("more than one <%s> element", name)
			}
			*slot = k
		}
		var err error
		switch name {
		case "name":
			err = p.checkAttrs(k, "<name>", nil) // its text is checked by ValidName
			if err == nil && len(k.kids) > 0 {
				err = p.invalid("unknown element %s in <name>", elemName(k.kids[0].name))
			}
		case "uuid":
			err = p.checkAttrs(k, "<uuid>", nil)
			if err == nil && len(k.kids) > 0 {
				err = p.invalid("unknown element %s in <uuid>", elemName(k.kids[0].name))
			}
		case "metadata":
			err = p.checkAttrs(k, "<metadata>", nil)
			if err == nil {
				if merr := checkMetadata(k.inner); merr != nil {
					err = p.invalid("%v", merr)
				}
			}
		case "forward":
			err = p.walkForward(k)
		case "bridge":
			err = p.leaf(k, "<bridge>", map[string]rule{
				"name":  {},
				"stp":   {apierr.InvalidXML, "is not allowed: bridge delay/stp/zone options are only for route, nat and isolated networks, not " + p.modeMsg()},
				"delay": {apierr.InvalidXML, "is not allowed: bridge delay/stp/zone options are only for route, nat and isolated networks, not " + p.modeMsg()},
				"zone":  {apierr.InvalidXML, "is not allowed: bridge delay/stp/zone options are only for route, nat and isolated networks, not " + p.modeMsg()},
				"macTableManager": func() rule {
					if p.mode == ModeBridge {
						return rule{kind: apierr.Unsupported}
					}
					return rule{apierr.InvalidXML, "is not allowed in " + p.modeMsg()}
				}(),
			})
		case "virtualport":
			err = p.walkVirtualPort(k, "<virtualport>")
		case "portgroup":
			err = p.walkPortgroup(k)
		case "ip", "mac", "dns", "domain", "mtu", "route":
			err = p.apply(notHere, "<"+name+">", k)
		case "bandwidth", "vlan":
			// Read by bandwidth.Parse / vlan.Parse in build; hidden from
			// libvirtxml.
			p.cut = append(p.cut, [2]int64{k.start, k.end})
		case "port":
			err = p.apply(rule{kind: apierr.Unsupported}, "<port isolated>", k)
		default:
			err = p.invalid("unknown element <%s> in <network>", shorten(name))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) walkForward(f *node) error {
	if err := p.checkAttrs(f, "<forward>", map[string]rule{
		"mode":    {},
		"dev":     {},
		"managed": {apierr.InvalidXML, "is only meaningful for forward mode='hostdev', not " + p.modeMsg()},
	}); err != nil {
		return err
	}
	if err := p.noText(f, "<forward>"); err != nil {
		return err
	}
	for _, k := range f.kids {
		if k.name.Space != "" {
			return p.invalid("unknown element %s in <forward>", elemName(k.name))
		}
		var err error
		switch k.name.Local {
		case "interface":
			err = p.leaf(k, "<forward><interface>", map[string]rule{"dev": {}, "connections": {}})
			if v, ok := k.attr("connections"); ok && err == nil {
				if _, perr := strconv.ParseUint(v, 10, 32); perr != nil {
					err = p.invalid("invalid connections='%s' on <forward><interface>", shorten(v))
				}
			}
		case "pf":
			err = p.apply(rule{kind: apierr.Unsupported}, "<forward><pf> (SR-IOV physical function)", k)
		case "address":
			err = p.apply(rule{kind: apierr.Unsupported}, "<forward><address> pool entries (PCI addresses)", k)
		case "driver":
			err = p.invalid("<forward><driver> is only meaningful for forward mode='hostdev', not %s", p.modeMsg())
		case "nat":
			err = p.invalid("the <nat> element can only be used when <forward> mode is 'nat', not %s", p.modeMsg())
		default:
			err = p.invalid("unknown element <%s> in <forward>", shorten(k.name.Local))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// walkVirtualPort checks a <virtualport> element's shape; its values are
// read later with vport's own XML tags. The element is hidden from
// libvirtxml, which loses unknown types and rejects hex numbers.
func (p *parser) walkVirtualPort(v *node, where string) error {
	if err := p.checkAttrs(v, where, map[string]rule{"type": {}}); err != nil {
		return err
	}
	if t, ok := v.attr("type"); ok && t == "" {
		return p.invalid("empty type in %s", where)
	}
	if err := p.noText(v, where); err != nil {
		return err
	}
	var params *node
	for _, k := range v.kids {
		if k.name.Space != "" || k.name.Local != "parameters" {
			return p.invalid("unknown element %s in %s", elemName(k.name), where)
		}
		if params != nil {
			return p.invalid("more than one <parameters> in %s", where)
		}
		params = k
		allowed := map[string]rule{}
		for _, name := range vport.ParamNames {
			allowed[name] = rule{}
		}
		if err := p.leaf(k, where+"<parameters>", allowed); err != nil {
			return err
		}
		for _, a := range k.attrs {
			if a.Name.Space != "" || a.Name.Local == "xmlns" {
				continue
			}
			if a.Value == "" {
				return p.invalid("empty %s parameter in %s", a.Name.Local, where)
			}
			for i := 0; i < len(a.Value); i++ {
				if a.Value[i] < 0x20 || a.Value[i] == 0x7f {
					return p.invalid("%s parameter in %s contains %s", a.Name.Local, where, describeByte(a.Value[i]))
				}
			}
		}
	}
	p.cut = append(p.cut, [2]int64{v.start, v.end})
	return nil
}

func (p *parser) walkPortgroup(g *node) error {
	name, _ := g.attr("name")
	where := fmt.Sprintf("<portgroup name='%s'>", shorten(name))
	if err := p.checkAttrs(g, where, map[string]rule{
		"name":                {},
		"default":             {},
		"trustGuestRxFilters": {kind: apierr.Unsupported},
	}); err != nil {
		return err
	}
	if err := p.noText(g, where); err != nil {
		return err
	}
	var vp, bw, vl *node
	for _, k := range g.kids {
		if k.name.Space != "" {
			return p.invalid("unknown element %s in %s", elemName(k.name), where)
		}
		var err error
		switch k.name.Local {
		case "virtualport":
			if vp != nil {
				return p.invalid("more than one <virtualport> in %s", where)
			}
			vp = k
			err = p.walkVirtualPort(k, where+" <virtualport>")
		case "bandwidth":
			if bw != nil {
				return p.invalid("more than one <bandwidth> in %s", where)
			}
			bw = k
			p.cut = append(p.cut, [2]int64{k.start, k.end})
		case "vlan":
			if vl != nil {
				return p.invalid("more than one <vlan> in %s", where)
			}
			vl = k
			p.cut = append(p.cut, [2]int64{k.start, k.end})
		default:
			err = p.invalid("unknown element <%s> in %s", shorten(k.name.Local), where)
		}
		if err != nil {
			return err
		}
	}
	p.portgroups = append(p.portgroups, g)
	p.pgVports = append(p.pgVports, vp)
	p.pgBandwidths = append(p.pgBandwidths, bw)
	p.pgVlans = append(p.pgVlans, vl)
	return nil
}

// pruned is the document without the spans Parse reads itself, for libvirtxml.
func (p *parser) pruned() []byte {
	spans := append([][2]int64(nil), p.cut...)
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var out []byte
	var at int64
	for _, s := range spans {
		if s[0] < at { // nested in a span already cut
			continue
		}
		out = append(out, p.data[at:s[0]]...)
		at = s[1]
	}
	return append(out, p.data[at:]...)
}

// build turns the checked document into a Network and applies SPEC §1's
// semantic rules.
func (p *parser) build() (*Network, error) {
	var lv libvirtxml.Network
	if err := lv.Unmarshal(string(p.pruned())); err != nil {
		return nil, p.invalid("cannot parse: %v", err)
	}
	if len(lv.PortGroups) != len(p.portgroups) || lv.Forward == nil {
		// Both read the same document; a mismatch is a bug here.
		return nil, p.invalid("internal error: libvirtxml and the raw scan disagree")
	}
	n := &Network{Name: p.net, Mode: p.mode}

	if p.uuid != nil {
		u, err := vport.ParseUUID(p.uuid.text)
		if err != nil {
			return nil, p.invalid("malformed <uuid> '%s'", shorten(strings.TrimSpace(p.uuid.text)))
		}
		n.UUID = u
	}
	// The raw inner XML checked by checkMetadata (libvirtxml's innerxml is
	// the same bytes).
	if p.metadata != nil && strings.TrimSpace(p.metadata.inner) != "" {
		n.Metadata = p.metadata.inner
	}

	if err := p.pool(n, lv.Forward); err != nil {
		return nil, err
	}
	if err := p.bridgeRules(n, lv.Bridge); err != nil {
		return nil, err
	}
	if err := p.networkVirtualPort(n); err != nil {
		return nil, err
	}
	if err := p.portgroupRules(n, lv.PortGroups); err != nil {
		return nil, err
	}
	var err error
	if n.Bandwidth, err = p.readBandwidth(p.bandwidth, "<bandwidth>"); err != nil {
		return nil, err
	}
	for i := range n.Portgroups {
		where := fmt.Sprintf("<portgroup name='%s'> <bandwidth>", shorten(n.Portgroups[i].Name))
		if n.Portgroups[i].Bandwidth, err = p.readBandwidth(p.pgBandwidths[i], where); err != nil {
			return nil, err
		}
	}
	if err := p.vlans(n); err != nil {
		return nil, err
	}
	return n, nil
}

// vlans reads the network's and the portgroups' <vlan>. As in libvirt, a
// VLAN is only for Open vSwitch ports: the network (or, for a portgroup's
// <vlan>, the portgroup's own typed virtualport or else the network's) must
// be a host bridge with <virtualport type='openvswitch'>. libvirt also
// takes a <vlan> on hostdev and passthrough (SR-IOV) networks; virtswitch
// does not (yet): Unsupported, deferred like every other.
func (p *parser) vlans(n *Network) error {
	ovs := func(vp *vport.VirtualPort) bool { return vp != nil && vp.Type == vport.OpenVSwitch }
	read := func(node *node, where string, onOVS bool) (*vlan.Vlan, error) {
		if node == nil {
			return nil, nil
		}
		v, err := vlan.Parse(p.data[node.start:node.end])
		if err != nil {
			return nil, p.invalid("%s: %v", where, err)
		}
		if !onOVS {
			p.unsupported = append(p.unsupported, p.errf(apierr.Unsupported,
				"%s: virtswitch applies a VLAN only to Open vSwitch ports (a host-bridge network with <virtualport type='openvswitch'>), not in %s", where, p.kindDesc(n)))
			return nil, nil
		}
		return v, nil
	}
	var err error
	if n.Vlan, err = read(p.vlan, "<vlan>", n.Bridge != "" && ovs(n.VirtualPort)); err != nil {
		return err
	}
	for i := range n.Portgroups {
		pg := &n.Portgroups[i]
		typed := pg.VirtualPort != nil && pg.VirtualPort.Type != ""
		onOVS := n.Bridge != "" && (typed && ovs(pg.VirtualPort) || !typed && ovs(n.VirtualPort))
		where := fmt.Sprintf("<portgroup name='%s'> <vlan>", shorten(pg.Name))
		if pg.Vlan, err = read(p.pgVlans[i], where, onOVS); err != nil {
			return err
		}
	}
	return nil
}

// readBandwidth reads a <bandwidth> element (nil: none). An Unsupported
// finding (an inbound floor) is deferred like every other (see Parse).
func (p *parser) readBandwidth(b *node, where string) (*bandwidth.Bandwidth, error) {
	if b == nil {
		return nil, nil
	}
	bw, err := bandwidth.Parse(p.data[b.start:b.end])
	if err == nil {
		return bw, nil
	}
	if apierr.KindOf(err) == apierr.Unsupported {
		p.unsupported = append(p.unsupported, p.errf(apierr.Unsupported, "%s: %v", where, err))
		return nil, nil
	}
	return nil, p.invalid("%s: %v", where, err)
}

// pool reads <forward dev> and <forward><interface dev> into n.Devices.
func (p *parser) pool(n *Network, fwd *libvirtxml.NetworkForward) error {
	var devs []string
	seen := map[string]bool{}
	fdev, hasFdev := p.forward.attr("dev")
	if hasFdev {
		if err := checkDevice(fdev); err != nil {
			return p.invalid("<forward dev>: %v", err)
		}
		devs = append(devs, fdev)
		seen[fdev] = true
	}
	i := 0
	for _, k := range p.forward.kids {
		if k.name.Local != "interface" {
			continue
		}
		dev, ok := k.attr("dev")
		if !ok {
			return p.invalid("missing required dev attribute in <forward><interface> element")
		}
		if dev != fwd.Interfaces[i].Dev {
			return p.invalid("internal error: libvirtxml and the raw scan disagree on <forward><interface>")
		}
		if err := checkDevice(dev); err != nil {
			return p.invalid("<forward><interface dev>: %v", err)
		}
		if i == 0 && hasFdev {
			if dev != fdev {
				return p.invalid("<forward dev='%s'> must match first <interface dev='%s'/>", shorten(fdev), shorten(dev))
			}
			i++
			continue
		}
		if seen[dev] {
			return p.invalid("interface '%s' can only be listed once in <forward>", dev)
		}
		seen[dev] = true
		devs = append(devs, dev)
		i++
	}
	n.Devices = devs
	return nil
}

func (p *parser) bridgeRules(n *Network, br *libvirtxml.NetworkBridge) error {
	// A pool of PCI addresses or a PF is still a pool (Unsupported later).
	poolish := len(n.Devices) > 0 || p.forward.kid("pf") != nil || p.forward.kid("address") != nil
	if p.bridge != nil {
		name, ok := p.bridge.attr("name")
		if !ok {
			return p.invalid("<bridge> without a name")
		}
		if p.mode != ModeBridge {
			return p.invalid("<bridge name='%s'> is not allowed in %s", shorten(name), p.modeMsg())
		}
		if poolish {
			return p.invalid("a network with %s can specify a bridge name or a forward dev, but not both", p.modeMsg())
		}
		if err := checkDevice(name); err != nil {
			return p.invalid("<bridge name>: %v", err)
		}
		n.Bridge = br.Name
		return nil
	}
	if !poolish {
		if p.mode == ModeBridge {
			return p.invalid("%s needs either <bridge name> (a host bridge) or a device pool (<forward dev> or <forward><interface dev>)", p.modeMsg())
		}
		return p.invalid("%s needs a device pool (<forward dev> or <forward><interface dev>)", p.modeMsg())
	}
	return nil
}

// kindTypes lists the virtualport types that suit the network's kind: direct
// (macvtap pool) networks take 802.1Qbg/Qbh, host bridges openvswitch.
func (p *parser) kindTypes(n *Network) []string {
	if n.Bridge != "" {
		return []string{vport.OpenVSwitch}
	}
	return []string{vport.Qbg, vport.Qbh}
}

func (p *parser) readVirtualPort(v *node, where string) (*vport.VirtualPort, error) {
	vp := &vport.VirtualPort{}
	if err := xml.Unmarshal(p.data[v.start:v.end], vp); err != nil {
		return nil, p.invalid("cannot parse %s: %v", where, err)
	}
	// Leave XMLName zero, so a parsed port equals one built in code.
	vp.XMLName = xml.Name{}
	if err := vp.Normalize(); err != nil {
		return nil, p.invalid("%s: %v", where, err)
	}
	return vp, nil
}

func (p *parser) networkVirtualPort(n *Network) error {
	if p.vport == nil {
		return nil
	}
	vp, err := p.readVirtualPort(p.vport, "<virtualport>")
	if err != nil {
		return err
	}
	if vp.Type == "" {
		return p.invalid("<virtualport> at network level requires a type attribute")
	}
	allowed := p.kindTypes(n)
	if !contains(allowed, vp.Type) {
		return p.invalid("<virtualport type='%s'> is not allowed in %s (allowed: %s)", vp.Type, p.kindDesc(n), strings.Join(allowed, ", "))
	}
	n.VirtualPort = vp
	return nil
}

func (p *parser) kindDesc(n *Network) string {
	if n.Bridge != "" {
		return "a host-bridge network"
	}
	return "a direct (" + p.modeMsg() + ") network"
}

func (p *parser) portgroupRules(n *Network, lvpgs []libvirtxml.NetworkPortGroup) error {
	var def string
	seen := map[string]bool{}
	for i, g := range p.portgroups {
		name, ok := g.attr("name")
		if !ok || name == "" {
			return p.invalid("missing required name attribute in <portgroup>")
		}
		if !portgroupNameRE().MatchString(name) {
			return p.invalid("invalid <portgroup> name '%s': libvirt allows only letters, digits and _.-\\:/", shorten(name))
		}
		if seen[name] {
			return p.invalid("<portgroup name='%s'> is defined more than once", shorten(name))
		}
		seen[name] = true
		pg := Portgroup{Name: lvpgs[i].Name}
		if v, ok := g.attr("default"); ok {
			switch strings.ToLower(v) {
			case "yes":
				pg.Default = true
			case "no":
			default:
				return p.invalid("invalid default='%s' in <portgroup name='%s'> (expected yes or no)", shorten(v), shorten(name))
			}
		}
		if pg.Default {
			if def != "" {
				return p.invalid("multiple default <portgroup> elements (%s and %s), but only one default is allowed", shorten(def), shorten(name))
			}
			def = name
		}
		if v := p.pgVports[i]; v != nil {
			where := fmt.Sprintf("<portgroup name='%s'> <virtualport>", shorten(name))
			vp, err := p.readVirtualPort(v, where)
			if err != nil {
				return err
			}
			if err := p.portgroupVirtualPortFits(n, vp, where); err != nil {
				return err
			}
			pg.VirtualPort = vp
		}
		n.Portgroups = append(n.Portgroups, pg)
	}
	return nil
}

// portgroupVirtualPortFits rejects a portgroup virtualport that could never
// merge with the network's (SPEC §3.2 would fail every interface using it
// with a Conflict or InvalidXML): a type that does not suit the network, a
// type other than the network's own, or parameters that no allowed type
// takes. A portgroup may omit the type (SPEC §1).
func (p *parser) portgroupVirtualPortFits(n *Network, vp *vport.VirtualPort, where string) error {
	allowed := p.kindTypes(n)
	if vp.Type != "" {
		if !contains(allowed, vp.Type) {
			return p.invalid("%s: type '%s' is not allowed in %s (allowed: %s)", where, vp.Type, p.kindDesc(n), strings.Join(allowed, ", "))
		}
		if n.VirtualPort != nil && n.VirtualPort.Type != vp.Type {
			return p.invalid("%s: type '%s' differs from the network's <virtualport type='%s'>", where, vp.Type, n.VirtualPort.Type)
		}
		return nil
	}
	candidates := allowed
	if n.VirtualPort != nil {
		candidates = []string{n.VirtualPort.Type}
	}
	var firstErr error
	for _, t := range candidates {
		c := vp.Clone()
		c.Type = t
		err := c.Normalize()
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if len(candidates) == 1 {
		return p.invalid("%s: %v", where, firstErr)
	}
	return p.invalid("%s: its parameters fit none of the types allowed in %s (%s)", where, p.kindDesc(n), strings.Join(candidates, ", "))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// shorten bounds a user-supplied value quoted in a message, so that a huge
// input cannot make a huge error (cut on a rune boundary).
func shorten(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// nameHint names the network in errors raised before the document could be
// read: the text of the first <name> element if one can be found, else a
// generic phrase.
func nameHint(data []byte) string {
	s := string(data)
	i := strings.Index(s, "<name>")
	if i >= 0 {
		rest := s[i+len("<name>"):]
		if j := strings.Index(rest, "</name>"); j >= 0 && j <= 64 && !strings.ContainsAny(rest[:j], "<>\n") {
			return fmt.Sprintf("network '%s'", strings.ToValidUTF8(rest[:j], "?"))
		}
	}
	return "network definition"
}
