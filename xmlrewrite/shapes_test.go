package xmlrewrite

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// TestGeneratedShapes builds thousands of interface and metadata layouts
// (element order, quoting, self-closing or not, whitespace styles, comments,
// missing MAC, an existing target, other metadata, partial Form B) from a
// fixed seed and checks the round trip and what Inspect reads for each.
// Byte-level fuzzing rarely reaches such structural variety.
func TestGeneratedShapes(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	pick := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	seen := map[string]int{}
	defer func() {
		// The generator must reach every kind of bookkeeping.
		for _, k := range []string{"none", "restore source=", "element=", "fragment at=", "mac=" + "'generated'", "original="} {
			if seen[k] == 0 {
				t.Errorf("no generated case needed %q (%v)", k, seen)
			}
		}
	}()
	for n := 0; n < 3000; n++ {
		nl := pick("\n", "\r\n", "")
		ind := pick("  ", "\t", " ")
		if nl == "" {
			ind = ""
		}
		q := pick("'", `"`)
		at := func(k, v string) string { return " " + k + "=" + q + v + q }
		end := func(name string) string {
			if rng.Intn(2) == 0 {
				return "/>"
			}
			return "></" + name + ">"
		}
		lvl := func(k int) string { return nl + strings.Repeat(ind, k) }
		var wantPorts []Port
		var ifaces []string
		macs := 0
		for i := 0; i < 1+rng.Intn(3); i++ {
			network := pick("red", "blue", "libvirt-net")
			pg := pick("", "eng")
			var parts []string
			src := "<source" + at("network", network)
			if pg != "" {
				src += at("portgroup", pg)
			}
			if rng.Intn(4) == 0 {
				src += at("portid", "873be5a0-6b8a-4a0b-a1df-ef3659cd64bc")
			}
			parts = append(parts, src+end("source"))
			mac := ""
			if rng.Intn(4) != 0 {
				macs++
				mac = fmt.Sprintf("52:54:00:00:00:%02x", macs)
				parts = append(parts, "<mac"+at("address", mac)+end("mac"))
			}
			if rng.Intn(3) == 0 {
				parts = append(parts, "<virtualport"+at("type", "802.1Qbh")+">"+lvl(4)+"<parameters"+at("profileid", "p"+fmt.Sprint(i))+end("parameters")+lvl(3)+"</virtualport>")
			}
			if rng.Intn(4) == 0 {
				parts = append(parts, "<target"+at("dev", fmt.Sprintf("vnet%d", i))+end("target"))
			}
			if rng.Intn(2) == 0 {
				parts = append(parts, "<model"+at("type", "virtio")+end("model"))
			}
			if rng.Intn(4) == 0 {
				parts = append(parts, "<!-- nic "+fmt.Sprint(i)+" -->")
			}
			rng.Shuffle(len(parts), func(a, b int) { parts[a], parts[b] = parts[b], parts[a] })
			s := "<interface" + at("type", "network") + ">"
			for _, p := range parts {
				s += lvl(3) + p
			}
			ifaces = append(ifaces, s+lvl(2)+"</interface>")
			if network != "libvirt-net" {
				wantPorts = append(wantPorts, Port{Network: network, Portgroup: pg, MAC: mac})
			}
		}
		meta := pick("", "<metadata/>", "<metadata>"+lvl(1)+"</metadata>",
			"<metadata>"+lvl(2)+"<app:x xmlns:app="+q+"http://app/"+q+"/>"+lvl(1)+"</metadata>",
			"<metadata><!-- keep --></metadata>")
		doc := "<domain" + at("type", "kvm") + ">" + lvl(1) + "<name>g" + fmt.Sprint(n) + "</name>"
		if meta != "" {
			doc += lvl(1) + meta
		}
		doc += lvl(1) + "<devices>"
		for _, s := range ifaces {
			doc += lvl(2) + s
		}
		doc += lvl(1) + "</devices>" + nl + "</domain>" + nl

		ours := oursOnly("red", "blue")
		enc, changed, err := Encode([]byte(doc), ours)
		if err != nil {
			t.Fatalf("case %d: Encode: %v\n%s", n, err, doc)
		}
		if changed != (len(wantPorts) > 0) {
			t.Fatalf("case %d: changed=%v", n, changed)
		}
		if changed {
			found := false
			for _, k := range []string{"restore source=", "element=", "fragment at=", "mac='generated'", "original="} {
				if strings.Contains(string(enc), k) {
					seen[k]++
					found = true
				}
			}
			if !found {
				seen["none"]++
			}
		}
		dec, _, err := Decode(enc)
		if err != nil || string(dec) != doc {
			t.Fatalf("case %d: round trip (%v)\ninput:\n%q\nForm B:\n%s\ndecoded:\n%q", n, err, doc, enc, dec)
		}
		d, err := Inspect(enc)
		if err != nil || len(d.Ports) != len(wantPorts) {
			t.Fatalf("case %d: Inspect: %v %+v", n, err, d)
		}
		for i, p := range d.Ports {
			w := wantPorts[i]
			if p.Network != w.Network || p.Portgroup != w.Portgroup || (w.MAC != "" && p.MAC != w.MAC) {
				t.Fatalf("case %d: port %d = %+v, want %+v", n, i, p, w)
			}
		}
		if changed {
			// Adding one more interface to the Form B document and encoding
			// again: Decode gives the input plus that interface in Form A.
			extra := "<interface" + at("type", "network") + "><source" + at("network", "blue") + "/><mac" + at("address", "52:54:00:00:01:00") + "/></interface>"
			enc2 := strings.Replace(string(enc), "</devices>", extra+"</devices>", 1)
			doc2 := strings.Replace(doc, "</devices>", extra+"</devices>", 1)
			b2, _, err := Encode([]byte(enc2), ours)
			if err != nil {
				t.Fatalf("case %d: second Encode: %v", n, err)
			}
			if back, _, err := Decode(b2); err != nil || string(back) != doc2 {
				t.Fatalf("case %d: partial round trip (%v)\n%q\nwant\n%q", n, err, back, doc2)
			}
		}
	}
}
