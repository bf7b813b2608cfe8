package netname

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{"red-network", true},
		{"a", true},
		{"0", true},
		{"A.b_c+d-e", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{".hidden", false},
		{"-dash", false},
		{"_under", false},
		{"+plus", false},
		{"a/b", false},
		{"..", false},
		{"a b", false},
		{"a:b", false},
		{"née", false},
		{"a\x00", false},
	} {
		if got := Valid(c.name); got != c.want {
			t.Errorf("Valid(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDefined(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "red.xml"), []byte("<network/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.xml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("red.xml", filepath.Join(dir, "link.xml")); err != nil {
		t.Fatal(err)
	}
	// A file outside dir that a bad name could reach.
	outside := filepath.Join(filepath.Dir(dir), "outside.xml")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(outside)
	for _, c := range []struct {
		name string
		want bool
	}{
		{"red", true},
		{"link", true},        // symlink to a regular file
		{"dir", false},        // not a regular file
		{"blue", false},       // missing
		{"../outside", false}, // invalid name: never looked up
	} {
		if got := Defined(dir, c.name); got != c.want {
			t.Errorf("Defined(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzValid checks Valid against SPEC §1's rule written as a regular
// expression (what netdef used before the rule moved here).
func FuzzValid(f *testing.F) {
	spec := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)
	for _, s := range []string{"red-network", "", ".x", "a/b", strings.Repeat("y", 64), strings.Repeat("y", 65), "a\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := Valid(name), spec.MatchString(name); got != want {
			t.Fatalf("Valid(%q) = %v, SPEC's expression says %v", name, got, want)
		}
	})
}
