package vswitch

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/virtswitch/virtswitch/plumb"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// fixture: a namespace with the NICs and the bridge, a config dir with the
// three networks defined, a state dir and a libvirt state dir.
type fixture struct {
	ns        *testenv.NetNS
	plumber   *plumb.Plumber
	ovs       *plumb.OVS // set before open() by tests that use Open vSwitch
	configDir string
	stateDir  string
	libvirt   string
	sw        *Switch
	obs       *recorder
}

func newFixture(t *testing.T) *fixture { return newFixtureTB(t) }

func newFixtureTB(t testing.TB) *fixture {
	t.Helper()
	testenv.RequireRoot(t)
	f := &fixture{ns: testenv.NewNetNS(t)}
	testenv.SeedNICs(t, f.ns)
	p, err := plumb.New(f.ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f.plumber = p
	root := t.TempDir()
	f.configDir = filepath.Join(root, "networks")
	f.stateDir = filepath.Join(root, "state")
	f.libvirt = filepath.Join(root, "libvirt")
	os.MkdirAll(f.libvirt, 0o755)
	f.sw = f.open(t)
	for _, n := range []string{testenv.SeedVEPA, testenv.SeedPassthrough, testenv.SeedBridge} {
		if _, err := f.sw.Define([]byte(n)); err != nil {
			t.Fatalf("Define: %v", err)
		}
	}
	return f
}

// open makes a new Switch on the fixture's dirs (a daemon (re)start).
func (f *fixture) open(t testing.TB) *Switch {
	t.Helper()
	f.obs = &recorder{}
	sw, err := Open(Config{
		ConfigDir:       f.configDir,
		StateDir:        f.stateDir,
		LibvirtStateDir: f.libvirt,
		DrainFile:       filepath.Join(filepath.Dir(f.stateDir), "var", "drained"),
		Plumber:         f.plumber,
		OVS:             f.ovs,
		Observer:        f.obs,
		Logger:          slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return sw
}

// restart simulates a daemon restart: a fresh Switch that recovers.
func (f *fixture) restart(t *testing.T) {
	t.Helper()
	f.sw = f.open(t)
	if err := f.sw.Recover(); err != nil {
		t.Fatalf("Recover: %v", err)
	}
}

// guest is a domain document in Form A plus its encoding.
type guest struct {
	name, uuid string
	formA      string
	formB      []byte
}

func newGuest(t *testing.T, f *fixture, name, uuid string, ifaces ...string) *guest {
	return newGuestTB(t, f, name, uuid, ifaces...)
}

func newGuestTB(t testing.TB, f *fixture, name, uuid string, ifaces ...string) *guest {
	t.Helper()
	doc := testenv.DomainXML(name, uuid, ifaces...)
	out, changed, err := xmlrewrite.Encode([]byte(doc), f.sw.HasNetwork)
	if err != nil || !changed {
		t.Fatalf("Encode(%s): changed=%v err=%v", name, changed, err)
	}
	return &guest{name: name, uuid: uuid, formA: doc, formB: out}
}

// run pretends libvirt runs g: a process whose command line carries the
// UUID (as QEMU's -uuid does) and NAME.pid in the libvirt state dir. The
// returned func stops it (the guest dies) and removes the pid file.
func (f *fixture) run(t *testing.T, g *guest) (stop func()) {
	t.Helper()
	return testenv.StartFakeQEMU(t, f.libvirt, g.name, g.uuid)
}

// counts is a compact view of every network's counts:
// "red-bridge=1 red-pass=1[eth20:1] red-vepa=2[eth10:1 eth11:1]".
func counts(sw *Switch) string {
	var parts []string
	for _, n := range sw.Networks() {
		s := fmt.Sprintf("%s=%d", n.Name, n.Connections)
		var devs []string
		for _, d := range n.Devices {
			if d.Connections > 0 {
				devs = append(devs, fmt.Sprintf("%s:%d", d.Device, d.Connections))
			}
		}
		if len(devs) > 0 {
			s += "[" + strings.Join(devs, " ") + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu       sync.Mutex
	networks map[string]int
	prepared []string
	released []string
}

func (r *recorder) NetworksChanged(names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.networks == nil {
		r.networks = map[string]int{}
	}
	for _, n := range names {
		r.networks[n]++
	}
}

func (r *recorder) DomainPrepared(uuid, name string) {
	r.mu.Lock()
	r.prepared = append(r.prepared, uuid)
	r.mu.Unlock()
}

func (r *recorder) DomainReleased(uuid string) {
	r.mu.Lock()
	r.released = append(r.released, uuid)
	r.mu.Unlock()
}

// testWriter sends the Switch's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
