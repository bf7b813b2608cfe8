package pool

import (
	"fmt"
	"testing"
)

// benchSizes are the pool sizes of BENCHMARKS.md: a NIC's worth of VFs, a
// big SR-IOV host, and far beyond.
var benchSizes = []int{16, 1024, 65536}

// benchLive is the number of live interfaces in BenchmarkAllocateRelease,
// the same at every pool size so that only the pool size varies: the map of
// live keys grows with connections, not devices (see the LivePerDevice and
// KeyMap benchmarks for that effect). It equals the largest pool, so at
// every size every device is in use and releases leave gaps all over it.
const benchLive = 65536

// xorshift is a tiny deterministic generator, cheap enough not to show in
// the figures.
type xorshift uint64

func (x *xorshift) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

// benchKeys returns n distinct keys shaped like the daemon's
// (domainUUID/MAC).
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x/52:54:00:%02x:%02x:%02x", i, i, i>>16&0xff, i>>8&0xff, i&0xff)
	}
	return keys
}

// runSteady measures one Allocate plus one Release on a pool of n devices
// kept in steady state with live interfaces: each round allocates a fresh
// key, then releases a random live one, so counts stay uneven and the
// choice has real work to do. exclusive: every request is exclusive and the
// live holders start on every other device.
func runSteady(b *testing.B, n, live int, exclusive bool) {
	runSteadyOn(b, New("bench", devices("vf", n)), live, exclusive)
}

func runSteadyOn(b *testing.B, p *Pool, live int, exclusive bool) {
	keys := benchKeys(live + 1)
	slots := make([]int, live) // slots[i]: index in keys of a live key
	for i := range live {
		var err error
		if exclusive {
			err = p.Claim(keys[i], fmt.Sprint("vf", 2*i), true)
		} else {
			_, err = p.Allocate(keys[i], false)
		}
		if err != nil {
			b.Fatal(err)
		}
		slots[i] = i
	}
	spare := live
	rng := xorshift(0x9e3779b97f4a7c15)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := int(rng.next() % uint64(live))
		if _, err := p.Allocate(keys[spare], exclusive); err != nil {
			b.Fatal(err)
		}
		if !p.Release(keys[slots[r]]) {
			b.Fatal("release failed")
		}
		slots[r], spare = spare, slots[r]
	}
}

// BenchmarkAllocateRelease is the figure BENCHMARKS.md holds to "largest
// at most 2x the smallest": shared requests, 65,536 live interfaces.
func BenchmarkAllocateRelease(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) { runSteady(b, n, benchLive, false) })
	}
}

// BenchmarkAllocateReleaseLivePerDevice lets the live interfaces grow with
// the pool (4 per device), so the key map grows too.
func BenchmarkAllocateReleaseLivePerDevice(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) { runSteady(b, n, 4*n, false) })
	}
}

// BenchmarkAllocateReleaseExclusive is the passthrough case: half the
// devices held; one exclusive Allocate plus the Release of a random holder.
func BenchmarkAllocateReleaseExclusive(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) { runSteady(b, n, n/2, true) })
	}
}

// BenchmarkKeyMap is the same steady-state loop on a bare map[string] of
// live keys, no pool: the part of the cost that depends on the number of
// live interfaces alone (4 per device, as LivePerDevice).
func BenchmarkKeyMap(b *testing.B) {
	for _, n := range benchSizes {
		live := 4 * n
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			keys := benchKeys(live + 1)
			m := make(map[string]alloc)
			slots := make([]int, live)
			for i := range live {
				m[keys[i]] = alloc{}
				slots[i] = i
			}
			spare := live
			rng := xorshift(0x9e3779b97f4a7c15)
			b.ResetTimer()
			for range b.N {
				r := int(rng.next() % uint64(live))
				if _, ok := m[keys[spare]]; ok {
					b.Fatal("spare key is live")
				}
				m[keys[spare]] = alloc{}
				k := keys[slots[r]]
				if _, ok := m[k]; !ok {
					b.Fatal("live key missing")
				}
				delete(m, k)
				slots[r], spare = spare, slots[r]
			}
		})
	}
}

// quarterDown is a pool of n devices with every fourth one's carrier down.
func quarterDown(n int) *Pool {
	p := New("bench", devices("vf", n))
	for i := 3; i < n; i += 4 {
		p.SetDown(fmt.Sprint("vf", i), true)
	}
	return p
}

// BenchmarkAllocateReleaseQuarterDown is BenchmarkAllocateRelease with a
// quarter of the devices down (issue 14: the choice stays O(log n)).
func BenchmarkAllocateReleaseQuarterDown(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) { runSteadyOn(b, quarterDown(n), benchLive, false) })
	}
}

// BenchmarkAllocateReleaseExclusiveQuarterDown: the passthrough case with a
// quarter of the devices down (holders on the even ones).
func BenchmarkAllocateReleaseExclusiveQuarterDown(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) { runSteadyOn(b, quarterDown(n), n/2, true) })
	}
}

// BenchmarkCarrierFlap is one carrier change (down, then up again) of a
// random device in a pool with 65,536 live interfaces.
func BenchmarkCarrierFlap(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			p := quarterDown(n)
			for _, k := range benchKeys(benchLive) {
				if _, err := p.Allocate(k, false); err != nil {
					b.Fatal(err)
				}
			}
			rng := xorshift(0x9e3779b97f4a7c15)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				d := fmt.Sprint("vf", 4*(rng.next()%uint64(n/4)))
				p.SetDown(d, true)
				p.SetDown(d, false)
			}
		})
	}
}
