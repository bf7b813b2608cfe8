package pool

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
)

func devices(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func counts(p *Pool) []uint {
	var out []uint
	for _, d := range p.Devices() {
		out = append(out, d.Connections)
	}
	return out
}

func mustAllocate(t *testing.T, p *Pool, key string, exclusive bool) string {
	t.Helper()
	dev, err := p.Allocate(key, exclusive)
	if err != nil {
		t.Fatalf("Allocate(%q, %v): %v", key, exclusive, err)
	}
	return dev
}

func wantErr(t *testing.T, err error, kind apierr.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %q", kind, msg)
	}
	if apierr.KindOf(err) != kind || err.Error() != msg {
		t.Fatalf("error %s %q, want %s %q", apierr.KindOf(err), err.Error(), kind, msg)
	}
}

func TestPassthroughEightDevicesNinthExhausted(t *testing.T) {
	devs := devices("eth1", 8) // eth10 … eth17, the seed's passthrough pool
	p := New("red-network", devs)
	for i := range 8 {
		if dev := mustAllocate(t, p, fmt.Sprintf("vm%d/52:54:00:00:00:0%d", i, i), true); dev != devs[i] {
			t.Fatalf("exclusive allocation %d got %s, want %s (first free in pool order)", i, dev, devs[i])
		}
	}
	_, err := p.Allocate("vm8/52:54:00:00:00:08", true)
	wantErr(t, err, apierr.PoolExhausted, "network 'red-network' requires exclusive access to interfaces, but none are available")
	if p.Connections() != 8 || !reflect.DeepEqual(counts(p), []uint{1, 1, 1, 1, 1, 1, 1, 1}) {
		t.Fatalf("a failed allocation changed the counts: %d %v", p.Connections(), counts(p))
	}
	// A shared request cannot squeeze in either: every device is held.
	_, err = p.Allocate("other/52:54:00:00:00:09", false)
	wantErr(t, err, apierr.PoolExhausted, "network 'red-network' has no interface available: all 8 are held exclusively")

	// Freeing two devices: the next exclusive requests get them, earliest first.
	if !p.Release("vm5/52:54:00:00:00:05") || !p.Release("vm2/52:54:00:00:00:02") {
		t.Fatal("Release of a held key returned false")
	}
	if dev := mustAllocate(t, p, "vm8/52:54:00:00:00:08", true); dev != "eth12" {
		t.Fatalf("got %s, want eth12", dev)
	}
	if dev := mustAllocate(t, p, "vm9/52:54:00:00:00:09", true); dev != "eth15" {
		t.Fatalf("got %s, want eth15", dev)
	}
	_, err = p.Allocate("vm10/52:54:00:00:00:10", true)
	if apierr.KindOf(err) != apierr.PoolExhausted {
		t.Fatalf("10th request: %v, want PoolExhausted", err)
	}
}

func TestLeastUsedBalancing(t *testing.T) {
	p := New("blue", []string{"eth0", "eth1", "eth2", "eth3"})
	steps := []struct {
		op   string // "a" allocate, "r" release
		key  string
		want string // device for "a"
		then []uint // counts afterwards
	}{
		{"a", "k1", "eth0", []uint{1, 0, 0, 0}},
		{"a", "k2", "eth1", []uint{1, 1, 0, 0}},
		{"a", "k3", "eth2", []uint{1, 1, 1, 0}},
		{"a", "k4", "eth3", []uint{1, 1, 1, 1}},
		{"a", "k5", "eth0", []uint{2, 1, 1, 1}}, // all tied: earliest
		{"a", "k6", "eth1", []uint{2, 2, 1, 1}},
		{"r", "k3", "", []uint{2, 2, 0, 1}},
		{"a", "k7", "eth2", []uint{2, 2, 1, 1}}, // the emptiest, not the earliest
		{"r", "k1", "", []uint{1, 2, 1, 1}},
		{"r", "k4", "", []uint{1, 2, 1, 0}},
		{"a", "k8", "eth3", []uint{1, 2, 1, 1}},
		{"a", "k9", "eth0", []uint{2, 2, 1, 1}},
		{"a", "k10", "eth2", []uint{2, 2, 2, 1}},
		{"a", "k11", "eth3", []uint{2, 2, 2, 2}},
		{"r", "k2", "", []uint{2, 1, 2, 2}},
		{"r", "k6", "", []uint{2, 0, 2, 2}},
		{"a", "k12", "eth1", []uint{2, 1, 2, 2}},
		{"a", "k13", "eth1", []uint{2, 2, 2, 2}},
	}
	for i, s := range steps {
		switch s.op {
		case "a":
			if dev := mustAllocate(t, p, s.key, false); dev != s.want {
				t.Fatalf("step %d: Allocate(%s) = %s, want %s", i, s.key, dev, s.want)
			}
		case "r":
			if !p.Release(s.key) {
				t.Fatalf("step %d: Release(%s) = false", i, s.key)
			}
		}
		if got := counts(p); !reflect.DeepEqual(got, s.then) {
			t.Fatalf("step %d: counts %v, want %v", i, got, s.then)
		}
		var sum uint
		for _, c := range s.then {
			sum += c
		}
		if p.Connections() != sum {
			t.Fatalf("step %d: Connections() = %d, want %d", i, p.Connections(), sum)
		}
	}
}

