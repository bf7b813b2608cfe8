package netdef

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
)

func mustParse(t *testing.T, xml string) *Network {
	t.Helper()
	n, err := Parse([]byte(xml))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStoreSaveLoadRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "networks") // Save creates it
	s := Store{Dir: dir}
	if nets, errs := s.Load(); nets != nil || errs != nil {
		t.Fatalf("missing dir: %v %v", nets, errs)
	}
	if s.Has("red") {
		t.Fatal("Has before Save")
	}

	red := mustParse(t, strings.Replace(poolNet("vepa", ""), "net1", "red", 1))
	if err := s.Save(red); err != nil {
		t.Fatal(err)
	}
	if red.UUID == "" {
		t.Fatal("Save did not assign a UUID")
	}
	info, err := os.Stat(filepath.Join(dir, "red.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode().Perm())
	}
	data, _ := os.ReadFile(filepath.Join(dir, "red.xml"))
	if string(data) != red.Format(nil) {
		t.Errorf("file content:\n%s\nwant config view:\n%s", data, red.Format(nil))
	}
	if !s.Has("red") || s.Has("blue") || s.Has("../networks/red") || s.Has("") {
		t.Error("Has wrong")
	}

	// Redefinition without a UUID keeps the saved one.
	uuid := red.UUID
	red2 := mustParse(t, strings.Replace(poolNet("passthrough", ""), "net1", "red", 1))
	if err := s.Save(red2); err != nil {
		t.Fatal(err)
	}
	if red2.UUID != uuid {
		t.Errorf("redefinition UUID %s, want kept %s", red2.UUID, uuid)
	}
	// A UUID given in the XML is written as given.
	blue := mustParse(t, strings.Replace(hostBridge("<uuid>81ff0d90-c91e-6742-64da-4a736edb9a8e</uuid>"), "net1", "blue", 1))
	if err := s.Save(blue); err != nil {
		t.Fatal(err)
	}
	if blue.UUID != "81ff0d90-c91e-6742-64da-4a736edb9a8e" {
		t.Errorf("UUID changed to %s", blue.UUID)
	}

	nets, errs := s.Load()
	if len(errs) != 0 {
		t.Fatalf("Load errors: %v", errs)
	}
	if len(nets) != 2 || nets[0].Name != "blue" || nets[1].Name != "red" {
		t.Fatalf("Load: %+v", nets)
	}
	if !reflect.DeepEqual(nets[1], red2) || !reflect.DeepEqual(nets[0], blue) {
		t.Errorf("loaded networks differ from saved:\n%+v\n%+v", nets[1], red2)
	}

	if err := s.Remove("red"); err != nil {
		t.Fatal(err)
	}
	if s.Has("red") {
		t.Error("Has after Remove")
	}
	if err := s.Remove("red"); err != nil {
		t.Errorf("Remove of a gone network: %v", err)
	}
	if err := s.Remove("../etc"); apierr.KindOf(err) != apierr.InvalidXML {
		t.Errorf("Remove with a bad name: %v", err)
	}
	if err := s.Save(&Network{Name: "../x", Mode: ModeBridge, Bridge: "br0"}); apierr.KindOf(err) != apierr.InvalidXML {
		t.Errorf("Save with a bad name: %v", err)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover file %s", e.Name())
		}
	}
}

func TestStoreLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.xml", strings.Replace(hostBridge(""), "net1", "good", 1))
	write("misnamed.xml", strings.Replace(hostBridge(""), "net1", "other", 1))
	write("bad.xml", strings.Replace(poolNet("vepa", "<ip address='10.0.0.1'/>"), "net1", "bad", 1))
	write("libvirt.xml", "<network><name>libvirt</name><forward mode='nat'/></network>")
	write("broken.xml", "<network><name>broken")
	write(".good.xml.tmp-123", "half-written")
	write("README", "not a network")
	if err := os.Mkdir(filepath.Join(dir, "dir.xml"), 0o755); err != nil {
		t.Fatal(err)
	}

	nets, errs := Store{Dir: dir}.Load()
	if len(nets) != 1 || nets[0].Name != "good" {
		t.Errorf("loaded %+v, want only 'good'", nets)
	}
	want := []struct {
		file string
		kind apierr.Kind
		text string
	}{
		{"bad.xml", apierr.InvalidXML, "network 'bad': <ip>"},
		{"broken.xml", apierr.InvalidXML, "network"},
		{"libvirt.xml", apierr.Unsupported, "network 'libvirt'"},
		{"misnamed.xml", apierr.InvalidXML, "network 'other'"},
	}
	if len(errs) != len(want) {
		t.Fatalf("errors %v, want %d", errs, len(want))
	}
	for i, w := range want {
		msg := errs[i].Error()
		if apierr.KindOf(errs[i]) != w.kind || !strings.Contains(msg, filepath.Join(dir, w.file)) || !strings.Contains(msg, w.text) {
			t.Errorf("error %d: %s %q, want %s naming %s and %q", i, apierr.KindOf(errs[i]), msg, w.kind, w.file, w.text)
		}
	}
}

// Concurrent saves of the same and of different networks never leave a
// partial file: every file on disk always parses.
func TestStoreConcurrentSave(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				name := fmt.Sprintf("n%d", i%3)
				n := mustParseNoT(strings.Replace(forwardNet(fmt.Sprintf("<forward mode='vepa' dev='eth%d'/>", g), ""), "net1", name, 1))
				if err := s.Save(n); err != nil {
					t.Error(err)
					return
				}
				if _, errs := s.Load(); len(errs) != 0 {
					t.Error(errs)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	nets, errs := s.Load()
	if len(nets) != 3 || len(errs) != 0 {
		t.Errorf("nets %d errs %v", len(nets), errs)
	}
}

func mustParseNoT(xml string) *Network {
	n, err := Parse([]byte(xml))
	if err != nil {
		panic(err)
	}
	return n
}
