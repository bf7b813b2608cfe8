package xmlrewrite

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/vport"
)

// SPEC §2's Form A interface, Form B interface and Form B metadata, verbatim.
const (
	specFormA = `<interface type='network'>
  <source network='red-network' portgroup='engineering'/>
  <virtualport type='802.1Qbg'>
    <parameters instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
  </virtualport>
  <mac address='de:ad:be:ef:ca:fe'/>
  <model type='virtio'/>
</interface>`
	specFormB = `<interface type='ethernet'>
  <mac address='de:ad:be:ef:ca:fe'/>
  <target dev='vswdeadbeefcafe' managed='no'/>
  <model type='virtio'/>
</interface>`
	specMetadata = `<metadata>
  <virtswitch:ports xmlns:virtswitch='http://virtswitch.github.io/xmlns/domain/1.0'>
    <virtswitch:port target='vswdeadbeefcafe' network='red-network' portgroup='engineering'>
      <virtswitch:virtualport type='802.1Qbg'>
        <virtswitch:parameters instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
      </virtswitch:virtualport>
    </virtswitch:port>
  </virtswitch:ports>
</metadata>`
)

// indent prefixes every line but the first of s with p (the first line's
// indentation comes from the surrounding document).
func indent(s, p string) string { return strings.ReplaceAll(s, "\n", "\n"+p) }

// dom builds a domain document; head goes after <uuid>, ifaces into <devices>,
// both already indented for their place (2 and 4 spaces).
func dom(head string, ifaces ...string) string {
	s := "<domain type='kvm'>\n  <name>guest1</name>\n  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
	if head != "" {
		s += "  " + head + "\n"
	}
	s += "  <memory unit='KiB'>219136</memory>\n  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
	for _, in := range ifaces {
		s += "    " + in + "\n"
	}
	return s + "    <memballoon model='virtio'/>\n  </devices>\n</domain>\n"
}

func allOurs(string) bool { return true }

func oursOnly(names ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
}

func mustEncode(t *testing.T, doc string, ours func(string) bool) string {
	t.Helper()
	out, changed, err := Encode([]byte(doc), ours)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if !changed {
		t.Fatalf("Encode: changed = false for\n%s", doc)
	}
	return string(out)
}

func mustDecode(t *testing.T, doc string) string {
	t.Helper()
	out, changed, err := Decode([]byte(doc))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !changed {
		t.Fatalf("Decode: changed = false for\n%s", doc)
	}
	return string(out)
}

func wellFormed(t *testing.T, doc string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	for {
		_, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%s", err, doc)
			}
			return
		}
	}
}

// The seed's Form A interface becomes exactly SPEC's Form B, and back.
func TestSpecExample(t *testing.T) {
	for _, tc := range []struct {
		name         string
		formA, formB string
	}{
		{
			name: "column 0",
			formA: "<domain type='kvm'>\n<name>seed</name>\n<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n<devices>\n" +
				specFormA + "\n</devices>\n</domain>\n",
			formB: "<domain type='kvm'>\n<name>seed</name>\n<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n" + specMetadata + "\n<devices>\n" +
				specFormB + "\n</devices>\n</domain>\n",
		},
		{
			name:  "libvirt indentation",
			formA: dom("", indent(specFormA, "    ")),
			formB: strings.Replace(dom("", indent(specFormB, "    ")), "</uuid>\n", "</uuid>\n  "+indent(specMetadata, "  ")+"\n", 1),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustEncode(t, tc.formA, oursOnly("red-network"))
			if got != tc.formB {
				t.Fatalf("Encode:\n%s\nwant:\n%s", got, tc.formB)
			}
			if back := mustDecode(t, got); back != tc.formA {
				t.Fatalf("Decode:\n%s\nwant:\n%s", back, tc.formA)
			}
		})
	}
}

