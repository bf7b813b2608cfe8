package libvirtconn_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/libvirtconn"
	"github.com/virtswitch/virtswitch/testenv"
)

func cfg(d *testenv.Libvirtd) libvirtconn.Config {
	return libvirtconn.Config{
		Sockets:     []string{filepath.Join(d.Dir, "missing-sock"), d.Socket},
		URI:         testenv.LibvirtURI,
		CallTimeout: 20 * time.Second,
		MinBackoff:  20 * time.Millisecond,
		MaxBackoff:  200 * time.Millisecond,
	}
}

// recorder collects what a Follower delivers.
type recorder struct {
	mu       sync.Mutex
	connects int
	events   []libvirtconn.Event
	wake     chan struct{}
}

func newRecorder(f *libvirtconn.Follower) *recorder {
	r := &recorder{wake: make(chan struct{}, 1)}
	f.OnConnect(func(*libvirtconn.Client) { r.mu.Lock(); r.connects++; r.mu.Unlock(); r.poke() })
	f.OnEvent(func(_ *libvirtconn.Client, ev libvirtconn.Event) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		r.poke()
	})
	return r
}

func (r *recorder) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds on the recorded state.
func (r *recorder) waitFor(t *testing.T, what string, cond func(connects int, evs []libvirtconn.Event) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		ok := cond(r.connects, r.events)
		evs := append([]libvirtconn.Event(nil), r.events...)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; events so far: %v", what, evs)
		}
	}
}

func has(evs []libvirtconn.Event, uuid string, typ libvirtconn.EventType, detail int32) bool {
	for _, e := range evs {
		if e.UUID == uuid && e.Type == typ && e.Detail == detail {
			return true
		}
	}
	return false
}

