package pool

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
)

// The tree against the O(n) model with devices going down, coming back,
// being drained and undrained between allocations and releases.
func TestHealthMatchesModel(t *testing.T) {
	for _, n := range []int{1, 2, 8, 9, 65, 600} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			devs := devices("d", n)
			p := New("m", devs)
			m := &model{conns: make([]uint, n), held: make([]bool, n), bad: make([]bool, n), allocs: map[string][2]int{}}
			down, drained := make([]bool, n), make([]bool, n)
			for step := range 20000 {
				key := fmt.Sprint(rng.IntN(4 * n))
				switch r := rng.IntN(10); {
				case r == 0:
					i := rng.IntN(n)
					down[i] = !down[i]
					if !p.SetDown(devs[i], down[i]) {
						t.Fatalf("step %d: SetDown(%s, %v) changed nothing", step, devs[i], down[i])
					}
				case r == 1:
					i := rng.IntN(n)
					drained[i] = !drained[i]
					if ch, err := p.SetDrained(devs[i], drained[i]); err != nil || !ch {
						t.Fatalf("step %d: SetDrained(%s, %v) = %v %v", step, devs[i], drained[i], ch, err)
					}
				case r < 5:
					if got, want := p.Release(key), m.release(key); got != want {
						t.Fatalf("step %d: Release(%s) = %v, model %v", step, key, got, want)
					}
				default:
					exclusive := rng.IntN(5) == 0
					peek, perr := p.Peek(key, exclusive)
					dev, err := p.Allocate(key, exclusive)
					want := m.allocate(key, exclusive)
					switch {
					case peek != dev || (perr == nil) != (err == nil):
						t.Fatalf("step %d: Peek %q %v, Allocate %q %v", step, peek, perr, dev, err)
					case want < 0 && apierr.KindOf(err) != apierr.PoolExhausted:
						t.Fatalf("step %d: Allocate(%s,%v) = %q %v, model: exhausted", step, key, exclusive, dev, err)
					case want >= 0 && (err != nil || dev != devs[want]):
						t.Fatalf("step %d: Allocate(%s,%v) = %q %v, model %s", step, key, exclusive, dev, err, devs[want])
					}
				}
				for i := range n {
					m.bad[i] = down[i] || drained[i]
				}
				if step%97 == 0 {
					free := uint(0)
					for i, d := range p.Devices() {
						if d.Connections != m.conns[i] || d.Down != down[i] || d.Drained != drained[i] || d.Exclusive != m.held[i] {
							t.Fatalf("step %d: %+v, model conns %d held %v down %v drained %v", step, d, m.conns[i], m.held[i], down[i], drained[i])
						}
						if d.Usable() && d.Connections == 0 {
							free++
						}
					}
					if p.Free() != free {
						t.Fatalf("step %d: Free %d, want %d", step, p.Free(), free)
					}
				}
			}
		})
	}
}

func TestUnusableDevicesSkippedAndNamed(t *testing.T) {
	p := New("red-pass", devices("eth2", 4))
	mustAllocate(t, p, "a", true) // eth20
	p.SetDown("eth21", true)
	if ch, err := p.SetDrained("eth22", true); err != nil || !ch {
		t.Fatal(ch, err)
	}
	if dev := mustAllocate(t, p, "b", true); dev != "eth23" {
		t.Fatalf("got %s, want eth23 (eth21 down, eth22 drained)", dev)
	}
	_, err := p.Allocate("c", true)
	wantErr(t, err, apierr.PoolExhausted,
		"network 'red-pass' requires exclusive access to interfaces, but none are available (2 more are down or drained)")
	// Guests already on a device stay when it goes down.
	p.SetDown("eth20", true)
	if d := p.Devices()[0]; d.Connections != 1 || !d.Exclusive || !d.Down {
		t.Fatalf("eth20 after carrier loss: %+v", d)
	}
	p.Release("b")
	p.SetDown("eth23", true)
	_, err = p.Allocate("c", false)
	wantErr(t, err, apierr.PoolExhausted, "network 'red-pass' has no usable interface: 3 down (no carrier), 1 drained")
	p.SetDrained("eth20", true)
	p.SetDrained("eth21", true)
	p.SetDrained("eth23", true)
	p.SetDown("eth20", false)
	p.SetDown("eth21", false)
	p.SetDown("eth23", false)
	_, err = p.Allocate("c", false)
	wantErr(t, err, apierr.PoolExhausted, "network 'red-pass' has no usable interface: all 4 are drained")
	if _, err := p.SetDrained("eth9", true); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("draining a device not in the pool: %v", err)
	}
	if p.SetDown("eth9", true) {
		t.Fatal("SetDown of a device not in the pool changed something")
	}
	// Undrain: eth21 is free again; eth20 still held by a.
	p.SetDrained("eth21", false)
	if dev := mustAllocate(t, p, "c", true); dev != "eth21" {
		t.Fatalf("got %s, want eth21", dev)
	}
	// A redefinition keeps each device's state.
	if err := p.SetDevices([]string{"eth23", "eth21", "eth20", "eth22", "eth24"}); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(p.Devices())
	want := "[{eth23 0 false false true} {eth21 1 true false false} {eth20 1 true false true} {eth22 0 false false true} {eth24 0 false false false}]"
	if got != want {
		t.Fatalf("after SetDevices: %s, want %s", got, want)
	}
	if p.Free() != 1 {
		t.Fatalf("Free = %d, want 1 (eth24)", p.Free())
	}
}

func TestPeekChangesNothing(t *testing.T) {
	p := New("blue", devices("eth", 3))
	mustAllocate(t, p, "a", false)
	before := fmt.Sprint(p.Devices(), p.Connections())
	if dev, err := p.Peek("b", false); err != nil || dev != "eth1" {
		t.Fatalf("Peek = %q %v, want eth1", dev, err)
	}
	if dev, err := p.Peek("a", true); err != nil || dev != "eth0" {
		t.Fatalf("Peek of a counted key = %q %v, want its device eth0", dev, err)
	}
	if after := fmt.Sprint(p.Devices(), p.Connections()); after != before {
		t.Fatalf("Peek changed the pool: %s → %s", before, after)
	}
	if !p.Has("a") || p.Has("b") {
		t.Fatal("Has is wrong")
	}
}