// Interfaces virtswitch does not serve are left alone, and an encode that
// changes nothing returns its input.
func TestEncodeLeavesOthersAlone(t *testing.T) {
	others := []string{
		"<interface type='network'>\n      <source network='default'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>",
		"<interface type='bridge'>\n      <source bridge='red-network'/>\n      <mac address='52:54:00:00:00:02'/>\n    </interface>",
		"<interface type='direct'>\n      <source dev='eth0' mode='vepa'/>\n      <mac address='52:54:00:00:00:03'/>\n    </interface>",
		"<interface type='ethernet'>\n      <target dev='tap7' managed='no'/>\n      <mac address='52:54:00:00:00:04'/>\n    </interface>",
		"<interface type='user'>\n      <mac address='52:54:00:00:00:05'/>\n    </interface>",
		"<interface type='network'/>",
		"<interface type='network'>\n      <mac address='52:54:00:00:00:06'/>\n    </interface>",
	}
	doc := dom("", others...)
	for _, ours := range []func(string) bool{oursOnly("red-network"), oursOnly()} {
		out, changed, err := Encode([]byte(doc), ours)
		if err != nil || changed || string(out) != doc {
			t.Fatalf("Encode changed a document with nothing of ours: changed=%v err=%v\n%s", changed, err, out)
		}
	}
	// Mixed: only the red-network interface changes.
	red := "<interface type='network'>\n      <mac address='52:54:00:00:00:10'/>\n      <source network='red-network'/>\n    </interface>"
	mixed := dom("", append([]string{red}, others...)...)
	out := mustEncode(t, mixed, oursOnly("red-network"))
	for _, o := range others {
		if !strings.Contains(out, o) {
			t.Errorf("interface changed:\n%s\nin:\n%s", o, out)
		}
	}
	if strings.Count(out, "type='ethernet'") != 2 {
		t.Errorf("want the red interface converted and the existing ethernet one kept:\n%s", out)
	}
	if back := mustDecode(t, out); back != mixed {
		t.Fatalf("round trip:\n%s\nwant:\n%s", back, mixed)
	}
	out2, changed, err := Encode([]byte(out), oursOnly("red-network"))
	if err != nil || changed || string(out2) != out {
		t.Fatalf("second Encode changed Form B: %v %v", changed, err)
	}
	d := dom("", others...)
	if out, changed, err := Decode([]byte(d)); err != nil || changed || string(out) != d {
		t.Fatalf("Decode without Form B: changed=%v err=%v", changed, err)
	}
}