func TestDialUnreachable(t *testing.T) {
	dir := t.TempDir()
	_, err := libvirtconn.Dial(libvirtconn.Config{Sockets: []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}})
	if !errors.Is(err, libvirtconn.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	for _, want := range []string{filepath.Join(dir, "a") + ": no such socket", filepath.Join(dir, "b"), "libvirtd or virtqemud"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestClientCalls(t *testing.T) {
	d := testenv.StartLibvirtd(t)
	c, err := libvirtconn.Dial(cfg(d))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Socket() != d.Socket {
		t.Errorf("Socket() = %s, want %s (the first one is missing)", c.Socket(), d.Socket)
	}
	const uuid = "0b5c7a2e-1d1e-4c61-9f0e-2f1c7d1e0001"
	doc := testenv.TCGDomainXML("lvc-one", uuid, "")
	dom, err := c.DefineXML([]byte(doc), true)
	if err != nil {
		t.Fatal(err)
	}
	if dom.UUID != uuid || dom.Name != "lvc-one" || dom.Running() {
		t.Errorf("DefineXML = %+v", dom)
	}
	doms, err := c.ListPersistent()
	if err != nil {
		t.Fatal(err)
	}
	if len(doms) != 1 || doms[0].UUID != uuid || doms[0].Name != "lvc-one" {
		t.Errorf("ListPersistent = %+v", doms)
	}
	x, err := c.InactiveXML(strings.ToUpper(uuid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(x), "<name>lvc-one</name>") || !strings.Contains(string(x), "passwd='s3cret'") {
		t.Errorf("InactiveXML lacks the name or the (secure) password:\n%s", x)
	}
	got, err := c.Lookup("lvc-one")
	if err != nil || got.UUID != uuid || got.Running() {
		t.Errorf("Lookup(name) = %+v, %v", got, err)
	}
	if got, err := c.Lookup(uuid); err != nil || got.Name != "lvc-one" {
		t.Errorf("Lookup(uuid) = %+v, %v", got, err)
	}
	_, err = c.Lookup("lvc-nope")
	if apierr.KindOf(err) != apierr.NotFound || !strings.Contains(err.Error(), "domain 'lvc-nope' not found") {
		t.Errorf("Lookup(missing) = %v, want NotFound naming it", err)
	}
	if _, err := c.InactiveXML("0b5c7a2e-1d1e-4c61-9f0e-2f1c7d1e0999"); !libvirtconn.IsNotFound(err) {
		t.Errorf("InactiveXML(unknown) = %v, want not found", err)
	}
	if _, err := c.InactiveXML("../etc"); apierr.KindOf(err) != apierr.InvalidXML {
		t.Errorf("InactiveXML(bad uuid) = %v, want InvalidXML", err)
	}
	if _, err := c.DefineXML([]byte("<domain type='qemu'><name>x</name>"), false); err == nil || !strings.Contains(err.Error(), "libvirt refused") {
		t.Errorf("DefineXML(broken) = %v, want libvirt's refusal", err)
	}
	if ok, err := c.NetworkDefined("lvc-no-such-net"); ok || err != nil {
		t.Errorf("NetworkDefined(missing) = %v, %v", ok, err)
	}
}

func TestFollowerEventsAndRestart(t *testing.T) {
	d := testenv.StartLibvirtd(t)
	f := libvirtconn.NewFollower(cfg(d))
	r := newRecorder(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	r.waitFor(t, "the first connect", func(n int, _ []libvirtconn.Event) bool { return n == 1 })
	if f.Client() == nil {
		t.Fatal("Client() is nil while connected")
	}
	const u1 = "0b5c7a2e-1d1e-4c61-9f0e-2f1c7d1e0101"
	path := filepath.Join(t.TempDir(), "d.xml")
	os.WriteFile(path, []byte(testenv.TCGDomainXML("lvc-ev", u1, "")), 0644)
	if _, err := d.Virsh("define", path); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "defined/added", func(_ int, evs []libvirtconn.Event) bool {
		return has(evs, u1, libvirtconn.Defined, libvirtconn.DefinedAdded)
	})
	if _, err := d.Virsh("define", path); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "defined/updated", func(_ int, evs []libvirtconn.Event) bool {
		return has(evs, u1, libvirtconn.Defined, libvirtconn.DefinedUpdated)
	})
	r.mu.Lock()
	ev := r.events[0]
	r.mu.Unlock()
	if ev.Name != "lvc-ev" || ev.String() != "domain 'lvc-ev' ("+u1+") defined/added" {
		t.Errorf("event = %+v, String %q", ev, ev.String())
	}

	// libvirt restarts: the Follower is told it is away, reconnects, and
	// the events of the new connection arrive.
	d.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for f.Client() != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.Client() != nil {
		t.Fatal("Client() still set 10 s after libvirtd stopped")
	}
	time.Sleep(300 * time.Millisecond) // a few failed attempts, backoff at its cap
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "the reconnect", func(n int, _ []libvirtconn.Event) bool { return n == 2 })
	if _, err := d.Virsh("undefine", "lvc-ev"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "undefined/removed after the restart", func(_ int, evs []libvirtconn.Event) bool {
		return has(evs, u1, libvirtconn.Undefined, libvirtconn.UndefinedRemoved)
	})
}

func TestFollowerWaitsForLibvirt(t *testing.T) {
	d := testenv.StartLibvirtd(t)
	d.Stop()
	f := libvirtconn.NewFollower(cfg(d))
	r := newRecorder(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	time.Sleep(200 * time.Millisecond)
	if f.Client() != nil {
		t.Fatal("connected to a stopped libvirtd")
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "a connect once libvirtd is up", func(n int, _ []libvirtconn.Event) bool { return n == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestEventNames(t *testing.T) {
	for _, c := range []struct {
		ev       libvirtconn.Event
		str      string
		migrated bool
	}{
		{libvirtconn.Event{Name: "g", UUID: "u", Type: libvirtconn.Resumed, Detail: libvirtconn.ResumedMigrated}, "domain 'g' (u) resumed/migrated", true},
		{libvirtconn.Event{Name: "g", UUID: "u", Type: libvirtconn.Started, Detail: libvirtconn.StartedMigrated}, "domain 'g' (u) started/migrated", true},
		{libvirtconn.Event{Name: "g", UUID: "u", Type: libvirtconn.Started, Detail: libvirtconn.StartedBooted}, "domain 'g' (u) started/booted", false},
		{libvirtconn.Event{Name: "g", UUID: "u", Type: libvirtconn.Stopped, Detail: libvirtconn.StoppedMigrated}, "domain 'g' (u) stopped/migrated", true},
		{libvirtconn.Event{Name: "g", UUID: "u", Type: libvirtconn.Defined, Detail: libvirtconn.DefinedUpdated}, "domain 'g' (u) defined/updated", false},
		{libvirtconn.Event{Name: "g", UUID: "u", Type: 42, Detail: 7}, "domain 'g' (u) event-42/detail-7", false},
	} {
		if got := c.ev.String(); got != c.str {
			t.Errorf("String() = %q, want %q", got, c.str)
		}
		if c.ev.Migrated() != c.migrated {
			t.Errorf("%s: Migrated() = %v", c.str, !c.migrated)
		}
	}
}
