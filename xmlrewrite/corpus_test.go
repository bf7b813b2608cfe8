package xmlrewrite

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/testenv"
)

// corpusFiles lists the shared corpus of real libvirt domain XML (see its
// SOURCES.md).
func corpusFiles(t testing.TB) []string {
	dir := testenv.CorpusDir(t, "libvirt-domain")
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no domain XML in %s (%v)", dir, err)
	}
	return files
}

// corpusIface is an interface as libvirtxml (an independent parser) sees it.
type corpusIface struct {
	network string // "" unless type='network'
	mac     string
}

func libvirtIfaces(t *testing.T, doc []byte) []libvirtxml.DomainInterface {
	t.Helper()
	var d libvirtxml.Domain
	if err := d.Unmarshal(string(doc)); err != nil {
		t.Fatalf("libvirtxml cannot parse: %v", err)
	}
	if d.Devices == nil {
		return nil
	}
	return d.Devices.Interfaces
}

// strip returns doc without its interfaces and its <metadata> (and, if
// created, the whitespace Encode put before it): what must not change.
func strip(t *testing.T, doc []byte, metaWS bool) string {
	t.Helper()
	pd, err := parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	type rng struct {
		s, e   int
		marker string
	}
	var cut []rng
	root := pd.root
	for i, it := range root.items {
		if it.kind != itemElem {
			continue
		}
		switch {
		case it.elem.is("", "metadata"):
			s := it.start
			if metaWS {
				s, _ = pd.wsBefore(root.items, i)
			}
			cut = append(cut, rng{s, it.end, ""})
		case it.elem.is("", "devices"):
			for _, in := range it.elem.children("", "interface") {
				// A marker per interface, so a byte cannot move across one.
				cut = append(cut, rng{in.start, in.end, "\x00"})
			}
		}
	}
	sort.Slice(cut, func(i, j int) bool { return cut[i].s < cut[j].s })
	var b strings.Builder
	pos := 0
	for _, c := range cut {
		b.Write(doc[pos:c.s])
		b.WriteString(c.marker)
		pos = c.e
	}
	b.Write(doc[pos:])
	return b.String()
}

func haveTool(t *testing.T, name string) string {
	t.Helper()
	return testenv.Tool(t, name, "libvirt-clients + libxml2-utils")
}

func xmllintWellFormed(t *testing.T, doc []byte) {
	t.Helper()
	cmd := exec.Command(haveTool(t, "xmllint"), "--noout", "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s\n%s", err, out, doc)
	}
}

func virtXMLValidate(t *testing.T, doc []byte) {
	t.Helper()
	tool := haveTool(t, "virt-xml-validate")
	f := filepath.Join(t.TempDir(), "domain.xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, f, "domain").CombinedOutput(); err != nil {
		t.Fatalf("virt-xml-validate: %v\n%s\n%s", err, out, doc)
	}
}

// Every corpus file, with every network it names configured, with none, and
// with each one alone.
func TestCorpus(t *testing.T) {
	for _, file := range corpusFiles(t) {
		x, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(file), func(t *testing.T) { corpusFile(t, x) })
		// The files without a network interface (among them those with other
		// applications' <metadata> and comments) get the SPEC's interface.
		if !bytes.Contains(x, []byte("<interface type='network'")) && bytes.Contains(x, []byte("\n  <devices>\n")) {
			y := bytes.Replace(x, []byte("\n  <devices>\n"), []byte("\n  <devices>\n    "+indent(specFormA, "    ")+"\n"), 1)
			t.Run(filepath.Base(file)+"+spec", func(t *testing.T) { corpusFile(t, y) })
		}
	}
}

func corpusFile(t *testing.T, x []byte) {
	{
		{
			ifaces := libvirtIfaces(t, x)
			var nets []string
			seen := map[string]bool{}
			for _, in := range ifaces {
				if in.Source != nil && in.Source.Network != nil && !seen[in.Source.Network.Network] {
					seen[in.Source.Network.Network] = true
					nets = append(nets, in.Source.Network.Network)
				}
			}
			configs := [][]string{nil, nets}
			if len(nets) > 1 {
				for _, n := range nets {
					configs = append(configs, []string{n})
				}
			}
			for _, cfg := range configs {
				t.Run(fmt.Sprintf("ours=%v", cfg), func(t *testing.T) { corpusCase(t, x, ifaces, cfg) })
			}
		}
	}
}