// Round trips that need bookkeeping, and what the bookkeeping looks like.
func TestRoundTripShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		doc    string
		ours   func(string) bool
		inB    []string // must appear in Form B
		notInB []string // must not appear in Form B
	}{
		{
			name: "libvirt order: mac first, existing target",
			doc:  dom("", "<interface type='network'>\n      <mac address='52:54:00:e5:48:58'/>\n      <source network='red'/>\n      <target dev='vnet0'/>\n      <model type='virtio'/>\n    </interface>"),
			inB: []string{"<target dev='vsw525400e54858' managed='no'/>", "<virtswitch:fragment at='1' element='source'/>",
				"<virtswitch:fragment at='1'>&#10;      &lt;target dev='vnet0'/&gt;</virtswitch:fragment>"},
			notInB: []string{"vnet0'/>"},
		},
		{
			name:   "libvirt order: positions only",
			doc:    dom("", "<interface type='network'>\n      <mac address='52:54:00:e5:48:58'/>\n      <source network='red'/>\n      <model type='virtio'/>\n      <virtualport type='802.1Qbh'>\n        <parameters profileid='p'/>\n      </virtualport>\n    </interface>"),
			inB:    []string{"<virtswitch:restore source='1' virtualport='2'/>"},
			notInB: []string{"fragment"},
		},
		{
			name:   "virtualport before source, apart",
			doc:    dom("", "<interface type='network'>\n      <virtualport type='802.1Qbh'/>\n      <mac address='52:54:00:e5:48:58'/>\n      <source network='red'/>\n    </interface>"),
			inB:    []string{"<virtswitch:restore source='1' virtualport='0'/>"},
			notInB: []string{"fragment"},
		},
		{
			name: "virtualport right before source",
			doc:  dom("", "<interface type='network'>\n      <mac address='52:54:00:e5:48:58'/>\n      <virtualport type='802.1Qbh'/>\n      <source network='red'/>\n    </interface>"),
			inB:  []string{"<virtswitch:fragment at='1' element='virtualport'/>\n          <virtswitch:fragment at='1' element='source'/>"},
		},
		{
			name:   "canonical without virtualport needs no bookkeeping",
			doc:    dom("", "<interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:e5:48:58'/>\n    </interface>"),
			notInB: []string{"restore", "fragment"},
			inB:    []string{"<virtswitch:port target='vsw525400e54858' network='red'/>"},
		},
		{
			name: "double quotes, open/close tags, extra source attribute",
			doc:  dom("", `<interface type="network">`+"\n      "+`<source network="red" portgroup="pg1" portid="873be5a0-6b8a-4a0b-a1df-ef3659cd64bc"></source>`+"\n      "+`<mac address="00:11:22:33:44:55"></mac>`+"\n    </interface>"),
			inB:  []string{`<interface type="ethernet">`, `<mac address="00:11:22:33:44:55"></mac>`, "network='red' portgroup='pg1'", "portid="},
		},
		{
			name: "tabs and CRLF",
			doc:  "<domain type='kvm'>\r\n\t<name>g</name>\r\n\t<devices>\r\n\t\t<interface type='network'>\r\n\t\t\t<mac address='52:54:00:00:00:01'/>\r\n\t\t\t<virtualport type='802.1Qbh'>\r\n\t\t\t\t<parameters profileid='p1'/>\r\n\t\t\t</virtualport>\r\n\t\t\t<source network='red'/>\r\n\t\t</interface>\r\n\t</devices>\r\n</domain>\r\n",
			inB:  []string{"\r\n\t\t\t<target dev='vsw525400000001' managed='no'/>", "&#13;&#10;&#9;&#9;&#9;&lt;virtualport"},
		},
		{
			name:   "one line",
			doc:    "<domain type='kvm'><name>g</name><devices><interface type='network'><source network='red'/><mac address='52:54:00:00:00:01'/></interface></devices></domain>",
			inB:    []string{"<name>g</name><metadata><virtswitch:ports xmlns:virtswitch='" + NS + "'><virtswitch:port target='vsw525400000001' network='red'/></virtswitch:ports></metadata><devices><interface type='ethernet'><mac address='52:54:00:00:00:01'/><target dev='vsw525400000001' managed='no'/></interface>"},
			notInB: []string{"\n"},
		},
		{
			name: "comment inside the interface, elements after the mac",
			doc:  dom("", "<interface type='network' trustGuestRxFilters='yes'>\n      <!-- uplink -->\n      <mac address='52:54:00:00:00:01'/>\n      <model type='virtio'/>\n      <source network='red' portgroup='a'/>\n      <driver queues='4'/>\n    </interface>"),
			inB:  []string{"<interface type='ethernet' trustGuestRxFilters='yes'>\n      <!-- uplink -->\n      <mac address='52:54:00:00:00:01'/>\n      <target dev='vsw525400000001' managed='no'/>\n      <model type='virtio'/>\n      <driver queues='4'/>\n    </interface>"},
		},
		{
			name: "type attribute with a character reference",
			doc:  dom("", "<interface type='&#110;etwork'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>"),
			inB:  []string{"<interface type='ethernet'>", "<virtswitch:restore type='&amp;#110;etwork'/>"},
		},
		{
			name: "upper-case MAC, 1-digit groups",
			doc:  dom("", "<interface type='network'>\n      <source network='red'/>\n      <mac address='A:B:C:D:E:F0'/>\n    </interface>"),
			inB:  []string{"<mac address='A:B:C:D:E:F0'/>\n      <target dev='vsw0a0b0c0d0ef0' managed='no'/>"},
		},
		{
			name: "existing metadata of other applications",
			doc:  dom("<metadata>\n      <app1:foo xmlns:app1=\"http://foo.org/\">fooish</app1:foo>\n  <app2:bar xmlns:app2=\"http://bar.com/\" maman=\"baz\">barish</app2:bar>\n  </metadata>", "<interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>"),
			inB:  []string{"<app2:bar xmlns:app2=\"http://bar.com/\" maman=\"baz\">barish</app2:bar>\n  <virtswitch:ports xmlns:virtswitch='" + NS + "'>\n    <virtswitch:port target='vsw525400000001' network='red'/>\n  </virtswitch:ports>\n  </metadata>"},
		},
		{
			name:   "empty metadata element is kept aside",
			doc:    dom("<metadata/>", "<interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>"),
			inB:    []string{"original='&lt;metadata/&gt;'"},
			notInB: []string{"<metadata/>"},
		},
		{
			name: "metadata with only whitespace",
			doc:  dom("<metadata>\n  </metadata>", "<interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>"),
			inB:  []string{"original='&lt;metadata&gt;&#10;  &lt;/metadata&gt;'"},
		},
		{
			name: "no identity elements: metadata goes first",
			doc:  "<domain type='kvm'>\n  <devices>\n    <interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>\n  </devices>\n</domain>",
			inB:  []string{"<domain type='kvm'>\n  <metadata>\n    <virtswitch:ports"},
		},
		{
			name: "after title and description",
			doc:  strings.Replace(dom("<title>t</title>\n  <description>d</description>", "<interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>"), "", "", 1),
			inB:  []string{"<description>d</description>\n  <metadata>"},
		},
		{
			name: "two interfaces, one ours",
			doc: dom("", "<interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>",
				"<interface type='network'>\n      <source network='blue'/>\n      <mac address='52:54:00:00:00:02'/>\n    </interface>"),
			ours: oursOnly("red"),
			inB:  []string{"<source network='blue'/>"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours := tc.ours
			if ours == nil {
				ours = allOurs
			}
			b := mustEncode(t, tc.doc, ours)
			for _, s := range tc.inB {
				if !strings.Contains(b, s) {
					t.Errorf("Form B lacks %q:\n%s", s, b)
				}
			}
			for _, s := range tc.notInB {
				if strings.Contains(b, s) {
					t.Errorf("Form B has %q:\n%s", s, b)
				}
			}
			wellFormed(t, b)
			if back := mustDecode(t, b); back != tc.doc {
				t.Fatalf("Decode(Encode(x)) != x:\n%s\nwant:\n%s", back, tc.doc)
			}
		})
	}
}

