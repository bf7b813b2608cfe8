package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWithModeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "red.xml")
	for i, content := range []string{"first", "second, longer"} {
		mode := []os.FileMode{0o600, 0o644}[i]
		if err := Write(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("content %q, %v; want %q", got, err, content)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != mode {
			t.Fatalf("mode %v, want %v", fi.Mode().Perm(), mode)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only red.xml", len(ents))
	}
}

func TestFailedWriteKeepsOldFileAndRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "red.xml")
	if err := Write(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Renaming a file over a directory fails after the temp file is written.
	blocker := filepath.Join(dir, "blocker")
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocker, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(blocker, []byte("new"), 0o644); err == nil {
		t.Fatal("Write over a non-empty directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if IsTemp(e.Name()) {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("untouched file now %q", got)
	}
	if err := Write(filepath.Join(dir, "missing", "x.xml"), []byte("x"), 0o644); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
}
