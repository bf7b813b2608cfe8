package xmlrewrite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/virtswitch/virtswitch/testenv"
)

// The hook and the daemon convert or inspect a domain on every start,
// migration and restore; these measure a typical libvirt domain (two
// virtswitch interfaces of three, ~2 KiB) and a large one (~20 KiB, many disks).
func benchDocs(b *testing.B) map[string][]byte {
	out := map[string][]byte{}
	for _, name := range []string{"net-virtio-network-portgroup.xml", "pci-bridge-many-disks.xml"} {
		x, err := os.ReadFile(filepath.Join(testenv.CorpusDir(b, "libvirt-domain"), name))
		if err != nil {
			b.Skip(err)
		}
		if name == "pci-bridge-many-disks.xml" {
			x = []byte(string(x[:len(x)-len("  </devices>\n</domain>\n")]) + "    " + indent(specFormA, "    ") + "\n  </devices>\n</domain>\n")
		}
		out[name] = x
	}
	return out
}

func BenchmarkEncode(b *testing.B) {
	for name, x := range benchDocs(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(x)))
			for i := 0; i < b.N; i++ {
				if _, changed, err := Encode(x, oursOnly("blue", "red-network")); err != nil || !changed {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for name, x := range benchDocs(b) {
		enc, _, err := Encode(x, oursOnly("blue", "red-network"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				if _, _, err := Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInspect(b *testing.B) {
	for name, x := range benchDocs(b) {
		enc, _, err := Encode(x, oursOnly("blue", "red-network"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				if _, err := Inspect(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
