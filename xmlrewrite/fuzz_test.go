package xmlrewrite

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
)

// fuzzSeeds are the corpus files and their Form B encodings, plus the
// shapes the unit tests use.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, file := range corpusFiles(f) {
		x, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, x)
		if enc, changed, err := Encode(x, allOurs); err == nil && changed {
			seeds = append(seeds, enc)
		}
	}
	spec := dom("", indent(specFormA, "    "))
	seeds = append(seeds, []byte(spec),
		[]byte("<domain><name>g</name><devices><interface type='network'><source network='n'/></interface></devices></domain>"),
		[]byte(dom("<metadata/>", "<interface type='network'>\n      <mac address='52:54:00:e5:48:58'/>\n      <source network='red'/>\n      <target dev='vnet0'/>\n    </interface>")))
	if enc, _, err := Encode([]byte(spec), allOurs); err == nil {
		seeds = append(seeds, enc)
	}
	return seeds
}

// fuzzOurs picks a deterministic set of networks from sel.
func fuzzOurs(sel byte) func(string) bool {
	return func(n string) bool {
		if sel&1 == 1 {
			return true
		}
		return len(n)%2 == int(sel>>1&1)
	}
}

func checkErr(t *testing.T, what string, err error) {
	t.Helper()
	k := apierr.KindOf(err)
	if k != apierr.InvalidXML && k != apierr.Unsupported || strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s: error is not a one-line InvalidXML/Unsupported: %q (%q)", what, err, k)
	}
}

// Encode never panics; whenever it succeeds, Decode gives back the input
// (or, if the input already had Form B, what decoding the input gives).
func FuzzEncodeDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, byte(1))
		f.Add(s, byte(2))
	}
	f.Fuzz(func(t *testing.T, doc []byte, sel byte) {
		ours := fuzzOurs(sel)
		enc, changed, err := Encode(doc, ours)
		if err != nil {
			checkErr(t, "Encode", err)
			return
		}
		if !changed {
			if !bytes.Equal(enc, doc) {
				t.Fatal("unchanged Encode returned different bytes")
			}
			return
		}
		before, err := Inspect(doc)
		if err != nil {
			t.Fatalf("Encode accepted what Inspect rejects: %v", err)
		}
		after, err := Inspect(enc)
		if err != nil {
			t.Fatalf("Inspect(Encode(x)): %v\n%s", err, enc)
		}
		if len(after.Ports) <= len(before.Ports) {
			t.Fatalf("changed, but %d ports before and %d after", len(before.Ports), len(after.Ports))
		}
		dec, dchanged, err := Decode(enc)
		if err != nil || !dchanged {
			t.Fatalf("Decode(Encode(x)): %v changed=%v\n%s", err, dchanged, enc)
		}
		want := doc
		if len(before.Ports) > 0 {
			want, _, err = Decode(doc)
			if err != nil {
				t.Fatalf("Decode(x): %v", err)
			}
		}
		if !bytes.Equal(dec, want) {
			t.Fatalf("round trip differs\ninput:\n%q\nencoded:\n%q\ndecoded:\n%q", doc, enc, dec)
		}
		again, changed, err := Encode(enc, ours)
		if err != nil || changed || !bytes.Equal(again, enc) {
			t.Fatalf("Encode(Encode(x)) changed=%v err=%v", changed, err)
		}
	})
}

// Decode never panics; its output has no Form B left; Status/ParseStatus
// agree with Inspect.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, changed, err := Decode(doc)
		if err != nil {
			checkErr(t, "Decode", err)
			return
		}
		if !changed && !bytes.Equal(out, doc) {
			t.Fatal("unchanged Decode returned different bytes")
		}
		if again, ch, err := Decode(out); err != nil || ch || !bytes.Equal(again, out) {
			t.Fatalf("Decode(Decode(x)) changed=%v err=%v\n%q", ch, err, out)
		}
		in, err := Inspect(doc)
		if err != nil {
			t.Fatalf("Decode accepted what Inspect rejects: %v", err)
		}
		if bytes.Contains(doc, []byte("actual")) {
			return // a Form A <actual> would read back as a port
		}
		act := map[string]Actual{}
		for _, p := range in.Ports {
			act[p.Target] = Actual{Type: "direct", Dev: "eth0", Mode: "vepa", VirtualPort: p.VirtualPort.Clone(), SavedMAC: "52:54:00:00:00:01"}
		}
		st, err := Status(doc, act)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		sd, sa, err := ParseStatus(st)
		if err != nil {
			t.Fatalf("ParseStatus(Status(x)): %v\n%q", err, st)
		}
		if len(in.Ports) == 0 {
			in.Ports = nil
		}
		if !reflect.DeepEqual(sd.Ports, in.Ports) || !reflect.DeepEqual(sa, act) {
			t.Fatalf("ParseStatus(Status(x)) differs:\n%+v\n%+v\nwant\n%+v\n%+v\n%q", sd.Ports, sa, in.Ports, act, st)
		}
	})
}
