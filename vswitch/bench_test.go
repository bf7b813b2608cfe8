package vswitch

import (
	"fmt"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/testenv"
)

func benchFixture(b *testing.B) *fixture {
	b.Helper()
	return newFixtureTB(b)
}

// One guest's life through the core: Prepare (resolve, allocate, create
// the link, write the state file) and Release, per connection kind.
func BenchmarkPrepareRelease(b *testing.B) {
	for _, tc := range []struct{ name, iface string }{
		{"bridge-tap", testenv.FormAInterface("red-bridge", "", "52:54:00:dd:00:01", "")},
		{"vepa-macvtap", testenv.FormAInterface("red-vepa", "engineering", "52:54:00:dd:00:01", instanceID)},
		{"passthrough", testenv.FormAInterface("red-pass", "", "52:54:00:dd:00:01", "")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := benchFixture(b)
			g := newGuestTB(b, f, "bench", "dddddddd-dddd-dddd-dddd-dddddddddddd", tc.iface)
			var prep, rel time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := f.sw.Prepare(g.formB); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := f.sw.Release(g.uuid); err != nil {
					b.Fatal(err)
				}
				prep, rel = prep+t1.Sub(t0), rel+time.Since(t1)
			}
			b.ReportMetric(float64(prep.Microseconds())/float64(b.N), "prepare-µs/op")
			b.ReportMetric(float64(rel.Microseconds())/float64(b.N), "release-µs/op")
		})
	}
}

// The idempotent path: a repeated Prepare of a prepared domain (parse,
// state read, no plumbing).
func BenchmarkPrepareRepeat(b *testing.B) {
	f := benchFixture(b)
	g := newGuestTB(b, f, "bench", "dddddddd-dddd-dddd-dddd-dddddddddddd",
		testenv.FormAInterface("red-vepa", "engineering", "52:54:00:dd:00:01", instanceID))
	if _, err := f.sw.Prepare(g.formB); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.sw.Prepare(g.formB); err != nil {
			b.Fatal(err)
		}
	}
}

// Recovery (start, Reload, periodic) with N running domains of one
// interface each: state files read and parsed, liveness via pid file and
// /proc, counts rebuilt, links checked and swept.
func BenchmarkRecover(b *testing.B) {
	for _, n := range []int{16, 128} {
		b.Run(fmt.Sprintf("domains=%d", n), func(b *testing.B) {
			f := benchFixture(b)
			for i := range n {
				g := newGuestTB(b, f, fmt.Sprintf("r%d", i), fmt.Sprintf("00000000-0000-0000-0000-00000000%04x", i),
					testenv.FormAInterface("red-bridge", "", fmt.Sprintf("52:54:00:ee:%02x:%02x", i/256, i%256), ""))
				if _, err := f.sw.Prepare(g.formB); err != nil {
					b.Fatal(err)
				}
				testenv.StartFakeQEMU(b, f.libvirt, g.name, g.uuid)
			}
			f.sw = f.open(b) // a restarted daemon: liveness decides
			for b.Loop() {
				if err := f.sw.Recover(); err != nil {
					b.Fatal(err)
				}
			}
			if c := counts(f.sw); c != fmt.Sprintf("red-bridge=%d red-pass=0 red-vepa=0", n) {
				b.Fatalf("counts after recovery: %s", c)
			}
		})
	}
}
