package vswitch

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/testenv"
)

func device(t *testing.T, f *fixture, network, dev string) (conns uint, down, drained bool) {
	t.Helper()
	info, err := f.sw.Network(network)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range info.Devices {
		if d.Device == dev {
			return d.Connections, d.Down, d.Drained
		}
	}
	t.Fatalf("network %s has no device %s", network, dev)
	return
}

// A drained device gets no new guests, keeps those it has, and stays
// drained across a restart (the drain file).
func TestDrain(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sw.Prepare(passGuest(t, f, 0).formB); err != nil { // eth20
		t.Fatal(err)
	}
	if err := f.sw.SetDrained("red-pass", "eth20", true); err != nil {
		t.Fatal(err)
	}
	if err := f.sw.SetDrained("red-pass", "eth21", true); err != nil {
		t.Fatal(err)
	}
	if c, _, dr := device(t, f, "red-pass", "eth20"); c != 1 || !dr {
		t.Fatalf("eth20: %d connections, drained %v; want the guest kept", c, dr)
	}
	st, err := f.sw.Prepare(passGuest(t, f, 1).formB)
	if err != nil || devOf(t, st) != "eth22" {
		t.Fatalf("Prepare got %q, %v; want eth22 (eth20, eth21 drained)", devOf(t, st), err)
	}
	b, err := os.ReadFile(f.sw.drainFile)
	if err != nil || string(b) != "red-pass eth20\nred-pass eth21\n" {
		t.Fatalf("drain file: %q %v", b, err)
	}
	if info, _ := f.sw.Network("red-pass"); info.Free != 5 {
		t.Fatalf("Free = %d, want 5 (eth23..eth27)", info.Free)
	}
	f.restart(t)
	if _, _, dr := device(t, f, "red-pass", "eth21"); !dr {
		t.Fatal("drain lost across a restart")
	}
	if err := f.sw.SetDrained("red-pass", "eth21", false); err != nil {
		t.Fatal(err)
	}
	st, err = f.sw.Prepare(passGuest(t, f, 2).formB)
	if err != nil || devOf(t, st) != "eth21" {
		t.Fatalf("after undrain: %q, %v; want eth21", devOf(t, st), err)
	}
	// Redefinition keeps the drain.
	if _, err := f.sw.Define([]byte(strings.Replace(passNet(), "<interface dev='eth27'/>", "", 1))); err != nil {
		t.Fatal(err)
	}
	if _, _, dr := device(t, f, "red-pass", "eth20"); !dr {
		t.Fatal("drain lost across a redefinition")
	}
}

func passNet() string { return testenv.SeedPassthrough }

// Draining bad things: a clear error, nothing written or changed.
func TestDrainBadInput(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ net, dev, want string }{
		{"nosuch", "eth20", "network 'nosuch' is not defined"},
		{"red-pass", "eth10", "network 'red-pass' has no device 'eth10' in its pool"},
		{"red-bridge", "br0", "network 'red-bridge' has no device pool (it uses host bridge 'br0'), so there is no device 'br0' to drain"},
	} {
		err := f.sw.SetDrained(c.net, c.dev, true)
		if apierr.KindOf(err) != apierr.NotFound || err.Error() != c.want {
			t.Fatalf("SetDrained(%s, %s) = %v; want NotFound %q", c.net, c.dev, err, c.want)
		}
	}
	if _, err := os.Stat(f.sw.drainFile); !os.IsNotExist(err) {
		t.Fatalf("drain file written: %v", err)
	}
	// The file cannot be written: Plumbing, and the device is not drained.
	f.sw.drainFile = "/proc/virtswitch-cannot-write/drained"
	if err := f.sw.SetDrained("red-pass", "eth20", true); apierr.KindOf(err) != apierr.Plumbing {
		t.Fatalf("unwritable drain file: %v", err)
	}
	if _, _, dr := device(t, f, "red-pass", "eth20"); dr {
		t.Fatal("drained although the drain could not be recorded")
	}
}

// Carrier is followed from netlink events: the veth peer (the "cable")
// going down takes the device out of the choice; guests on it stay; it
// comes back when the peer is up again. No usable device: the error names
// the network and why.
func TestCarrierFromNetlink(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sw.Prepare(passGuest(t, f, 0).formB); err != nil { // eth20
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.sw.FollowCarrier(ctx); err != nil {
		t.Fatal(err)
	}
	setPeer := func(peer string, up bool) {
		t.Helper()
		h := f.ns.Handle()
		l := f.ns.Link(t, peer)
		var err error
		if up {
			err = h.LinkSetUp(l)
		} else {
			err = h.LinkSetDown(l)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"wire20", "wire21"} {
		setPeer(p, false)
	}
	waitFor(t, 5*time.Second, "eth20 and eth21 to lose carrier", func() bool {
		_, d0, _ := device(t, f, "red-pass", "eth20")
		_, d1, _ := device(t, f, "red-pass", "eth21")
		return d0 && d1
	})
	if c, _, _ := device(t, f, "red-pass", "eth20"); c != 1 {
		t.Fatalf("the guest on eth20 was dropped: %d connections", c)
	}
	st, err := f.sw.Prepare(passGuest(t, f, 1).formB)
	if err != nil || devOf(t, st) != "eth22" {
		t.Fatalf("Prepare: %q %v; want eth22", devOf(t, st), err)
	}
	// Take every other device away: 2 down, 6 drained... then nothing fits.
	for _, d := range []string{"eth22", "eth23", "eth24", "eth25", "eth26", "eth27"} {
		if err := f.sw.SetDrained("red-pass", d, true); err != nil {
			t.Fatal(err)
		}
	}
	g := passGuest(t, f, 2)
	c, err := f.sw.Check(g.formB)
	if err != nil || c.Fits() {
		t.Fatalf("Check: %+v %v", c, err)
	}
	want := "domain 'p2' interface 52:54:00:cc:00:02: network 'red-pass' has no usable interface: 2 down (no carrier), 6 drained"
	if _, err := f.sw.Prepare(g.formB); apierr.KindOf(err) != apierr.PoolExhausted || err.Error() != want || c.Ports[0].Message != want {
		t.Fatalf("Prepare: %v\nCheck: %s\nwant %s", err, c.Ports[0].Message, want)
	}
	setPeer("wire21", true)
	waitFor(t, 5*time.Second, "eth21 to get its carrier back", func() bool {
		_, d, _ := device(t, f, "red-pass", "eth21")
		return !d
	})
	if st, err := f.sw.Prepare(g.formB); err != nil || devOf(t, st) != "eth21" {
		t.Fatalf("after carrier returned: %q %v", devOf(t, st), err)
	}
	// Recovery rebuilds the pools and keeps carrier state.
	if err := f.sw.Recover(); err != nil {
		t.Fatal(err)
	}
	if _, d, _ := device(t, f, "red-pass", "eth20"); !d {
		t.Fatal("carrier state lost by recovery")
	}
}
