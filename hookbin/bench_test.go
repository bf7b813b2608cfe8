package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// The hook runs for every guest start on the host; these measure its cost
// for the common case (a guest with nothing of virtswitch's).

func corpusDoc(b *testing.B, name string) []byte {
	doc, err := os.ReadFile(filepath.Join(testenv.CorpusDir(b, "libvirt-domain"), name))
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

// BenchmarkScan: the hook's own detection on a domain with three Form A
// interfaces (the full parse path, not the fast path).
func BenchmarkScan(b *testing.B) {
	doc := corpusDoc(b, "net-virtio-network-portgroup.xml")
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := scan(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspect: xmlrewrite.Inspect on the same document, the
// alternative the hook could use for detection.
func BenchmarkInspect(b *testing.B) {
	doc := corpusDoc(b, "net-virtio-network-portgroup.xml")
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := xmlrewrite.Inspect(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanFastPath: a large domain with no interface of type network
// and no virtswitch metadata is never parsed.
func BenchmarkScanFastPath(b *testing.B) {
	doc := corpusDoc(b, "pci-bridge-many-disks.xml")
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := scan(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHookProcess: the whole hook as libvirt runs it (fork+exec, read
// stdin, decide) for a guest with nothing of virtswitch's, and for one
// whose libvirt network is not ours (parse + one stat).
func BenchmarkHookProcess(b *testing.B) {
	for _, c := range []struct{ name, file string }{
		{"no-network-interface", "q35.xml"},
		{"libvirt-network-not-ours", "net-virtio-network-portgroup.xml"},
	} {
		doc := string(corpusDoc(b, c.file))
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(hookBin, "g", "prepare", "begin", "-")
				cmd.Env = []string{"VIRTSWITCH_CONFIG_DIR=" + b.TempDir(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent"}
				cmd.Stdin = strings.NewReader(doc)
				if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
					b.Fatalf("hook: %v %s", err, out)
				}
			}
		})
	}
}