func corpusCase(t *testing.T, x []byte, ifaces []libvirtxml.DomainInterface, cfg []string) {
	ours := oursOnly(cfg...)
	selected := 0
	macs := map[string]int{}
	refused := ""
	for _, in := range ifaces {
		if in.Source != nil && in.Source.Network != nil && ours(in.Source.Network.Network) {
			selected++
			if in.MAC != nil {
				macs[strings.ToLower(in.MAC.Address)]++
			}
			if refused == "" {
				refused = refusedBy(in)
			}
		}
	}
	dupMAC := ""
	for m, n := range macs {
		if n > 1 {
			dupMAC = m
		}
	}
	enc, changed, err := Encode(x, ours)
	if refused != "" {
		// Something an ethernet interface cannot carry.
		if err == nil || apierr.KindOf(err) != apierr.Unsupported || !strings.Contains(err.Error(), refused) {
			t.Fatalf("want an Unsupported error naming %s, got %v", refused, err)
		}
		return
	}
	if dupMAC != "" {
		// Two of our interfaces share a MAC (failover teaming): their
		// targets, named after the MAC, would collide.
		if err == nil || apierr.KindOf(err) != apierr.InvalidXML || !strings.Contains(strings.ToLower(err.Error()), dupMAC) {
			t.Fatalf("want an InvalidXML error naming MAC %s, got %v", dupMAC, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if changed != (selected > 0) {
		t.Fatalf("changed = %v with %d interfaces selected", changed, selected)
	}
	if !changed {
		if !bytes.Equal(enc, x) || &enc[0] != &x[0] {
			t.Fatal("unchanged Encode did not return its input")
		}
		return
	}
	if bytes.Contains(enc, []byte("<actual")) {
		t.Fatal("Encode output has <actual>")
	}
	back, dchanged, err := Decode(enc)
	if err != nil || !dchanged {
		t.Fatalf("Decode: %v changed=%v", err, dchanged)
	}
	if !bytes.Equal(back, x) {
		t.Fatalf("Decode(Encode(x)) != x:\n%s", back)
	}
	// Only the interfaces and <metadata> differ.
	hadMeta := bytes.Contains(x, []byte("<metadata"))
	if a, b := strip(t, x, false), strip(t, enc, !hadMeta); a != b {
		t.Fatalf("bytes outside interfaces and metadata changed:\n%q\n%q", a, b)
	}
	// libvirtxml sees the conversion; untouched interfaces are identical.
	after := libvirtIfaces(t, enc)
	if len(after) != len(ifaces) {
		t.Fatalf("%d interfaces, was %d", len(after), len(ifaces))
	}
	for i, in := range ifaces {
		if in.Source != nil && in.Source.Network != nil && ours(in.Source.Network.Network) {
			a := after[i]
			if a.Source == nil || a.Source.Ethernet == nil || a.Target == nil || a.Target.Managed != "no" || a.MAC == nil {
				t.Fatalf("interface %d not Form B: %+v", i, a)
			}
			mac, _ := parseMAC(a.MAC.Address)
			if a.Target.Dev != targetFor(mac) || a.VirtualPort != nil {
				t.Fatalf("interface %d: target %s, virtualport %v", i, a.Target.Dev, a.VirtualPort)
			}
		} else if !reflect.DeepEqual(after[i], in) {
			t.Fatalf("interface %d changed", i)
		}
	}
	virtXMLValidate(t, enc)
	again, changed, err := Encode(enc, ours)
	if err != nil || changed || !bytes.Equal(again, enc) {
		t.Fatalf("Encode is not idempotent: %v %v", changed, err)
	}

	// Inspect, Status and ParseStatus agree.
	dom, err := Inspect(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(dom.Ports) != selected {
		t.Fatalf("Inspect: %d ports, want %d", len(dom.Ports), selected)
	}
	act := map[string]Actual{}
	for i, p := range dom.Ports {
		if i%2 == 0 {
			act[p.Target] = Actual{Type: "direct", Dev: "eth1", Mode: "passthrough", SavedMAC: "52:54:00:aa:bb:cc", VirtualPort: p.VirtualPort.Clone()}
		} else {
			act[p.Target] = Actual{Type: "bridge", Bridge: "br0"}
		}
	}
	st, err := Status(enc, act)
	if err != nil {
		t.Fatal(err)
	}
	xmllintWellFormed(t, st)
	if regexp.MustCompile(`dev='vsw[0-9a-f]{12}' managed`).Match(st) || bytes.Contains(st, []byte(":ports")) {
		t.Fatalf("status still in Form B:\n%s", st)
	}
	sd, sa, err := ParseStatus(st)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sd, dom) || !reflect.DeepEqual(sa, act) {
		t.Fatalf("ParseStatus(Status()) differs:\n%+v\n%+v\nwant\n%+v\n%+v", sd, sa, dom, act)
	}
}

// refusedBy names what Encode must refuse in a virtswitch interface, as
// libvirtxml reads it.
func refusedBy(in libvirtxml.DomainInterface) string {
	switch {
	case in.VLan != nil:
		return "<vlan>"
	case in.PortOptions != nil && in.PortOptions.Isolated == "yes":
		return "<port isolated='yes'/>"
	case in.Bandwidth != nil && in.Bandwidth.Inbound != nil && in.Bandwidth.Inbound.Floor != nil:
		return "floor"
	}
	return ""
}

// Decoding a file that has no Form B returns it unchanged.
func TestCorpusDecodeUnchanged(t *testing.T) {
	for _, file := range corpusFiles(t) {
		x, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out, changed, err := Decode(x)
		if err != nil || changed || !bytes.Equal(out, x) {
			t.Errorf("%s: Decode changed=%v err=%v", file, changed, err)
		}
	}
}

func libvirtFormat(t *testing.T, doc []byte) []byte {
	t.Helper()
	out, ok := tryLibvirtFormat(t, doc)
	if !ok {
		t.Fatalf("virsh: %s\n%s", out, doc)
	}
	return out
}

// tryLibvirtFormat has libvirt itself (virsh on the test driver, in process,
// with an empty node) parse and format a domain, as `virsh define` +
// `virsh dumpxml --inactive` would on a host.
func tryLibvirtFormat(t *testing.T, doc []byte) ([]byte, bool) {
	t.Helper()
	tool := haveTool(t, "virsh")
	var d libvirtxml.Domain
	if err := d.Unmarshal(string(doc)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	node, f := filepath.Join(dir, "node.xml"), filepath.Join(dir, "domain.xml")
	if err := os.WriteFile(node, []byte("<node/>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "-q", "-c", "test://"+node, "define "+f+"; dumpxml --inactive "+d.Name).CombinedOutput()
	i := bytes.Index(out, []byte("<domain"))
	if err != nil || i < 0 {
		return bytes.TrimSpace(out), false
	}
	return out[i:], true
}

// What libvirt stores for Form B decodes to what libvirt stores for Form A:
// libvirt accepts Form B, keeps our metadata, and its reformatting (quotes,
// element order, metadata layout) does not lose the binding.
func TestLibvirtKeepsFormB(t *testing.T) {
	cases := 0
	for _, file := range corpusFiles(t) {
		x, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(x, []byte("<interface type='network'")) && bytes.Contains(x, []byte("\n  <devices>\n")) {
			x = bytes.Replace(x, []byte("\n  <devices>\n"), []byte("\n  <devices>\n    "+indent(specFormA, "    ")+"\n"), 1)
		}
		ifaces := libvirtIfaces(t, x)
		var nets []string
		seen := map[string]bool{}
		for _, in := range ifaces {
			if in.Source != nil && in.Source.Network != nil && !seen[in.Source.Network.Network] {
				seen[in.Source.Network.Network] = true
				nets = append(nets, in.Source.Network.Network)
			}
		}
		for _, cfg := range append([][]string{nets}, splitEach(nets)...) {
			enc, changed, err := Encode(x, oursOnly(cfg...))
			if err != nil || !changed {
				continue // refusals are TestCorpus's business
			}
			cases++
			t.Run(fmt.Sprintf("%s/ours=%v", filepath.Base(file), cfg), func(t *testing.T) {
				formA, ok := tryLibvirtFormat(t, x)
				if !ok {
					t.Skipf("this libvirt rejects the original too: %s", formA)
				}
				stored := libvirtFormat(t, enc)
				in, err := Inspect(stored)
				if err != nil {
					t.Fatalf("Inspect(libvirt's Form B): %v\n%s", err, stored)
				}
				want, err := Inspect(enc)
				if err != nil || !reflect.DeepEqual(in, want) {
					t.Fatalf("libvirt changed the ports:\n%+v\nwant\n%+v (%v)", in, want, err)
				}
				dec, _, err := Decode(stored)
				if err != nil {
					t.Fatal(err)
				}
				var got, exp libvirtxml.Domain
				if err := got.Unmarshal(string(dec)); err != nil {
					t.Fatal(err)
				}
				if err := exp.Unmarshal(string(formA)); err != nil {
					t.Fatal(err)
				}
				// The test driver names a type='network' interface's device
				// testnetN when it is defined; Form B's is vswMAC, which
				// Decode drops.
				// libvirt writes portid only in live XML; Decode puts back
				// the one the original had.
				for _, d := range []*libvirtxml.Domain{&got, &exp} {
					for i, in := range d.Devices.Interfaces {
						if in.Target != nil && strings.HasPrefix(in.Target.Dev, "testnet") {
							d.Devices.Interfaces[i].Target = nil
						}
						if in.Source != nil && in.Source.Network != nil {
							in.Source.Network.PortID = ""
						}
					}
				}
				if !reflect.DeepEqual(got, exp) {
					g, _ := got.Marshal()
					e, _ := exp.Marshal()
					t.Fatalf("Decode(libvirt(Encode(x))) != libvirt(x):\n%s\nwant\n%s", g, e)
				}
			})
		}
	}
	if cases < 50 {
		t.Fatalf("only %d corpus cases could be encoded", cases)
	}
}

func splitEach(s []string) [][]string {
	var out [][]string
	if len(s) < 2 {
		return nil
	}
	for _, x := range s {
		out = append(out, []string{x})
	}
	return out
}