func TestAllocateIdempotentPerKey(t *testing.T) {
	p := New("blue", []string{"eth0", "eth1"})
	first := mustAllocate(t, p, "uuid-a/52:54:00:aa:aa:aa", false)
	mustAllocate(t, p, "uuid-b/52:54:00:bb:bb:bb", false)
	for range 3 {
		// Even asking exclusively: the key already has its device.
		if dev := mustAllocate(t, p, "uuid-a/52:54:00:aa:aa:aa", true); dev != first {
			t.Fatalf("repeat got %s, want %s", dev, first)
		}
	}
	if p.Connections() != 2 || !reflect.DeepEqual(counts(p), []uint{1, 1}) {
		t.Fatalf("repeat counted again: %d %v", p.Connections(), counts(p))
	}
	// The repeat did not turn the shared allocation exclusive: eth0 is still shareable.
	if dev := mustAllocate(t, p, "uuid-c/52:54:00:cc:cc:cc", false); dev != "eth0" {
		t.Fatalf("got %s, want eth0", dev)
	}
	if !p.Release("uuid-a/52:54:00:aa:aa:aa") {
		t.Fatal("Release = false")
	}
	if p.Release("uuid-a/52:54:00:aa:aa:aa") {
		t.Fatal("second Release of the same key = true")
	}
	if p.Connections() != 2 || !reflect.DeepEqual(counts(p), []uint{1, 1}) {
		t.Fatalf("after release: %d %v", p.Connections(), counts(p))
	}
}

func TestReleaseUnknownAndNeverNegative(t *testing.T) {
	for _, devs := range [][]string{nil, {"eth0"}} {
		p := New("blue", devs)
		if p.Release("nobody") {
			t.Fatal("Release of an unknown key = true")
		}
		mustAllocate(t, p, "k", false)
		p.Release("k")
		for range 3 {
			if p.Release("k") {
				t.Fatal("Release of a released key = true")
			}
		}
		if p.Connections() != 0 {
			t.Fatalf("Connections() = %d", p.Connections())
		}
		for _, d := range p.Devices() {
			if d.Connections != 0 {
				t.Fatalf("%s has %d connections", d.Device, d.Connections)
			}
		}
	}
}

func TestExclusiveNeverShared(t *testing.T) {
	p := New("priv", []string{"eth0", "eth1", "eth2"})
	if dev := mustAllocate(t, p, "qbh", true); dev != "eth0" {
		t.Fatalf("got %s", dev)
	}
	// Shared requests skip the held device even though it has the fewest
	// connections of any device for a while.
	for i, want := range []string{"eth1", "eth2", "eth1", "eth2"} {
		if dev := mustAllocate(t, p, fmt.Sprintf("s%d", i), false); dev != want {
			t.Fatalf("shared %d got %s, want %s", i, dev, want)
		}
	}
	// No device is free of connections: an exclusive request fails.
	_, err := p.Allocate("qbh2", true)
	wantErr(t, err, apierr.PoolExhausted, "network 'priv' requires exclusive access to interfaces, but none are available")
	// Once released, eth0 is an ordinary device again.
	p.Release("qbh")
	if dev := mustAllocate(t, p, "s9", false); dev != "eth0" {
		t.Fatalf("got %s, want eth0", dev)
	}
	if dev := mustAllocate(t, p, "s10", false); dev != "eth0" {
		t.Fatalf("got %s, want eth0 (1 connection against 2)", dev)
	}
}

