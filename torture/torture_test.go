//go:build torture

// Package torture kills virtswitchd with SIGKILL at random moments during
// storms of concurrent PrepareDomain/ReleaseDomain calls, restarts it and
// checks that recovery left the host exactly as a fresh allocation of the
// running guests would (RELIABILITY.md). It is behind the "torture" build
// tag so `make test` never runs it: `make torture [TRIALS=N]`.
package torture

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/bench/rig"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

var (
	trials  = rig.EnvInt("TRIALS", 10)
	nGuests = rig.EnvInt("TORTURE_GUESTS", 1000) // guests started per storm
	nConns  = rig.EnvInt("TORTURE_CONNS", 32)    // bus connections the storm shares
	race    = os.Getenv("TORTURE_RACE") != "0"
)

// The networks: shared and exclusive pools, a private pool where a
// portgroup makes allocations exclusive (802.1Qbh) next to shared ones, and
// a host bridge.
const (
	vepaNet = `<network>
  <name>t-vepa</name>
  <forward mode='vepa'>
    <interface dev='eth0'/>
    <interface dev='eth1'/>
    <interface dev='eth2'/>
    <interface dev='eth3'/>
  </forward>
</network>`
	privNet = `<network>
  <name>t-priv</name>
  <forward mode='private'>
    <interface dev='eth4'/>
    <interface dev='eth5'/>
    <interface dev='eth6'/>
  </forward>
  <portgroup name='qbh'>
    <virtualport type='802.1Qbh'>
      <parameters profileid='torture'/>
    </virtualport>
  </portgroup>
</network>`
	bridgeNet = `<network>
  <name>t-bridge</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>`
)

const passNICs = 8

var networks = []string{"t-bridge", "t-pass", "t-priv", "t-vepa"}

// guest is one storm guest and what the harness (playing libvirt) knows
// about it.
type guest struct {
	*rig.Guest
	qemu *rig.QEMU // non-nil while it runs
}

func (g *guest) running() bool { return g.qemu != nil }

// pickIface chooses a network for one interface.
func pickIface(rnd *rand.Rand, mac string) rig.Iface {
	switch x := rnd.IntN(100); {
	case x < 40:
		return rig.Iface{Network: "t-vepa", MAC: mac}
	case x < 65:
		return rig.Iface{Network: "t-bridge", MAC: mac}
	case x < 80:
		return rig.Iface{Network: "t-priv", MAC: mac}
	case x < 90:
		return rig.Iface{Network: "t-priv", Portgroup: "qbh", MAC: mac}
	default:
		return rig.Iface{Network: "t-pass", MAC: mac}
	}
}

type harness struct {
	t       *testing.T
	r       *rig.Rig
	clients []*busapi.Client
	c       *busapi.Client // for checks

	mu       sync.Mutex
	running  map[string]*guest // by UUID: guests whose QEMU runs
	problems []string

	killed atomic.Bool
	calls  atomic.Int64
}

func (h *harness) problem(format string, a ...any) {
	h.mu.Lock()
	h.problems = append(h.problems, fmt.Sprintf(format, a...))
	h.mu.Unlock()
}

