package xmlrewrite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/vport"
)

// domain is the analysed document: where the interfaces, the metadata and
// our ports are, with the Form B ports validated and joined with their
// interfaces.
type domain struct {
	doc      *document
	name     string
	uuid     string
	metadata *node   // <metadata>, nil if absent
	ports    *node   // <virtswitch:ports>, nil if absent
	ifaces   []*node // every <devices><interface>, in document order
	formB    []*portB
}

// portB is one Form B port: its metadata entry and its interface.
type portB struct {
	port    *node // <virtswitch:port>
	iface   *node
	target  *node // the interface's <target>
	mac     *node
	Port    Port
	restore *restore
}

// restore is the bookkeeping an encode leaves when the canonical decoding
// rule would not give back the original bytes (docs/DOMAIN-XML.md).
type restore struct {
	macGenerated bool
	rawType      string // the type attribute's value as written, if not "network"
	hasFragments bool
	fragments    []fragment
}

// fragment is a piece of the Form A interface that Form B leaves out (the
// whitespace before it and one element), re-inserted after the at-th item
// that Form A and Form B share (0: right after the start tag). A fragment
// whose bytes are what the canonical rule would write keeps only the element
// name; others keep their bytes.
type fragment struct {
	at      int
	element string // "source" | "virtualport" when text is written canonically
	text    string // the original bytes otherwise
}

// errorf makes an InvalidXML error naming the domain.
func (d *domain) errorf(format string, a ...any) error {
	return apierr.New(apierr.InvalidXML, "%s: %s", d.subject(), fmt.Sprintf(format, a...))
}

func (d *domain) subject() string {
	if d == nil || d.name == "" {
		return "domain XML"
	}
	return "domain '" + d.name + "'"
}

// ifaceName names an interface in messages: by MAC when it has one.
func ifaceName(n *node) string {
	if m := n.child("", "mac"); m != nil {
		if a, ok := m.attr("address"); ok {
			return "interface " + a
		}
	}
	t := n.attrOr("type")
	if s := n.child("", "source"); s != nil {
		if net, ok := s.attr("network"); ok {
			return fmt.Sprintf("interface (type '%s', network '%s', no MAC)", t, net)
		}
	}
	return fmt.Sprintf("interface (type '%s', no MAC)", t)
}

// analyse parses src and validates the Form B side of it (ports and their
// interfaces). Form A interfaces are only listed; encode checks them.
func analyse(src []byte) (*domain, error) {
	doc, err := parse(src)
	if err != nil {
		return nil, (*domain)(nil).errorf("malformed XML: %v", err)
	}
	d := &domain{doc: doc}
	root := doc.root
	if n := root.child("", "name"); n != nil {
		d.name = strings.TrimSpace(n.text())
	}
	if !root.is("", "domain") {
		return nil, d.errorf("root element is <%s>, not <domain>", root.name.Local)
	}
	if n := root.child("", "uuid"); n != nil {
		d.uuid = strings.TrimSpace(n.text())
	}
	if md := root.children("", "metadata"); len(md) > 1 {
		return nil, d.errorf("more than one <metadata> element")
	} else if len(md) == 1 {
		d.metadata = md[0]
	}
	for _, dev := range root.children("", "devices") {
		d.ifaces = append(d.ifaces, dev.children("", "interface")...)
	}
	if d.metadata != nil {
		ps := d.metadata.children(NS, "ports")
		if len(ps) > 1 {
			return nil, d.errorf("more than one <ports> element in namespace %s", NS)
		}
		if len(ps) == 1 {
			d.ports = ps[0]
		}
	}
	if err := d.joinPorts(); err != nil {
		return nil, err
	}
	return d, nil
}

// joinPorts reads our ports and matches each with its ethernet interface.
func (d *domain) joinPorts() error {
	type portEntry struct {
		n       *node
		target  string
		network string
		pg      string
		vp      *vport.VirtualPort
		restore *restore
	}
	byTarget := map[string]*portEntry{}
	var entries []*portEntry
	if d.ports != nil {
		for _, pn := range d.ports.children(NS, "port") {
			e := &portEntry{n: pn, target: pn.attrOr("target"), network: pn.attrOr("network"), pg: pn.attrOr("portgroup")}
			if !IsTarget(e.target) {
				return d.errorf("virtswitch port target '%s' is not 'vsw' followed by the 12 lower-case hex digits of a MAC", e.target)
			}
			if e.network == "" {
				return d.errorf("virtswitch port '%s' has no network", e.target)
			}
			if byTarget[e.target] != nil {
				return d.errorf("virtswitch port '%s' is listed twice", e.target)
			}
			if vps := pn.children(NS, "virtualport"); len(vps) > 1 {
				return d.errorf("virtswitch port '%s' has more than one <virtualport>", e.target)
			} else if len(vps) == 1 {
				e.vp = readVPort(vps[0])
			}
			r, err := readRestore(pn)
			if err != nil {
				return d.errorf("virtswitch port '%s': %v", e.target, err)
			}
			e.restore = r
			byTarget[e.target] = e
			entries = append(entries, e)
		}
	}
	seenMAC := map[[6]byte]string{}
	used := map[string]bool{}
	for _, in := range d.ifaces {
		if in.attrOr("type") != "ethernet" {
			continue
		}
		targets := in.children("", "target")
		if len(targets) == 0 {
			continue
		}
		dev := targets[0].attrOr("dev")
		e := byTarget[dev]
		if e == nil {
			if IsTarget(dev) {
				return d.errorf("%s: target '%s' is a virtswitch device name but no virtswitch port in <metadata> describes it", ifaceName(in), dev)
			}
			continue
		}
		if len(targets) > 1 {
			return d.errorf("%s: more than one <target>", ifaceName(in))
		}
		if used[dev] {
			return d.errorf("%s: target '%s' is used by two interfaces", ifaceName(in), dev)
		}
		used[dev] = true
		macs := in.children("", "mac")
		if len(macs) != 1 {
			return d.errorf("%s: a virtswitch interface needs exactly one <mac>, found %d", ifaceName(in), len(macs))
		}
		addr := macs[0].attrOr("address")
		mac, ok := parseMAC(addr)
		if !ok {
			return d.errorf("%s: cannot parse MAC address '%s'", ifaceName(in), addr)
		}
		if want := targetFor(mac); dev != want {
			return d.errorf("%s: target '%s' does not match the MAC (expected '%s')", ifaceName(in), dev, want)
		}
		if prev, dup := seenMAC[mac]; dup {
			return d.errorf("%s: MAC also used by the virtswitch interface with target '%s'", ifaceName(in), prev)
		}
		seenMAC[mac] = dev
		for _, bad := range []string{"source", "virtualport", "actual"} {
			if in.child("", bad) != nil {
				return d.errorf("%s: a virtswitch (Form B) interface may not have a <%s> element", ifaceName(in), bad)
			}
		}
		if err := d.checkText(in); err != nil {
			return err
		}
		q, err := queues(in)
		if err != nil {
			return d.errorf("%s: %v", ifaceName(in), err)
		}
		bw, err := d.ownBandwidth(in)
		if err != nil {
			return err
		}
		d.formB = append(d.formB, &portB{
			port: e.n, iface: in, target: targets[0], mac: macs[0], restore: e.restore,
			Port: Port{Target: dev, MAC: addr, Network: e.network, Portgroup: e.pg, VirtualPort: e.vp, Queues: q, Bandwidth: bw},
		})
	}
	for _, e := range entries {
		if !used[e.target] {
			return d.errorf("virtswitch port '%s' (network '%s') has no matching <interface type='ethernet'> with <target dev='%s'/>", e.target, e.network, e.target)
		}
	}
	return nil
}

