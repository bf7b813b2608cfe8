package statedir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/atomicfile"
)

func TestValidUUID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"c7a5fdbd-edaf-9455-926a-d65c16db1809", true},
		{"C7A5FDBD-EDAF-9455-926A-D65C16DB1809", true},
		{"c7a5fdbdedaf9455926ad65c16db1809", true},
		{"", false},
		{"../../etc/x", false},
		{"c7a5fdbd-edaf-9455-926a-d65c16db180", false},
		{"c7a5fdbd-edaf-9455-926a-d65c16db18090", false},
		{"c7a5fdbd/edaf-9455-926a-d65c16db1809", false},
		{"c7a5fdbd-edaf-9455-926a-d65c16db180g", false},
		{"c7a5fdbdedaf9455926ad65c16db180/", false},
		{"c7a5fdbd-edaf-9455-926a-d65c16db1809\n", false},
		{"-c7a5fdb-edaf-9455-926a-d65c16db1809", false},
	} {
		if got := ValidUUID(tc.in); got != tc.want {
			t.Errorf("ValidUUID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	got, err := Canonical("C7A5FDBDEDAF9455926AD65C16DB1809")
	if err != nil || got != "c7a5fdbd-edaf-9455-926a-d65c16db1809" {
		t.Fatalf("Canonical = %q, %v", got, err)
	}
	_, err = Canonical("../../etc/x")
	if apierr.KindOf(err) != apierr.InvalidXML {
		t.Fatalf("Canonical(bad) error %v has kind %q", err, apierr.KindOf(err))
	}
}

const u1 = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
const u2 = "00000000-0000-0000-0000-000000000002"

func TestWriteReadListRemove(t *testing.T) {
	root := t.TempDir()
	d, err := Open(filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.Path())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("domains dir mode %v, %v", fi.Mode(), err)
	}
	if err := d.Write(u1, []byte("one")); err != nil {
		t.Fatal(err)
	}
	// Upper-case spelling of a UUID names the same file.
	if err := d.Write("00000000000000000000000000000002", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(u1, []byte("one again")); err != nil {
		t.Fatal(err)
	}
	b, err := d.Read(u1)
	if err != nil || string(b) != "one again" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	fi, err = os.Stat(filepath.Join(d.Path(), u1+".xml"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v", fi.Mode(), err)
	}
	// Foreign files are neither listed nor touched.
	os.WriteFile(filepath.Join(d.Path(), "README"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(d.Path(), "C7A5FDBD-EDAF-9455-926A-D65C16DB1809.xml"), []byte("x"), 0o600)
	l, err := d.List()
	if err != nil || !reflect.DeepEqual(l, []string{u2, u1}) {
		t.Fatalf("List = %v, %v", l, err)
	}
	if err := d.Remove(u1); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(u1); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if _, err := d.Read(u1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read after Remove: %v", err)
	}
	l, _ = d.List()
	if !reflect.DeepEqual(l, []string{u2}) {
		t.Fatalf("List after Remove = %v", l)
	}
	ents, _ := os.ReadDir(d.Path())
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestBadUUIDTouchesNothing(t *testing.T) {
	root := t.TempDir()
	d, err := Open(filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(root, "x.xml")
	os.WriteFile(victim, []byte("keep"), 0o644)
	for _, bad := range []string{"../../x", "../x", "", "/etc/passwd", u1 + "/../../x"} {
		if err := d.Write(bad, []byte("evil")); apierr.KindOf(err) != apierr.InvalidXML {
			t.Errorf("Write(%q) = %v", bad, err)
		}
		if _, err := d.Read(bad); apierr.KindOf(err) != apierr.InvalidXML {
			t.Errorf("Read(%q) = %v", bad, err)
		}
		if err := d.Remove(bad); apierr.KindOf(err) != apierr.InvalidXML {
			t.Errorf("Remove(%q) = %v", bad, err)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("file outside the state dir changed: %q", b)
	}
	ents, _ := os.ReadDir(d.Path())
	if len(ents) != 0 {
		t.Fatalf("state dir not empty: %v", ents)
	}
}

func TestOpenRemovesTempFilesAndTightensMode(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "domains")
	os.MkdirAll(p, 0o755)
	os.WriteFile(filepath.Join(p, "."+u1+".xml.tmp-123"), []byte("torn"), 0o600)
	os.WriteFile(filepath.Join(p, u1+".xml"), []byte("whole"), 0o600)
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(d.Path())
	if len(ents) != 1 || ents[0].Name() != u1+".xml" {
		t.Fatalf("after Open: %v", ents)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v", fi.Mode())
	}
}

func TestConcurrentWritersDifferentDomains(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	uuids := make([]string, 32)
	for i := range uuids {
		uuids[i] = "00000000-0000-0000-0000-0000000000" + string("0123456789abcdef"[i/16]) + string("0123456789abcdef"[i%16])
		wg.Add(1)
		go func(u string) {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if err := d.Write(u, []byte(u)); err != nil {
					t.Error(err)
				}
			}
		}(uuids[i])
	}
	wg.Wait()
	l, _ := d.List()
	if !reflect.DeepEqual(l, uuids) {
		t.Fatalf("List = %v", l)
	}
	for _, u := range uuids {
		if b, _ := d.Read(u); string(b) != u {
			t.Errorf("%s holds %q", u, b)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	d, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 4096)
	for b.Loop() {
		if err := d.Write(u1, data); err != nil {
			b.Fatal(err)
		}
	}
}

// Whatever a caller sends, an accepted UUID canonicalises to a plain file
// name of the hyphenated form, the same one for every accepted spelling.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{u1, "C7A5FDBDEDAF9455926AD65C16DB1809", "../../etc/x", "", "/", u1 + "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Canonical(s)
		if err != nil {
			if ValidUUID(s) {
				t.Fatalf("ValidUUID(%q) but Canonical fails: %v", s, err)
			}
			return
		}
		if !ValidUUID(s) || len(c) != 36 || filepath.Base(c) != c || strings.ContainsAny(c, "/.\x00 ABCDEF") {
			t.Fatalf("Canonical(%q) = %q", s, c)
		}
		if again, err := Canonical(c); err != nil || again != c {
			t.Fatalf("Canonical not idempotent: %q -> %q, %v", c, again, err)
		}
		if c2, _ := Canonical(strings.ToUpper(s)); c2 != c {
			t.Fatalf("case changes the file: %q vs %q", c, c2)
		}
	})
}

func TestHas(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const u = "11111111-2222-3333-4444-555555555555"
	if d.Has(u) {
		t.Fatal("Has before Write")
	}
	if err := d.Write(u, []byte("<domain/>")); err != nil {
		t.Fatal(err)
	}
	if !d.Has(strings.ToUpper(u)) {
		t.Error("Has after Write (upper-case UUID) = false")
	}
	if d.Has("../" + u) {
		t.Error("Has of a bad UUID = true")
	}
	if err := d.Remove(u); err != nil {
		t.Fatal(err)
	}
	if d.Has(u) {
		t.Error("Has after Remove = true")
	}
}