// A Form A interface without a MAC gets one under 52:54:00; Decode removes
// it again.
func TestGeneratedMAC(t *testing.T) {
	for _, iface := range []string{
		"<interface type='network'>\n      <source network='red'/>\n      <model type='virtio'/>\n    </interface>",
		"<interface type='network'>\n      <model type='virtio'/>\n      <source network='red'/>\n    </interface>",
		"<interface type='network'><source network='red'/></interface>",
		"<interface type='network'>\n      <source network='red'/>\n    </interface>",
	} {
		doc := dom("", iface)
		b := mustEncode(t, doc, allOurs)
		m := regexp.MustCompile(`<mac address='(52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2})'/>`).FindStringSubmatch(b)
		if m == nil {
			t.Fatalf("no generated MAC in\n%s", b)
		}
		want := "vsw" + strings.ReplaceAll(m[1], ":", "")
		if !strings.Contains(b, "<target dev='"+want+"' managed='no'/>") || !strings.Contains(b, "target='"+want+"'") {
			t.Errorf("target is not %s:\n%s", want, b)
		}
		if !strings.Contains(b, "<virtswitch:restore mac='generated'") {
			t.Errorf("no bookkeeping for the generated MAC:\n%s", b)
		}
		if back := mustDecode(t, b); back != doc {
			t.Fatalf("round trip:\n%s\nwant:\n%s", back, doc)
		}
		d, err := Inspect([]byte(b))
		if err != nil || len(d.Ports) != 1 || d.Ports[0].MAC != m[1] {
			t.Fatalf("Inspect: %+v %v", d, err)
		}
	}
}

// Decode of a document where Form B already existed: Decode(Encode(x)) ==
// Decode(x), and appended ports use the existing element's prefix.
func TestPartiallyEncoded(t *testing.T) {
	red := "<interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n    </interface>"
	blue := "<interface type='network'>\n      <source network='blue'/>\n      <mac address='52:54:00:00:00:02'/>\n    </interface>"
	half := mustEncode(t, dom("", red, blue), oursOnly("red"))
	full := mustEncode(t, half, oursOnly("blue"))
	if got, want := mustDecode(t, full), mustDecode(t, half); got != want {
		t.Fatalf("Decode(Encode(x)) != Decode(x):\n%s\nwant:\n%s", got, want)
	}
	if mustDecode(t, full) != dom("", red, blue) {
		t.Fatal("full decode is not the original")
	}
	// Another prefix, declared on <metadata>, default namespace.
	for _, ports := range []struct{ md, prefix string }{
		{"<metadata xmlns:vs='" + NS + "'>\n    <vs:ports>\n      <vs:port target='vsw525400000001' network='red'/>\n    </vs:ports>\n  </metadata>", "vs:"},
		{"<metadata>\n    <ports xmlns='" + NS + "'>\n      <port target='vsw525400000001' network='red'/>\n    </ports>\n  </metadata>", ""},
	} {
		redB := "<interface type='ethernet'>\n      <mac address='52:54:00:00:00:01'/>\n      <target dev='vsw525400000001' managed='no'/>\n    </interface>"
		x := dom(ports.md, redB, blue)
		b := mustEncode(t, x, allOurs)
		if !strings.Contains(b, "<"+ports.prefix+"port target='vsw525400000001' network='red'/>\n      <"+ports.prefix+"port target='vsw525400000002' network='blue'/>") {
			t.Fatalf("port not appended with prefix %q:\n%s", ports.prefix, b)
		}
		d, err := Inspect([]byte(b))
		if err != nil || len(d.Ports) != 2 {
			t.Fatalf("Inspect: %+v %v", d, err)
		}
		if got, want := mustDecode(t, b), mustDecode(t, x); got != want {
			t.Fatalf("Decode(Encode(x)) != Decode(x):\n%s\nwant:\n%s", got, want)
		}
	}
}

