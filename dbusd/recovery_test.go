package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// Acceptance 2: the seed's cases with the daemon killed with -9.
func TestKill9Recovery(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	before := e.ns.Snapshot(t)
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	gs := seedGuests(t, c)
	stops := map[string]func(){}
	for _, g := range gs {
		var st string
		if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
			t.Fatal(err)
		}
		stops[g.name] = testenv.StartFakeQEMU(t, e.libvirt, g.name, g.uuid)
	}
	if got := counts(t, c); got != seedCounts {
		t.Fatalf("counts = %s", got)
	}
	running := e.ns.Snapshot(t)

	// 3a: killed and restarted while the guests run: identical counts.
	e.d.Kill()
	e.start(t)
	c = dial(t)
	if got := counts(t, c); got != seedCounts {
		t.Fatalf("3a: counts after kill -9 and restart = %s, want %s", got, seedCounts)
	}
	if d := testenv.Diff(running, e.ns.Snapshot(t)); d != "" {
		t.Fatalf("3a: links changed:\n%s", d)
	}
	// libvirtd restarted too: ReconnectDomain never counts twice.
	for _, g := range gs {
		var st string
		if err := c.Call("ReconnectDomain", []any{&st}, g.formB); err != nil {
			t.Fatalf("ReconnectDomain(%s): %v", g.name, err)
		}
	}
	if got := counts(t, c); got != seedCounts {
		t.Fatalf("3a: counts after reconnect = %s", got)
	}

	// 3b: vm2 dies while the daemon is down: freed, links gone.
	e.d.Kill()
	stops["vm2"]()
	e.start(t)
	c = dial(t)
	if got, want := counts(t, c), "red-bridge=1 red-pass=1[eth20:1] red-vepa=2[eth10:2]"; got != want {
		t.Fatalf("3b: counts = %s, want %s", got, want)
	}
	snap := e.ns.Snapshot(t)
	for _, l := range []string{"vsw525400000201", "vsw525400000202"} {
		if _, ok := snap[l]; ok {
			t.Errorf("3b: link %s of the dead guest survived", l)
		}
	}
	if snap["eth21"].MAC != "02:00:00:00:20:01" {
		t.Errorf("3b: eth21 MAC %s not restored", snap["eth21"].MAC)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "domains", gs[1].uuid+".xml")); !os.IsNotExist(err) {
		t.Errorf("3b: state file of the dead guest survived (%v)", err)
	}

	// Guests that die while the daemon runs are found by Reload (and the
	// periodic reconcile) even if no release ever comes.
	stops["vm3"]()
	if err := c.Call("Reload", nil); err != nil {
		t.Fatal(err)
	}
	if got, want := counts(t, c), "red-bridge=0 red-pass=1[eth20:1] red-vepa=1[eth10:1]"; got != want {
		t.Fatalf("after Reload: %s, want %s", got, want)
	}

	// 2: host reboot: empty state dir; no counts, no links.
	e.d.Kill()
	stops["vm1"]()
	if err := os.RemoveAll(e.stateDir); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	c = dial(t)
	if got := counts(t, c); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("2: counts = %s", got)
	}
	after := e.ns.Snapshot(t)
	for name := range after {
		if strings.HasPrefix(name, "vsw") {
			t.Errorf("2: link %s survived", name)
		}
	}
	// eth20's saved MAC went with the state (a real reboot resets the NIC).
	delete(after, "eth20")
	delete(before, "eth20")
	if d := testenv.Diff(before, after); d != "" {
		t.Errorf("2: links differ:\n%s", d)
	}
}

// The periodic reconcile (--reconcile-interval) frees a guest that died
// without a release.
func TestPeriodicReconcile(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	e.start(t, "--reconcile-interval", "200ms")
	c := dial(t)
	defineSeed(t, c)
	g := encode(t, c, "vm", "55555555-5555-5555-5555-555555555555", testenv.FormAInterface("red-pass", "", "52:54:00:00:05:01", ""))
	var st string
	if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
		t.Fatal(err)
	}
	stop := testenv.StartFakeQEMU(t, e.libvirt, g.name, g.uuid)
	e.d.Kill() // forget that this daemon prepared it (no grace period)
	e.start(t, "--reconcile-interval", "200ms")
	c = dial(t)
	if got := counts(t, c); !strings.Contains(got, "red-pass=1") {
		t.Fatalf("running guest not counted: %s", got)
	}
	stop()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(counts(t, c), "red-pass=0") {
		if time.Now().After(deadline) {
			t.Fatalf("dead guest still counted: %s", counts(t, c))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e.ns.HasLink(t, "vsw525400000501") {
		t.Fatalf("dead guest's link survived")
	}
}

// Acceptance 3: 64 concurrent PrepareDomain calls on the 8-device
// passthrough network.
func TestConcurrentPrepareOverBus(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	before := e.ns.Snapshot(t)
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	const n = 64
	gs := make([]*guest, n)
	for i := range gs {
		gs[i] = encode(t, c, fmt.Sprintf("c%d", i), fmt.Sprintf("00000000-0000-0000-0000-0000000000%02x", i),
			testenv.FormAInterface("red-pass", "", fmt.Sprintf("52:54:00:aa:00:%02x", i), ""))
	}
	// Several connections, as several hook processes would be.
	clients := make([]*busapi.Client, 8)
	for i := range clients {
		clients[i] = dial(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	sts := make([]string, n)
	for i := range gs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = clients[i%len(clients)].Call("PrepareDomain", []any{&sts[i]}, gs[i].formB)
		}(i)
	}
	wg.Wait()
	ok, exhausted := 0, 0
	owner := map[string]int{}
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			_, acts, perr := xmlrewrite.ParseStatus([]byte(sts[i]))
			if perr != nil {
				t.Fatal(perr)
			}
			for _, a := range acts {
				if j, dup := owner[a.Dev]; dup {
					t.Errorf("device %s given to c%d and c%d", a.Dev, j, i)
				}
				owner[a.Dev] = i
			}
		case apierr.KindOf(err) == apierr.PoolExhausted:
			exhausted++
		default:
			t.Errorf("c%d: %v", i, err)
		}
	}
	if ok != 8 || exhausted != 56 {
		t.Fatalf("%d succeeded, %d PoolExhausted; want 8 and 56", ok, exhausted)
	}
	if got := counts(t, c); !strings.Contains(got, "red-pass=8[eth20:1 eth21:1 eth22:1 eth23:1 eth24:1 eth25:1 eth26:1 eth27:1]") {
		t.Fatalf("counts = %s", got)
	}
	if files := testenv.StateFiles(t, e.stateDir); len(files) != 8 {
		t.Fatalf("%d state files", len(files))
	}
	for i := range gs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := clients[i%len(clients)].Call("ReleaseDomain", nil, gs[i].uuid); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if got := counts(t, c); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("after release: %s", got)
	}
	if d := testenv.Diff(before, e.ns.Snapshot(t)); d != "" {
		t.Fatalf("links differ:\n%s", d)
	}
}