// TestKillStorm: TRIALS storms, each killed at a random moment (after a
// random number of completed calls), then restart and verification.
func TestKillStorm(t *testing.T) {
	seed := uint64(rig.EnvInt("TORTURE_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("TORTURE_SEED=%d TRIALS=%d TORTURE_GUESTS=%d race=%v", seed, trials, nGuests, race)
	rnd := rand.New(rand.NewPCG(seed, 0x70127))

	r := rig.New(t, rig.Options{NICs: 7, PassNICs: passNICs, Bridge: true, Tmpfs: true, Race: race})
	r.Define("t-vepa", vepaNet)
	r.Define("t-priv", privNet)
	r.Define("t-bridge", bridgeNet)
	r.Define("t-pass", rig.PoolNetwork("t-pass", "passthrough", "pt", passNICs))
	// A short reconcile interval so periodic recovery runs during storms.
	r.Args = []string{"--reconcile-interval", "2s"}
	r.Start()
	h := &harness{t: t, r: r, running: map[string]*guest{}}
	h.dial()
	t.Cleanup(func() {
		for _, g := range h.running {
			g.qemu.Stop()
		}
	})

	failed := 0
	var kills []string
	for trial := 1; trial <= trials; trial++ {
		h.problems = nil
		killAt := int64(1 + rnd.IntN(nGuests*3/2))
		t0 := time.Now()
		stats := h.storm(trial, rnd, killAt)
		stormTime := time.Since(t0)
		if r.Alive() {
			// The storm ended before the chosen call: kill it now.
			h.killed.Store(true)
			r.Kill()
			stats += " (killed after the storm)"
		}
		if rnd.IntN(3) == 0 {
			// The restarted daemon dies too, during its own recovery.
			d := time.Duration(rnd.IntN(3000)) * time.Millisecond
			ready, err := r.StartAndKill(d)
			if err != nil {
				t.Fatal(err)
			}
			stats += fmt.Sprintf("; restart killed after %s (%s)", d, map[bool]string{true: "after READY", false: "during recovery"}[ready])
		}
		t1 := time.Now()
		r.Start()
		ready := time.Since(t1)
		h.dial()
		h.verify(trial)
		kills = append(kills, fmt.Sprintf("%d", killAt))
		if len(h.problems) > 0 {
			failed++
			t.Errorf("trial %d (kill after call %d): %d problem(s):\n  %s", trial, killAt, len(h.problems), strings.Join(h.problems, "\n  "))
			h.repair()
		}
		t.Logf("trial %d/%d: kill after call %d; %s; storm %s, restart to READY %s; %d guests running; %s",
			trial, trials, killAt, stats, stormTime.Round(time.Millisecond), ready.Round(time.Millisecond),
			len(h.running), map[bool]string{true: "OK", false: "FAILED"}[len(h.problems) == 0])
	}

	// Finally everything stops: nothing may remain.
	h.problems = nil
	h.stopAll()
	h.verify(trials + 1)
	if n := len(h.running); n != 0 {
		h.problem("%d guests still marked running", n)
	}
	if len(h.problems) > 0 {
		t.Errorf("after releasing everything: %d problem(s):\n  %s", len(h.problems), strings.Join(h.problems, "\n  "))
	}
	t.Logf("%d of %d trials failed", failed, trials)
}

// dial (re)connects the storm's and the checks' clients.
func (h *harness) dial() {
	for _, c := range h.clients {
		c.Close()
	}
	h.clients = nil
	for range nConns {
		c, err := busapi.Dial(120 * time.Second)
		if err != nil {
			h.t.Fatal(err)
		}
		h.clients = append(h.clients, c)
	}
	h.c = h.clients[0]
	h.killed.Store(false)
	h.calls.Store(0)
}

// call makes one Manager call and counts it; the killAt-th completed call
// triggers the kill -9.
func (h *harness) call(i int, killAt int64, method string, out []any, args ...any) error {
	err := h.clients[i%len(h.clients)].Call(method, out, args...)
	if n := h.calls.Add(1); n == killAt {
		// A little jitter so the kill does not always land just after a
		// reply.
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		h.killed.Store(true)
		h.r.Kill()
	}
	return err
}

// storm starts nGuests new guests and stops about half of the guests
// already running, all at once; it returns a summary.
func (h *harness) storm(trial int, rnd *rand.Rand, killAt int64) string {
	type plan struct {
		g         *guest
		start     bool // new guest: prepare, run
		stop      bool // then (or for a running guest: only) stop and release
		crash     bool // the QEMU dies without libvirt removing its pid file
		delay     time.Duration
		release   bool
		reconnect bool
	}
	var plans []*plan
	for i := range nGuests {
		n := 1 + rnd.IntN(2)
		var ifs []rig.Iface
		for k := range n {
			ifs = append(ifs, pickIface(rnd, rig.MAC(uint8(trial%256), uint32(i*2+k))))
		}
		g, err := rig.NewGuest(fmt.Sprintf("t%d-g%d", trial, i), rig.UUID(uint32(trial), uint64(i)), ifs...)
		if err != nil {
			h.t.Fatal(err)
		}
		plans = append(plans, &plan{g: &guest{Guest: g}, start: true, stop: rnd.IntN(2) == 0,
			crash: rnd.IntN(20) == 0, delay: time.Duration(rnd.IntN(50)) * time.Millisecond})
	}
	for _, g := range h.running {
		switch x := rnd.IntN(10); {
		case x < 5:
			plans = append(plans, &plan{g: g, stop: true, crash: rnd.IntN(20) == 0,
				delay: time.Duration(rnd.IntN(50)) * time.Millisecond})
		case x < 7:
			// libvirtd restarted: it reconnects the running guest.
			plans = append(plans, &plan{g: g, reconnect: true})
		}
	}
	rnd.Shuffle(len(plans), func(i, j int) { plans[i], plans[j] = plans[j], plans[i] })

	var prepOK, prepFail, exhausted, relOK, relFail, reconOK, reconFail atomic.Int64
	var wg sync.WaitGroup
	for i, p := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := p.g
			if p.start {
				var st string
				err := h.call(i, killAt, "PrepareDomain", []any{&st}, string(g.FormB))
				switch {
				case err == nil:
					prepOK.Add(1)
					// libvirt goes on to start QEMU once the hook said yes.
					q, qerr := rig.StartQEMUNoCleanup(h.r.Libvirt, g.Guest)
					if qerr != nil {
						h.problem("starting fake QEMU of %s: %v", g.Name, qerr)
						return
					}
					h.mu.Lock()
					g.qemu = q
					h.running[g.UUID] = g
					h.mu.Unlock()
				case apierr.KindOf(err) == apierr.PoolExhausted:
					exhausted.Add(1)
					p.stop = false
					p.release = true
				default:
					prepFail.Add(1)
					if !h.killed.Load() {
						h.problem("PrepareDomain %s before the kill: %v", g.Name, err)
					}
					p.stop = false
					p.release = true
				}
			}
			if p.reconnect {
				var st string
				if err := h.call(i, killAt, "ReconnectDomain", []any{&st}, string(g.FormB)); err != nil {
					reconFail.Add(1)
					if !h.killed.Load() {
						h.problem("ReconnectDomain %s before the kill: %v", g.Name, err)
					}
				} else {
					reconOK.Add(1)
				}
			}
			if p.stop {
				time.Sleep(p.delay)
				h.mu.Lock()
				q := g.qemu
				g.qemu = nil
				delete(h.running, g.UUID)
				h.mu.Unlock()
				if p.crash {
					q.Crash()
				} else {
					q.Stop()
				}
				p.release = true
			}
			if p.release {
				// libvirt runs the release hook whenever a start fails or a
				// guest stops.
				if err := h.call(i, killAt, "ReleaseDomain", nil, g.UUID); err != nil {
					relFail.Add(1)
					if !h.killed.Load() {
						h.problem("ReleaseDomain %s before the kill: %v", g.Name, err)
					}
				} else {
					relOK.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return fmt.Sprintf("prepare ok %d, exhausted %d, failed %d; release ok %d, failed %d; reconnect ok %d, failed %d",
		prepOK.Load(), exhausted.Load(), prepFail.Load(), relOK.Load(), relFail.Load(), reconOK.Load(), reconFail.Load())
}

// verify compares the restarted daemon's view with the truth: the state
// files must be exactly those of the running guests, the counts what those
// files give, every link accounted for, no exclusive device shared, and
// every free passthrough device back on its own MAC.
func (h *harness) verify(trial int) {
	if !h.r.Alive() {
		h.problem("virtswitchd is not running")
		return
	}
	entries, stray, err := rig.ReadState(h.r.State)
	if err != nil {
		h.problem("reading the state dir: %v", err)
		return
	}
	if len(stray) > 0 {
		h.problem("stray files in the state dir: %v", stray)
	}
	// 1. State files = running guests.
	byUUID := map[string]rig.StateEntry{}
	for _, e := range entries {
		byUUID[e.UUID] = e
		if h.running[e.UUID] == nil {
			h.problem("state file of %s (%s), which does not run", e.UUID, e.Domain.Name)
		}
	}
	for u, g := range h.running {
		if _, ok := byUUID[u]; !ok {
			h.problem("running guest %s (%s) has no state file", g.Name, u)
		}
	}
	// 2. Counts = the truth from the state files, in the core and in the
	// D-Bus properties (updated by a worker: give it a moment).
	truth := rig.Truth(entries, networks)
	got, err := rig.StatusCounts(h.c)
	if err != nil {
		h.problem("reading counts: %v", err)
	}
	for _, n := range networks {
		if !got[n].Equal(truth[n]) {
			h.problem("network %s counts %s, truth from the state files %s", n, got[n], truth[n])
		}
	}
	var props map[string]rig.Counts
	for try := 0; try < 50; try++ {
		props, err = rig.PropertyCounts(h.c)
		if err == nil && sameAll(props, truth) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		h.problem("reading properties: %v", err)
	} else if !sameAll(props, truth) {
		for _, n := range networks {
			if !props[n].Equal(truth[n]) {
				h.problem("network %s properties say %s, truth %s", n, props[n], truth[n])
			}
		}
	}
	// 3. Links: every vsw link is recorded by a state file and matches it;
	// every recorded link exists.
	links, err := rig.Links(h.r.NS.Handle())
	if err != nil {
		h.problem("listing links: %v", err)
		return
	}
	recorded := map[string]bool{}
	for _, e := range entries {
		for _, p := range e.Domain.Ports {
			recorded[p.Target] = true
			a := e.Actual[p.Target]
			l, ok := links[p.Target]
			switch {
			case !ok:
				h.problem("%s (%s): link %s is missing", e.Domain.Name, e.UUID, p.Target)
			case a.Type == "direct" && (l.Kind != "macvtap" || l.Lower != a.Dev || l.Mode != a.Mode):
				h.problem("%s: link %s is %s on %s mode %s, state says macvtap on %s mode %s", e.Domain.Name, p.Target, l.Kind, l.Lower, l.Mode, a.Dev, a.Mode)
			case a.Type == "bridge" && (l.Kind != "tuntap" || l.Master != a.Bridge):
				h.problem("%s: link %s is %s in %s, state says tap in %s", e.Domain.Name, p.Target, l.Kind, l.Master, a.Bridge)
			}
		}
	}
	var leaked []string
	for name := range links {
		if strings.HasPrefix(name, "vsw") && !recorded[name] {
			leaked = append(leaked, name)
		}
	}
	sort.Strings(leaked)
	if len(leaked) > 0 {
		h.problem("%d link(s) no state file records: %v", len(leaked), leaked)
	}
	// 4. Exclusive devices: one holder, nobody else on the device.
	type use struct{ excl, shared []string }
	uses := map[string]*use{}
	for _, e := range entries {
		for _, p := range e.Domain.Ports {
			a := e.Actual[p.Target]
			if a.Type != "direct" {
				continue
			}
			u := uses[a.Dev]
			if u == nil {
				u = &use{}
				uses[a.Dev] = u
			}
			who := e.Domain.Name + "/" + p.MAC
			if exclusive(a) {
				u.excl = append(u.excl, who)
			} else {
				u.shared = append(u.shared, who)
			}
		}
	}
	for dev, u := range uses {
		if len(u.excl) > 1 || (len(u.excl) == 1 && len(u.shared) > 0) {
			h.problem("exclusive device %s shared: exclusive %v, shared %v", dev, u.excl, u.shared)
		}
	}
	// 5. Passthrough devices: the guest's MAC while held, their own after.
	for i := range passNICs {
		dev := fmt.Sprintf("pt%d", i)
		want := rig.PassMAC(i)
		for _, e := range entries {
			for _, p := range e.Domain.Ports {
				if a := e.Actual[p.Target]; a.Type == "direct" && a.Mode == "passthrough" && a.Dev == dev {
					want = strings.ToLower(p.MAC)
					if a.SavedMAC != rig.PassMAC(i) {
						h.problem("%s: state saved MAC %q for %s, its own is %s", e.Domain.Name, a.SavedMAC, dev, rig.PassMAC(i))
					}
				}
			}
		}
		if got := links[dev].MAC; got != want {
			h.problem("passthrough device %s has MAC %s, want %s", dev, got, want)
		}
	}
}

func exclusive(a xmlrewrite.Actual) bool {
	if a.Mode == "passthrough" {
		return true
	}
	return a.Mode == "private" && a.VirtualPort != nil && a.VirtualPort.Type == "802.1Qbh"
}

func sameAll(a, b map[string]rig.Counts) bool {
	for _, n := range networks {
		if !a[n].Equal(b[n]) {
			return false
		}
	}
	return true
}

// stopAll stops every running guest and releases it (no kill).
func (h *harness) stopAll() {
	for u, g := range h.running {
		g.qemu.Stop()
		g.qemu = nil
		delete(h.running, u)
		if err := h.c.Call("ReleaseDomain", nil, u); err != nil {
			h.problem("ReleaseDomain %s: %v", g.Name, err)
		}
	}
}

// repair brings the host back to a clean state after a failed trial so
// the next trial starts from something known: every guest stops, the
// daemon is restarted (its recovery releases them), leftovers are removed
// by hand and the passthrough MACs reset.
func (h *harness) repair() {
	for u, g := range h.running {
		g.qemu.Stop()
		delete(h.running, u)
	}
	h.r.Kill()
	h.r.Start()
	h.dial()
	hd := h.r.NS.Handle()
	links, err := rig.Links(hd)
	if err != nil {
		h.t.Fatal(err)
	}
	for name := range links {
		if strings.HasPrefix(name, "vsw") {
			if l, err := hd.LinkByName(name); err == nil {
				hd.LinkDel(l)
			}
		}
	}
	for i := range passNICs {
		h.r.NS.SetMAC(h.t, fmt.Sprintf("pt%d", i), rig.PassMAC(i))
	}
	entries, _, _ := rig.ReadState(h.r.State)
	if len(entries) > 0 {
		h.t.Fatalf("repair: %d state files remain after recovery with nothing running", len(entries))
	}
}