func TestHostBridgeCountsOnly(t *testing.T) {
	p := New("red-network", nil)
	for i := range 5 {
		if dev := mustAllocate(t, p, fmt.Sprint(i), i%2 == 0); dev != "" {
			t.Fatalf("host bridge handed out device %q", dev)
		}
	}
	mustAllocate(t, p, "0", false)
	if p.Connections() != 5 || p.Devices() != nil {
		t.Fatalf("Connections %d Devices %v", p.Connections(), p.Devices())
	}
	if err := p.Claim("5", "", false); err != nil {
		t.Fatal(err)
	}
	wantErr(t, p.Claim("6", "eth0", false), apierr.NotFound,
		"network 'red-network' has no device pool, cannot claim device 'eth0' for interface 6")
	wantErr(t, p.SetDevices([]string{"eth0"}), apierr.InUse,
		"network 'red-network' has 6 connection(s) on its host bridge, cannot give it a device pool")
	for i := range 6 {
		p.Release(fmt.Sprint(i))
	}
	if p.Connections() != 0 {
		t.Fatalf("Connections %d", p.Connections())
	}
	if err := p.SetDevices([]string{"eth0"}); err != nil {
		t.Fatalf("an idle host-bridge network may get a pool: %v", err)
	}
	if dev := mustAllocate(t, p, "x", false); dev != "eth0" {
		t.Fatalf("got %q", dev)
	}
}

func TestClaim(t *testing.T) {
	p := New("blue", []string{"eth0", "eth1", "eth2"})
	if err := p.Claim("a", "eth2", true); err != nil {
		t.Fatal(err)
	}
	if err := p.Claim("b", "eth1", false); err != nil {
		t.Fatal(err)
	}
	if err := p.Claim("c", "eth1", false); err != nil {
		t.Fatal(err)
	}
	if err := p.Claim("a", "eth2", true); err != nil {
		t.Fatalf("repeated claim: %v", err)
	}
	if !reflect.DeepEqual(counts(p), []uint{0, 2, 1}) || p.Connections() != 3 {
		t.Fatalf("counts %v connections %d", counts(p), p.Connections())
	}
	wantErr(t, p.Claim("a", "eth0", true), apierr.Conflict,
		"network 'blue': interface a already uses device 'eth2', cannot claim 'eth0'")
	wantErr(t, p.Claim("d", "eth9", false), apierr.NotFound,
		"network 'blue' has no device 'eth9' in its pool (interface d)")
	wantErr(t, p.Claim("d", "eth2", false), apierr.Conflict,
		"network 'blue': device 'eth2' is held exclusively by another interface, cannot claim it for d")
	wantErr(t, p.Claim("d", "eth1", true), apierr.Conflict,
		"network 'blue': device 'eth1' already has 2 connection(s), cannot claim it exclusively for d")
	if !reflect.DeepEqual(counts(p), []uint{0, 2, 1}) || p.Connections() != 3 {
		t.Fatalf("failed claims changed counts: %v %d", counts(p), p.Connections())
	}
	// Claimed state drives later choices like allocated state does.
	if dev := mustAllocate(t, p, "e", false); dev != "eth0" {
		t.Fatalf("got %s", dev)
	}
	if dev := mustAllocate(t, p, "f", false); dev != "eth0" {
		t.Fatalf("got %s (eth2 is held)", dev)
	}
	// Release returns exactly what the claim took.
	p.Release("a")
	p.Release("b")
	if !reflect.DeepEqual(counts(p), []uint{2, 1, 0}) {
		t.Fatalf("counts %v", counts(p))
	}
	if dev := mustAllocate(t, p, "g", true); dev != "eth2" {
		t.Fatalf("got %s, want eth2", dev)
	}
}