// checkText rejects character data other than whitespace directly inside an
// interface we rewrite: the schema has no mixed content there, and stray text
// would make the element boundaries we cut at ambiguous.
func (d *domain) checkText(in *node) error {
	for _, it := range in.items {
		if it.kind == itemText && !isSpace(d.doc.src[it.start:it.end]) {
			return d.errorf("%s: unexpected text '%s' inside <interface>", ifaceName(in), strings.TrimSpace(it.text))
		}
	}
	return nil
}

// queues reads <driver queues='N'/> (0 when absent).
func queues(in *node) (int, error) {
	drv := in.child("", "driver")
	if drv == nil {
		return 0, nil
	}
	s, ok := drv.attr("queues")
	if !ok {
		return 0, nil
	}
	q, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || q < 1 {
		return 0, fmt.Errorf("invalid <driver queues='%s'>", s)
	}
	return q, nil
}

// ownBandwidth reads an interface's own <bandwidth> (nil when it has none).
// Errors keep their kind (an inbound floor is Unsupported).
func (d *domain) ownBandwidth(in *node) (*bandwidth.Bandwidth, error) {
	bws := in.children("", "bandwidth")
	switch len(bws) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, d.errorf("%s: more than one <bandwidth>", ifaceName(in))
	}
	bw, err := bandwidth.Parse(d.doc.src[bws[0].start:bws[0].end])
	if err != nil {
		return nil, apierr.Wrap(err, apierr.InvalidXML, "%s: %s", d.subject(), ifaceName(in))
	}
	return bw, nil
}

// readRestore reads a port's <virtswitch:restore> bookkeeping.
func readRestore(pn *node) (*restore, error) {
	rs := pn.children(NS, "restore")
	if len(rs) == 0 {
		return nil, nil
	}
	if len(rs) > 1 {
		return nil, fmt.Errorf("more than one <restore>")
	}
	rn := rs[0]
	r := &restore{}
	if v, ok := rn.attr("mac"); ok {
		if v != "generated" {
			return nil, fmt.Errorf("<restore mac='%s'>: only 'generated' is known", v)
		}
		r.macGenerated = true
	}
	r.rawType = rn.attrOr("type")
	// Short form: source='N' [virtualport='M'], both written canonically;
	// at one position the source comes first.
	for _, el := range []string{"source", "virtualport"} {
		v, ok := rn.attr(el)
		if !ok {
			continue
		}
		at, err := strconv.Atoi(v)
		if err != nil || at < 0 {
			return nil, fmt.Errorf("<restore %s='%s'>: not a position", el, v)
		}
		if el == "virtualport" && len(r.fragments) == 1 && at < r.fragments[0].at {
			r.fragments = append([]fragment{{at: at, element: el}}, r.fragments...)
		} else {
			r.fragments = append(r.fragments, fragment{at: at, element: el})
		}
		r.hasFragments = true
	}
	if r.hasFragments && rn.child(NS, "fragment") != nil {
		return nil, fmt.Errorf("<restore> has both position attributes and <fragment> elements")
	}
	for _, f := range rn.children(NS, "fragment") {
		at, err := strconv.Atoi(f.attrOr("at"))
		if err != nil || at < 0 {
			return nil, fmt.Errorf("<fragment at='%s'>: not a position", f.attrOr("at"))
		}
		fr := fragment{at: at}
		if el, ok := f.attr("element"); ok {
			if el != "source" && el != "virtualport" {
				return nil, fmt.Errorf("<fragment element='%s'>: only source and virtualport are known", el)
			}
			fr.element = el
		} else {
			fr.text = f.text()
			if fr.text == "" {
				return nil, fmt.Errorf("<fragment at='%d'> is empty", at)
			}
		}
		r.hasFragments = true
		r.fragments = append(r.fragments, fr)
	}
	return r, nil
}
