package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Missing reports that something a test needs is not on this machine. On a
// developer's machine the test is skipped; under CI (CI=true) it fails, since
// .ci/run installs everything and a skip there would hide a missing step.
func Missing(t testing.TB, format string, a ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required under CI: "+format, a...)
	}
	t.Skipf(format, a...)
}

// Tool returns the path of an external program the test needs (see Missing).
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not installed (Debian package %s)", name, debianPackage)
	}
	return p
}

// CorpusDir returns the shared libvirt test corpus (../shared/corpus beside
// the repository, or $VIRTSWITCH_CORPUS), with sub appended (see Missing).
func CorpusDir(t testing.TB, sub string) string {
	t.Helper()
	dir := os.Getenv("VIRTSWITCH_CORPUS")
	if dir == "" {
		root, err := ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "corpus")
	}
	dir = filepath.Join(dir, sub)
	if _, err := os.Stat(dir); err != nil {
		Missing(t, "corpus not found at %s (set VIRTSWITCH_CORPUS): %v", dir, err)
	}
	return dir
}
