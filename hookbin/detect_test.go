package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/virtswitch/virtswitch/testenv"
)

const formB = `<domain type='qemu'>
  <name>g1</name>
  <uuid>6d1c4a8e-2b0f-4a59-9d53-0c4f3c0de001</uuid>
  <metadata>
    <virtswitch:ports xmlns:virtswitch='http://virtswitch.github.io/xmlns/domain/1.0'>
      <virtswitch:port target='vswdeadbeefcafe' network='red-network' portgroup='engineering'/>
    </virtswitch:ports>
  </metadata>
  <devices>
    <interface type='ethernet'>
      <mac address='de:ad:be:ef:ca:fe'/>
      <target dev='vswdeadbeefcafe' managed='no'/>
    </interface>
  </devices>
</domain>`

const formA = `<domain type='qemu'>
  <name>g2</name>
  <uuid>6d1c4a8e-2b0f-4a59-9d53-0c4f3c0de002</uuid>
  <devices>
    <interface type='network'>
      <source network='red-network' portgroup='engineering'/>
      <mac address='de:ad:be:ef:ca:fe'/>
    </interface>
    <interface type='network'>
      <source network='default'/>
    </interface>
  </devices>
</domain>`

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want facts
	}{
		{"form B", formB, facts{UUID: "6d1c4a8e-2b0f-4a59-9d53-0c4f3c0de001", Ports: true}},
		{"form A", formA, facts{UUID: "6d1c4a8e-2b0f-4a59-9d53-0c4f3c0de002",
			FormA: []formAIface{{"de:ad:be:ef:ca:fe", "red-network"}, {"", "default"}}}},
		{"no interfaces: fast path, nothing read", `<domain><uuid>u</uuid><devices/></domain>`, facts{}},
		{"bridge interface", `<domain><uuid>u</uuid><devices><interface type='bridge'><source bridge='network'/></interface></devices></domain>`,
			facts{UUID: "u"}},
		{"network interface without source network", `<domain><uuid>u</uuid><devices><interface type='network'><source/></interface></devices></domain>`,
			facts{UUID: "u"}},
		{"ports in another namespace", `<domain><uuid>u</uuid><metadata><x:ports xmlns:x='http://example.org/network'><x:port/></x:ports></metadata></domain>`,
			facts{UUID: "u"}},
		{"our port outside metadata", `<domain xmlns:v='` + NS + `'><uuid>u</uuid><devices><v:ports><v:port/></v:ports></devices></domain>`,
			facts{UUID: "u"}},
		{"default namespace form", `<domain><uuid> u </uuid><metadata><ports xmlns='` + NS + `'><port target='vsw000000000001'/></ports></metadata></domain>`,
			facts{UUID: "u", Ports: true}},
		{"source outside interface", `<domain><uuid>u</uuid><devices><disk type='network'><source network='red'/></disk></devices></domain>`,
			facts{UUID: "u"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scan([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("scan = %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestScanMalformed(t *testing.T) {
	for _, doc := range []string{
		`<domain><devices><interface type='network'>`,
		`<domain><metadata><v:port xmlns:v='` + NS + `'></metadata></domain>`,
	} {
		if _, err := scan([]byte(doc)); err == nil || !strings.Contains(err.Error(), "cannot read the domain XML") {
			t.Errorf("scan(%q) error = %v", doc, err)
		}
	}
}

// TestScanCorpus checks scan against libvirtxml's reading of libvirt's own
// test domains: the same Form A interfaces, in order, and no false ports.
func TestScanCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.CorpusDir(t, "libvirt-domain"), "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	withNetwork := 0
	for _, file := range files {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var dom libvirtxml.Domain
		if err := dom.Unmarshal(string(doc)); err != nil {
			t.Fatalf("%s: libvirtxml: %v", file, err)
		}
		var want []formAIface
		if dom.Devices != nil {
			for _, i := range dom.Devices.Interfaces {
				if i.Source != nil && i.Source.Network != nil && i.Source.Network.Network != "" {
					mac := ""
					if i.MAC != nil {
						mac = i.MAC.Address
					}
					want = append(want, formAIface{mac, i.Source.Network.Network})
				}
			}
		}
		got, err := scan(doc)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if got.Ports {
			t.Errorf("%s: found virtswitch ports", file)
		}
		if !reflect.DeepEqual(got.FormA, want) {
			t.Errorf("%s: Form A = %v, libvirtxml says %v", file, got.FormA, want)
		}
		if len(want) > 0 {
			withNetwork++
			if got.UUID != dom.UUID {
				t.Errorf("%s: UUID %q, want %q", file, got.UUID, dom.UUID)
			}
		}
	}
	if withNetwork == 0 {
		t.Error("corpus has no domain with a network interface: the comparison checked nothing")
	}
}

func TestOurs(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"red-network.xml", "a.b.xml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("<network/>"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "adir.xml"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A file outside the config dir that a crafted name could reach.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "escape.xml"), nil, 0o644); err == nil {
		defer os.Remove(filepath.Join(filepath.Dir(dir), "escape.xml"))
	}
	for name, want := range map[string]bool{
		"red-network": true,
		"a.b":         true,
		"blue":        false,
		"":            false,
		"adir":        false,
		"../escape":   false,
		"../" + filepath.Base(dir) + "/red-network": false,
		"red-network\x00": false,
	} {
		if got := ours(dir, name); got != want {
			t.Errorf("ours(%q) = %v, want %v", name, got, want)
		}
	}
}