func TestSetDevices(t *testing.T) {
	p := New("blue", []string{"eth0", "eth1", "eth2", "eth3"})
	mustAllocate(t, p, "a", false) // eth0
	mustAllocate(t, p, "b", true)  // eth1, held
	mustAllocate(t, p, "c", false) // eth2
	mustAllocate(t, p, "d", false) // eth3
	mustAllocate(t, p, "e", false) // eth0
	before := p.Devices()

	wantErr(t, p.SetDevices([]string{"eth0", "eth1", "eth3"}), apierr.InUse,
		"network 'blue': cannot remove in-use device 'eth2' (1 connection(s)) from the pool")
	wantErr(t, p.SetDevices([]string{"eth3"}), apierr.InUse,
		"network 'blue': cannot remove in-use devices 'eth0' (2 connection(s)), 'eth1' (1 connection(s)), 'eth2' (1 connection(s)) from the pool")
	wantErr(t, p.SetDevices(nil), apierr.InUse,
		"network 'blue': cannot remove in-use devices 'eth0' (2 connection(s)), 'eth1' (1 connection(s)), 'eth2' (1 connection(s)), 'eth3' (1 connection(s)) from the pool")
	if !reflect.DeepEqual(p.Devices(), before) || p.Connections() != 5 {
		t.Fatalf("refused SetDevices changed the pool: %v", p.Devices())
	}

	p.Release("d") // eth3 idle now: it may go.
	if err := p.SetDevices([]string{"eth5", "eth2", "eth1", "eth0", "eth4"}); err != nil {
		t.Fatal(err)
	}
	want := []DeviceCount{{Device: "eth5"}, {Device: "eth2", Connections: 1}, {Device: "eth1", Connections: 1, Exclusive: true},
		{Device: "eth0", Connections: 2}, {Device: "eth4"}}
	if got := p.Devices(); !reflect.DeepEqual(got, want) || p.Connections() != 4 {
		t.Fatalf("Devices %v, want %v", got, want)
	}
	// The new order is the pool order; the hold on eth1 survived.
	for i, w := range []string{"eth5", "eth4", "eth5", "eth2", "eth4"} {
		if dev := mustAllocate(t, p, fmt.Sprint("n", i), false); dev != w {
			t.Fatalf("allocation %d got %s, want %s", i, dev, w)
		}
	}
	_, err := p.Allocate("x", true)
	if apierr.KindOf(err) != apierr.PoolExhausted {
		t.Fatalf("exclusive with no idle device: %v", err)
	}
	// Releases after a redefinition hit the right devices.
	for _, k := range []string{"a", "b", "c", "e"} {
		if !p.Release(k) {
			t.Fatalf("Release(%s) = false", k)
		}
	}
	want = []DeviceCount{{Device: "eth5", Connections: 2}, {Device: "eth2", Connections: 1}, {Device: "eth1"}, {Device: "eth0"}, {Device: "eth4", Connections: 2}}
	if got := p.Devices(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Devices %v, want %v", got, want)
	}
	if dev := mustAllocate(t, p, "y", true); dev != "eth1" {
		t.Fatalf("got %s, want eth1 (its hold went with b)", dev)
	}
}

func TestSetDevicesToHostBridgeWhenIdle(t *testing.T) {
	p := New("blue", []string{"eth0", "eth1"})
	mustAllocate(t, p, "a", false)
	if err := p.SetDevices(nil); apierr.KindOf(err) != apierr.InUse {
		t.Fatalf("SetDevices(nil) with eth0 in use: %v", err)
	}
	p.Release("a")
	if err := p.SetDevices(nil); err != nil {
		t.Fatal(err)
	}
	if p.Devices() != nil {
		t.Fatalf("Devices %v", p.Devices())
	}
	if dev := mustAllocate(t, p, "b", false); dev != "" || p.Connections() != 1 {
		t.Fatalf("host bridge gave %q, connections %d", dev, p.Connections())
	}
}

func TestDuplicateDevicesIgnored(t *testing.T) {
	p := New("blue", []string{"eth0", "eth1", "eth0"})
	if got := p.Devices(); len(got) != 2 {
		t.Fatalf("Devices %v", got)
	}
}

// model is the obvious O(n) implementation of the same rules, to check the
// tree against.
type model struct {
	conns  []uint
	held   []bool
	bad    []bool            // down or drained (nil: none)
	allocs map[string][2]int // key → dev, exclusive
}

func (m *model) allocate(key string, exclusive bool) int {
	if a, ok := m.allocs[key]; ok {
		return a[0]
	}
	best := -1
	for i := range m.conns {
		if m.held[i] || exclusive && m.conns[i] > 0 || m.bad != nil && m.bad[i] {
			continue
		}
		if best < 0 || m.conns[i] < m.conns[best] {
			best = i
		}
	}
	if best >= 0 {
		m.conns[best]++
		ex := 0
		if exclusive {
			m.held[best], ex = true, 1
		}
		m.allocs[key] = [2]int{best, ex}
	}
	return best
}

func (m *model) release(key string) bool {
	a, ok := m.allocs[key]
	if ok {
		delete(m.allocs, key)
		m.conns[a[0]]--
		if a[1] == 1 {
			m.held[a[0]] = false
		}
	}
	return ok
}

