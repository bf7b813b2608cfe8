package vswitch

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/plumb"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// FuzzDomainEntryPoints feeds arbitrary domain XML to the entry points the
// hook reaches over D-Bus with a document (PrepareDomain, ReconnectDomain,
// RewriteIncoming) and the UUID-taking GetDomainStatus, on a Switch whose
// networks name devices and a bridge that do not exist in its (empty)
// namespace: every prepare must fail before or at the plumbing, so each
// input is a bad-input test. After every call: an error carries a kind and
// is one line; nothing is counted; no state file and no link exist; a
// rewrite that succeeds is stable (rewriting its output changes nothing).
func FuzzDomainEntryPoints(f *testing.F) {
	testenv.RequireRoot(f)
	ns := testenv.NewNetNS(f)
	p, err := plumb.New(ns.Path)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	root := f.TempDir()
	stateDir := filepath.Join(root, "state")
	libvirt := filepath.Join(root, "libvirt")
	os.MkdirAll(libvirt, 0o755)
	sw, err := Open(Config{
		ConfigDir: filepath.Join(root, "networks"), StateDir: stateDir, LibvirtStateDir: libvirt,
		DrainFile: filepath.Join(root, "drained"), Plumber: p, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []string{testenv.SeedVEPA, testenv.SeedPassthrough, testenv.SeedBridge} {
		if _, err := sw.Define([]byte(n)); err != nil {
			f.Fatal(err)
		}
	}
	lo := ns.Snapshot(f)

	// Seeds: the seed guests in both forms, and the libvirt corpus (as
	// is, and encoded with its networks renamed to ours).
	fix := &fixture{sw: sw}
	for _, g := range []*guest{
		newGuestTB(f, fix, "vm1", "11111111-1111-1111-1111-111111111111",
			testenv.FormAInterface("red-vepa", "engineering", "de:ad:be:ef:ca:fe", instanceID),
			testenv.FormAInterface("red-pass", "", "52:54:00:00:01:01", "")),
		newGuestTB(f, fix, "vm3", "33333333-3333-3333-3333-333333333333",
			testenv.FormAInterface("red-bridge", "", "52:54:00:00:03:01", ""),
			testenv.FormAInterface("red-vepa", "", "52:54:00:00:03:02", "")),
	} {
		f.Add(g.formB)
		f.Add([]byte(g.formA))
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir(), "libvirt-domain", "*.xml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		f.Add(b)
		if enc, changed, err := xmlrewrite.Encode(b, func(string) bool { return true }); err == nil && changed {
			f.Add(enc)
		}
	}

	f.Fuzz(func(t *testing.T, doc []byte) {
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			if apierr.KindOf(err) == "" || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%s: error without a kind or on several lines: %q", what, err)
			}
		}
		if _, err := sw.Prepare(doc); err == nil {
			t.Fatalf("Prepare succeeded with no device in the namespace:\n%q", doc)
		} else {
			check("Prepare", err)
		}
		if _, err := sw.Reconnect(doc); err == nil {
			t.Fatalf("Reconnect succeeded with no device in the namespace:\n%q", doc)
		} else {
			check("Reconnect", err)
		}
		out, err := sw.RewriteIncoming(doc)
		check("RewriteIncoming", err)
		if err == nil && out != nil {
			again, err := sw.RewriteIncoming(out)
			if err != nil || again != nil {
				t.Fatalf("RewriteIncoming of its own output: changed=%v err=%v\n%q", again != nil, err, out)
			}
		}
		if _, err := sw.DomainStatus(string(doc)); err == nil {
			t.Fatalf("DomainStatus(%q) found a state file", doc)
		} else {
			check("DomainStatus", err)
		}
		for _, n := range sw.Networks() {
			if n.Connections != 0 {
				t.Fatalf("network %s has %d connections after failed calls", n.Name, n.Connections)
			}
		}
		if ents, _ := os.ReadDir(filepath.Join(stateDir, "domains")); len(ents) != 0 {
			t.Fatalf("state dir holds %d file(s) after failed calls", len(ents))
		}
		if d := testenv.Diff(lo, ns.Snapshot(t)); d != "" {
			t.Fatalf("links changed:\n%s", d)
		}
	})
}

// corpusDir is the shared libvirt corpus (or $VIRTSWITCH_CORPUS); the
// fuzz target runs without it, with fewer seeds.
func corpusDir() string {
	if d := os.Getenv("VIRTSWITCH_CORPUS"); d != "" {
		return d
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		return ""
	}
	return filepath.Join(root, "..", "shared", "corpus")
}