// A Form B port edited after Encode (its network changed) is decoded from
// what the port now says, not from stale bookkeeping.
func TestDecodeEditedPort(t *testing.T) {
	doc := dom("", "<interface type='network'>\n      <mac address='52:54:00:00:00:01'/>\n      <source network='red' portid='873be5a0-6b8a-4a0b-a1df-ef3659cd64bc'/>\n    </interface>")
	b := mustEncode(t, doc, allOurs)
	edited := strings.Replace(b, "network='red'>", "network='green'>", 1)
	if edited == b {
		t.Fatal("test setup: port not found")
	}
	got := mustDecode(t, edited)
	want := strings.Replace(doc, "\n      <source network='red' portid='873be5a0-6b8a-4a0b-a1df-ef3659cd64bc'/>", "", 1)
	want = strings.Replace(want, "<mac", "<source network='green'/>\n      <mac", 1)
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestInspect(t *testing.T) {
	doc := dom("",
		indent(specFormA, "    "),
		"<interface type='network'>\n      <mac address='52:54:00:00:00:02'/>\n      <source network='blue' portgroup='eng'/>\n      <driver name='vhost' queues='4'/>\n    </interface>",
		"<interface type='network'>\n      <source network='default'/>\n    </interface>",
		"<interface type='bridge'>\n      <source bridge='br0'/>\n    </interface>",
	)
	b := mustEncode(t, doc, oursOnly("red-network", "blue"))
	d, err := Inspect([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	want := &Domain{
		UUID: "c7a5fdbd-edaf-9455-926a-d65c16db1809", Name: "guest1",
		Ports: []Port{
			{Target: "vswdeadbeefcafe", MAC: "de:ad:be:ef:ca:fe", Network: "red-network", Portgroup: "engineering",
				VirtualPort: &vport.VirtualPort{Type: "802.1Qbg", Params: &vport.Params{InstanceID: "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}}},
			{Target: "vsw525400000002", MAC: "52:54:00:00:00:02", Network: "blue", Portgroup: "eng", Queues: 4},
		},
		FormA: []string{"default"},
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("Inspect:\n%+v\nwant\n%+v", d, want)
	}
	d, err = Inspect([]byte(doc))
	if err != nil || len(d.Ports) != 0 || !reflect.DeepEqual(d.FormA, []string{"red-network", "blue", "default"}) {
		t.Fatalf("Inspect Form A: %+v %v", d, err)
	}
}

func TestErrors(t *testing.T) {
	formB := func(mac, target string) string {
		return "<interface type='ethernet'>\n      <mac address='" + mac + "'/>\n      <target dev='" + target + "' managed='no'/>\n    </interface>"
	}
	port := func(target string) string {
		return "<metadata>\n    <virtswitch:ports xmlns:virtswitch='" + NS + "'>\n      <virtswitch:port target='" + target + "' network='red'/>\n    </virtswitch:ports>\n  </metadata>"
	}
	formA := func(mac, inner string) string {
		return "<interface type='network'>\n      <source network='red'/>\n      <mac address='" + mac + "'/>" + inner + "\n    </interface>"
	}
	const m1 = "52:54:00:00:00:01"
	for _, tc := range []struct {
		name string
		doc  string
		op   string // "inspect" (checked by all three) or "encode"
		want []string
	}{
		{"malformed", "<domain><name>x</name><devices></domain>", "inspect", []string{"malformed XML"}},
		{"empty", "", "inspect", []string{"malformed XML"}},
		{"two roots", "<domain/><domain/>", "inspect", []string{"malformed XML"}},
		{"not a domain", "<network><name>x</name></network>", "inspect", []string{"domain 'x'", "not <domain>"}},
		{"port without interface", dom(port("vsw525400000009")), "inspect",
			[]string{"domain 'guest1'", "vsw525400000009", "no matching"}},
		{"interface without port", dom("", formB(m1, "vsw525400000001")), "inspect", []string{"interface " + m1, "vsw525400000001", "no virtswitch port"}},
		{"target not vsw+MAC", dom(port("vsw525400000001"), formB("52:54:00:00:00:02", "vsw525400000001")), "inspect",
			[]string{"interface 52:54:00:00:00:02", "does not match the MAC", "vsw525400000002"}},
		{"bad port target", dom(port("vswXYZ"), formB(m1, "vsw525400000001")), "inspect", []string{"vswXYZ"}},
		{"duplicate port", dom(strings.Replace(port("vsw525400000001"), "/>", "/>\n      <virtswitch:port target='vsw525400000001' network='red'/>", 1), formB(m1, "vsw525400000001")), "inspect",
			[]string{"vsw525400000001", "listed twice"}},
		{"duplicate target", dom(port("vsw525400000001"), formB(m1, "vsw525400000001"), formB(m1, "vsw525400000001")), "inspect",
			[]string{"interface " + m1, "two interfaces"}},
		{"Form B with a source", dom(port("vsw525400000001"), strings.Replace(formB(m1, "vsw525400000001"), "<mac", "<source network='red'/>\n      <mac", 1)), "inspect",
			[]string{"interface " + m1, "<source>"}},
		{"two metadata", dom("<metadata/>\n  <metadata/>"), "inspect", []string{"more than one <metadata>"}},
		{"bad queues", dom(port("vsw525400000001"), strings.Replace(formB(m1, "vsw525400000001"), "</interface>", "<driver queues='x'/></interface>", 1)), "inspect",
			[]string{"interface " + m1, "queues='x'"}},
		{"duplicate MAC on encode", dom("", formA(m1, ""), strings.Replace(formA(m1, ""), "red", "blue", 1)), "encode",
			[]string{"domain 'guest1'", "interface " + m1, "also used"}},
		{"MAC of an existing Form B port", dom(port("vsw525400000001"), formB(m1, "vsw525400000001"), formA(m1, "")), "encode",
			[]string{"interface " + m1, "target 'vsw525400000001'"}},
		{"multicast MAC", dom("", formA("01:00:5e:00:00:01", "")), "encode", []string{"interface 01:00:5e:00:00:01", "multicast"}},
		{"bad MAC", dom("", formA("52:54:00:00:00", "")), "encode", []string{"interface 52:54:00:00:00", "cannot parse"}},
		{"two sources", dom("", formA(m1, "<source network='red'/>")), "encode", []string{"interface " + m1, "more than one <source>"}},
		{"bad virtualport", dom("", formA(m1, "<virtualport type='802.1Qbg'><parameters typeid='0x1000000'/></virtualport>")), "encode",
			[]string{"interface " + m1, "typeid"}},
		{"text in interface", dom("", formA(m1, "hello")), "encode", []string{"interface " + m1, "unexpected text 'hello'"}},
		{"actual in Form A", dom("", formA(m1, "<actual type='direct'/>")), "encode", []string{"interface " + m1, "<actual>"}},
		{"bad queues on encode", dom("", formA(m1, "<driver queues='0'/>")), "encode", []string{"interface " + m1, "queues='0'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error", what)
				}
				if apierr.KindOf(err) != apierr.InvalidXML {
					t.Errorf("%s: kind %q, want InvalidXML: %v", what, apierr.KindOf(err), err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("%s: message is not one line: %q", what, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q lacks %q", what, err, w)
					}
				}
			}
			_, _, err := Encode([]byte(tc.doc), allOurs)
			check("Encode", err)
			if tc.op == "inspect" {
				_, err = Inspect([]byte(tc.doc))
				check("Inspect", err)
				_, _, err = Decode([]byte(tc.doc))
				check("Decode", err)
				_, err = Status([]byte(tc.doc), nil)
				check("Status", err)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	doc := dom("",
		indent(specFormA, "    "),
		"<interface type='network'>\n      <source network='br-net'/>\n      <model type='virtio'/>\n      <driver queues='2'/>\n    </interface>",
		"<interface type='network'>\n      <mac address='52:54:00:00:00:07'/>\n      <source network='libvirt-net'/>\n    </interface>",
	)
	b := mustEncode(t, doc, oursOnly("red-network", "br-net"))
	in, err := Inspect([]byte(b))
	if err != nil || len(in.Ports) != 2 {
		t.Fatalf("Inspect: %+v %v", in, err)
	}
	brTarget := in.Ports[1].Target
	merged := &vport.VirtualPort{Type: "802.1Qbg", Params: &vport.Params{ManagerID: "11", TypeID: "33", TypeIDVersion: "2", InstanceID: "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}}
	actual := map[string]Actual{
		"vswdeadbeefcafe": {Type: "direct", Dev: "eth1", Mode: "vepa", VirtualPort: merged, SavedMAC: "aa:bb:cc:dd:ee:01"},
		brTarget:          {Type: "bridge", Bridge: "br0"},
	}
	st, err := Status([]byte(b), actual)
	if err != nil {
		t.Fatal(err)
	}
	s := string(st)
	wellFormed(t, s)
	// SPEC §4's shape for the direct interface.
	wantDirect := indent(`<interface type='network'>
  <source network='red-network' portgroup='engineering'/>
  <virtualport type='802.1Qbg'>
    <parameters instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
  </virtualport>
  <mac address='de:ad:be:ef:ca:fe'/>
  <target dev='vswdeadbeefcafe'/>
  <actual type='direct'>
    <source dev='eth1' mode='vepa'/>
    <virtualport type='802.1Qbg'>
      <parameters managerid='11' typeid='33' typeidversion='2' instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
    </virtualport>
    <virtswitch:saved xmlns:virtswitch='`+NS+`' mac='aa:bb:cc:dd:ee:01'/>
  </actual>
  <model type='virtio'/>
</interface>`, "    ")
	if !strings.Contains(s, wantDirect) {
		t.Errorf("status lacks\n%s\nin\n%s", wantDirect, s)
	}
	if !strings.Contains(s, "<target dev='"+brTarget+"'/>\n      <actual type='bridge'>\n        <source bridge='br0'/>\n      </actual>") {
		t.Errorf("bridge actual missing:\n%s", s)
	}
	if strings.Contains(s, "virtswitch:ports") || strings.Contains(s, "managed='no'") || strings.Contains(s, "<metadata>") {
		t.Errorf("status still has Form B:\n%s", s)
	}
	d, acts, err := ParseStatus(st)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, in) {
		t.Errorf("ParseStatus domain\n%+v\nwant\n%+v", d, in)
	}
	if !reflect.DeepEqual(acts, actual) {
		t.Errorf("ParseStatus actual\n%+v\nwant\n%+v", acts, actual)
	}
	// Decoding never shows <actual>.
	if dec := mustDecode(t, b); strings.Contains(dec, "<actual") || dec != doc {
		t.Errorf("Decode:\n%s", dec)
	}

	for _, bad := range []struct {
		name   string
		actual map[string]Actual
		want   string
	}{
		{"missing", map[string]Actual{"vswdeadbeefcafe": actual["vswdeadbeefcafe"]}, brTarget},
		{"extra", map[string]Actual{"vswdeadbeefcafe": actual["vswdeadbeefcafe"], brTarget: actual[brTarget], "vsw000000000001": {Type: "bridge", Bridge: "x"}}, "vsw000000000001"},
		{"bad type", map[string]Actual{"vswdeadbeefcafe": {Type: "hostdev"}, brTarget: actual[brTarget]}, "hostdev"},
		{"direct without mode", map[string]Actual{"vswdeadbeefcafe": {Type: "direct", Dev: "eth0"}, brTarget: actual[brTarget]}, "mode"},
		{"bad saved MAC", map[string]Actual{"vswdeadbeefcafe": {Type: "direct", Dev: "eth0", Mode: "passthrough", SavedMAC: "x"}, brTarget: actual[brTarget]}, "saved MAC 'x'"},
	} {
		if _, err := Status([]byte(b), bad.actual); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Status %s: %v, want an error naming %q", bad.name, err, bad.want)
		}
	}
}

// Only the changed interface's bytes and the metadata differ; the rest is
// byte-identical, including a document with a DOCTYPE, a processing
// instruction and comments.
func TestSurroundingBytesKept(t *testing.T) {
	doc := "<?xml version='1.0' encoding='UTF-8'?>\n<!-- top comment -->\n<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n  <name>g</name>\n  <!-- c1 -->\n  <devices>\n    <interface type='network'><source network='red'/><mac address='52:54:00:00:00:01'/></interface>\n    <disk type=\"file\"   device='disk'><source file='/a&amp;b'/></disk>\n  </devices>\n  <qemu:commandline><qemu:arg value='-x'/></qemu:commandline>\n</domain>\n<!-- trailing -->\n"
	b := mustEncode(t, doc, allOurs)
	for _, keep := range []string{"<?xml version='1.0' encoding='UTF-8'?>\n<!-- top comment -->\n", "<!-- c1 -->", `<disk type="file"   device='disk'><source file='/a&amp;b'/></disk>`, "<qemu:commandline><qemu:arg value='-x'/></qemu:commandline>\n</domain>\n<!-- trailing -->\n"} {
		if !strings.Contains(b, keep) {
			t.Errorf("lost %q", keep)
		}
	}
	if back := mustDecode(t, b); back != doc {
		t.Fatalf("round trip\n%s", back)
	}
	if !bytes.Equal([]byte(mustDecode(t, b)), []byte(doc)) {
		t.Fatal("bytes differ")
	}
}

// What an ethernet interface cannot carry is refused for virtswitch
// networks (Unsupported), and left alone on other networks.
func TestUnsupported(t *testing.T) {
	iface := func(inner string) string {
		return "<interface type='network'>\n      <source network='red'/>\n      <mac address='52:54:00:00:00:01'/>\n      " + inner + "\n    </interface>"
	}
	for _, tc := range []struct {
		inner string
		want  string // "" = accepted
	}{
		{"<vlan><tag id='42'/></vlan>", "<vlan>"},
		{"<port isolated='yes'/>", "<port isolated='yes'/>"},
		{"<port isolated='no'/>", ""},
		{"<bandwidth><inbound average='1000' floor='200'/></bandwidth>", "floor"},
		{"<bandwidth><inbound average='1000'/><outbound average='128'/></bandwidth>", ""},
	} {
		doc := dom("", iface(tc.inner))
		out, changed, err := Encode([]byte(doc), oursOnly("red"))
		if tc.want == "" {
			if err != nil || !changed {
				t.Errorf("%s: %v", tc.inner, err)
			} else if back := mustDecode(t, string(out)); back != doc {
				t.Errorf("%s: round trip\n%s", tc.inner, back)
			}
			continue
		}
		if apierr.KindOf(err) != apierr.Unsupported || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), "domain 'guest1'") || !strings.Contains(err.Error(), "interface 52:54:00:00:00:01") {
			t.Errorf("%s: got %v, want Unsupported naming %s", tc.inner, err, tc.want)
		}
		if out, changed, err := Encode([]byte(doc), oursOnly("blue")); err != nil || changed || string(out) != doc {
			t.Errorf("%s on a network not ours: changed=%v err=%v", tc.inner, changed, err)
		}
	}
}

// The package keeps no shared state: the daemon converts documents for
// several guests at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	doc := dom("", indent(specFormA, "    "), "<interface type='network'>\n      <source network='red-network'/>\n    </interface>")
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				var b, back []byte
				if b, _, err = Encode([]byte(doc), allOurs); err != nil {
					break
				}
				if back, _, err = Decode(b); err == nil && string(back) != doc {
					err = fmt.Errorf("round trip differs")
				}
				if err == nil {
					_, err = Inspect(b)
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if out, changed, err := Encode([]byte(doc), nil); err != nil || changed || string(out) != doc {
		t.Fatalf("nil ours: %v %v", changed, err)
	}
}

// An interface's own <bandwidth> travels through encode and decode
// unchanged (libvirt applies it to the device itself), is read into the
// Port, and the bandwidth in effect is written into <actual> and read back.
func TestBandwidth(t *testing.T) {
	own := "<bandwidth>\n        <inbound average='1000' peak='2000' burst='64'/>\n        <outbound average='500'/>\n      </bandwidth>"
	doc := dom("",
		"<interface type='network'>\n      <source network='red-network'/>\n      <mac address='52:54:00:00:00:01'/>\n      "+own+"\n      <model type='virtio'/>\n    </interface>",
		"<interface type='network'>\n      <source network='red-network'/>\n      <mac address='52:54:00:00:00:02'/>\n    </interface>",
	)
	b := mustEncode(t, doc, oursOnly("red-network"))
	if !strings.Contains(b, "<target dev='vsw525400000001' managed='no'/>\n      "+own+"\n") {
		t.Fatalf("own <bandwidth> not kept in the Form B interface:\n%s", b)
	}
	if dec := mustDecode(t, b); dec != doc {
		t.Fatalf("decode(encode) differs:\n%s\nwant\n%s", dec, doc)
	}
	in, err := Inspect([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	wantOwn := &bandwidth.Bandwidth{In: &bandwidth.Rate{Average: 1000, Peak: 2000, Burst: 64}, Out: &bandwidth.Rate{Average: 500}}
	if !bandwidth.Equal(in.Ports[0].Bandwidth, wantOwn) || in.Ports[1].Bandwidth != nil {
		t.Fatalf("Inspect bandwidth: %v / %v", in.Ports[0].Bandwidth, in.Ports[1].Bandwidth)
	}
	fromNet := &bandwidth.Bandwidth{Out: &bandwidth.Rate{Average: 8000}}
	actual := map[string]Actual{
		"vsw525400000001": {Type: "bridge", Bridge: "br0", Bandwidth: wantOwn},
		"vsw525400000002": {Type: "direct", Dev: "eth1", Mode: "vepa", Bandwidth: fromNet},
	}
	st, err := Status([]byte(b), actual)
	if err != nil {
		t.Fatal(err)
	}
	s := string(st)
	wellFormed(t, s)
	want := "<actual type='direct'>\n        <source dev='eth1' mode='vepa'/>\n        <bandwidth>\n          <outbound average='8000'/>\n        </bandwidth>\n      </actual>"
	if !strings.Contains(s, want) {
		t.Errorf("status lacks\n%s\nin\n%s", want, s)
	}
	d, acts, err := ParseStatus(st)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, in) {
		t.Errorf("ParseStatus domain\n%+v\nwant\n%+v", d, in)
	}
	if !reflect.DeepEqual(acts, actual) {
		t.Errorf("ParseStatus actual\n%+v\nwant\n%+v", acts, actual)
	}

	// A malformed own <bandwidth> in Form B names the domain and interface.
	bad := strings.Replace(b, "average='500'", "average='0'", 1)
	if _, err := Inspect([]byte(bad)); err == nil || apierr.KindOf(err) != apierr.InvalidXML ||
		!strings.Contains(err.Error(), "interface 52:54:00:00:00:01: average='0' in <outbound> is out of range") {
		t.Errorf("bad own bandwidth: %v", err)
	}
}