func TestMatchesModel(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 8, 9, 33, 64, 65, 513, 600} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(n), 42))
			devs := devices("d", n)
			p := New("m", devs)
			m := &model{conns: make([]uint, n), held: make([]bool, n), allocs: map[string][2]int{}}
			for step := range 20000 {
				key := fmt.Sprint(rng.IntN(4 * n))
				if rng.IntN(3) == 0 {
					if got, want := p.Release(key), m.release(key); got != want {
						t.Fatalf("step %d: Release(%s) = %v, model %v", step, key, got, want)
					}
				} else {
					exclusive := rng.IntN(5) == 0
					dev, err := p.Allocate(key, exclusive)
					want := m.allocate(key, exclusive)
					switch {
					case want < 0 && apierr.KindOf(err) != apierr.PoolExhausted:
						t.Fatalf("step %d: Allocate(%s,%v) = %q %v, model: exhausted", step, key, exclusive, dev, err)
					case want >= 0 && (err != nil || dev != devs[want]):
						t.Fatalf("step %d: Allocate(%s,%v) = %q %v, model %s", step, key, exclusive, dev, err, devs[want])
					}
				}
				if step%97 == 0 {
					for i, d := range p.Devices() {
						if d.Connections != m.conns[i] {
							t.Fatalf("step %d: %s has %d, model %d", step, d.Device, d.Connections, m.conns[i])
						}
					}
					if p.Connections() != uint(len(m.allocs)) {
						t.Fatalf("step %d: Connections %d, model %d", step, p.Connections(), len(m.allocs))
					}
				}
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	const (
		workers = 32
		rounds  = 400
		ndev    = 8
	)
	p := New("busy", devices("eth", ndev))
	var (
		mu     sync.Mutex
		holder = map[string]string{} // exclusively held device → key
		shared = map[string]int{}    // device → live shared users
		wg     sync.WaitGroup
		errs   = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				key := fmt.Sprintf("w%d/%d", w, r)
				exclusive := (w+r)%4 == 0
				dev, err := p.Allocate(key, exclusive)
				if err != nil {
					if apierr.KindOf(err) != apierr.PoolExhausted {
						errs <- err
						return
					}
					continue
				}
				// Repeat from another goroutine's point of view: same answer.
				if again, err := p.Allocate(key, exclusive); err != nil || again != dev {
					errs <- fmt.Errorf("repeat of %s got %q %v, want %q", key, again, err, dev)
					return
				}
				mu.Lock()
				if h, ok := holder[dev]; ok {
					errs <- fmt.Errorf("%s got %s while %s holds it exclusively", key, dev, h)
					mu.Unlock()
					return
				}
				if exclusive {
					if shared[dev] > 0 {
						errs <- fmt.Errorf("%s got %s exclusively while %d others use it", key, dev, shared[dev])
						mu.Unlock()
						return
					}
					holder[dev] = key
				} else {
					shared[dev]++
				}
				mu.Unlock()

				if r%3 == 0 {
					p.Devices()
					p.Connections()
				}

				mu.Lock()
				if exclusive {
					delete(holder, dev)
				} else {
					shared[dev]--
				}
				mu.Unlock()
				if !p.Release(key) {
					errs <- fmt.Errorf("Release(%s) = false", key)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p.Connections() != 0 {
		t.Fatalf("Connections %d after every release", p.Connections())
	}
	for _, d := range p.Devices() {
		if d.Connections != 0 {
			t.Fatalf("%s has %d connections after every release", d.Device, d.Connections)
		}
	}
	// And the pool still works as new.
	for i := range ndev {
		if dev := mustAllocate(t, p, fmt.Sprint("after", i), true); dev != fmt.Sprint("eth", i) {
			t.Fatalf("got %s", dev)
		}
	}
}

func TestConcurrentNoDoubleCount(t *testing.T) {
	// Many goroutines racing to allocate the same keys count each key once.
	p := New("race", devices("eth", 4))
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 100 {
				if _, err := p.Allocate(fmt.Sprint(k), false); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if p.Connections() != 100 || !reflect.DeepEqual(counts(p), []uint{25, 25, 25, 25}) {
		t.Fatalf("Connections %d counts %v", p.Connections(), counts(p))
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 100 {
				p.Release(fmt.Sprint(k))
			}
		}()
	}
	wg.Wait()
	if p.Connections() != 0 || !reflect.DeepEqual(counts(p), []uint{0, 0, 0, 0}) {
		t.Fatalf("Connections %d counts %v", p.Connections(), counts(p))
	}
}
