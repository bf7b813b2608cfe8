package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
)

// The test binary doubles as virtswitchd: with this variable set it runs
// the daemon's main instead of the tests, so the daemon is a real process
// (kill -9 is real) built with the same flags (-race) as the tests.
const daemonEnv = "VIRTSWITCHD_TEST_AS_DAEMON"

func TestMain(m *testing.M) {
	if os.Getenv(daemonEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// env is one test's world: a namespace with fake NICs and a bridge, a
// private bus with the shipped policy, and the daemon's directories.
type env struct {
	ns                           *testenv.NetNS
	bus                          *testenv.Bus
	configDir, stateDir, libvirt string
	drainFile                    string
	d                            *testenv.Daemon
}

func newEnv(t testing.TB, opt testenv.BusOptions) *env {
	t.Helper()
	testenv.RequireRoot(t)
	e := &env{ns: testenv.NewNetNS(t), bus: testenv.StartBus(t, opt)}
	testenv.SeedNICs(t, e.ns)
	root := t.TempDir()
	e.configDir = filepath.Join(root, "networks")
	e.stateDir = filepath.Join(root, "state")
	e.libvirt = filepath.Join(root, "libvirt")
	e.drainFile = filepath.Join(root, "lib", "drained")
	os.MkdirAll(e.libvirt, 0o755)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", e.bus.Address)
	return e
}

// start runs the daemon on e's dirs and waits for READY=1.
func (e *env) start(t testing.TB, extra ...string) *testenv.Daemon {
	t.Helper()
	args := append([]string{"--config-dir", e.configDir, "--state-dir", e.stateDir,
		"--libvirt-state-dir", e.libvirt, "--netns", e.ns.Path, "--drain-file", e.drainFile}, extra...)
	d, err := startDaemon(t, e.bus, args...)
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	return d
}

func startDaemon(t testing.TB, bus *testenv.Bus, args ...string) (*testenv.Daemon, error) {
	t.Helper()
	return testenv.StartDaemon(t, bus, testenv.DaemonOptions{Binary: os.Args[0], Args: args, Env: []string{daemonEnv + "=1"}})
}

func dial(t testing.TB) *busapi.Client {
	t.Helper()
	c, err := busapi.Dial(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// watch subscribes to every signal virtswitchd sends.
func watch(t testing.TB, bus *testenv.Bus) chan *dbus.Signal {
	t.Helper()
	conn, err := bus.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.AddMatchSignal(dbus.WithMatchSender(busapi.BusName)); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *dbus.Signal, 1024)
	conn.Signal(ch)
	return ch
}

type guest struct{ name, uuid, formA, formB string }

// encode converts a Form A domain through the daemon (EncodeDomain).
func encode(t testing.TB, c *busapi.Client, name, uuid string, ifaces ...string) *guest {
	t.Helper()
	g := &guest{name: name, uuid: uuid, formA: testenv.DomainXML(name, uuid, ifaces...)}
	if err := c.Call("EncodeDomain", []any{&g.formB}, g.formA); err != nil {
		t.Fatalf("EncodeDomain(%s): %v", name, err)
	}
	if g.formB == g.formA {
		t.Fatalf("EncodeDomain(%s) changed nothing", name)
	}
	return g
}

func defineSeed(t testing.TB, c *busapi.Client) {
	t.Helper()
	for _, n := range []string{testenv.SeedVEPA, testenv.SeedPassthrough, testenv.SeedBridge} {
		var p dbus.ObjectPath
		if err := c.Call("DefineNetwork", []any{&p}, n); err != nil {
			t.Fatalf("DefineNetwork: %v", err)
		}
	}
}

// seedGuests encodes testenv.SeedDomains through the daemon.
func seedGuests(t testing.TB, c *busapi.Client) []*guest {
	var out []*guest
	for _, d := range testenv.SeedDomains {
		out = append(out, encode(t, c, d.Name, d.UUID, d.Ifaces...))
	}
	return out
}

// counts reads every network's Connections and Devices properties over the
// bus: "red-bridge=1 red-pass=2[eth20:1 eth21:1] ...".
func counts(t testing.TB, c *busapi.Client) string {
	t.Helper()
	var paths []dbus.ObjectPath
	if err := c.Call("ListNetworks", []any{&paths}); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, p := range paths {
		name := property(t, c, p, "Name").(string)
		conns := property(t, c, p, "Connections").(uint32)
		s := fmt.Sprintf("%s=%d", name, conns)
		var devs []string
		for _, d := range devices(t, c, p) {
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

func property(t testing.TB, c *busapi.Client, path dbus.ObjectPath, name string) any {
	t.Helper()
	v, err := c.Property(string(path), busapi.NetworkInterface, name)
	if err != nil {
		t.Fatalf("property %s of %s: %v", name, path, err)
	}
	return v.Value()
}

func devices(t testing.TB, c *busapi.Client, path dbus.ObjectPath) []deviceCount {
	t.Helper()
	v, err := c.Property(string(path), busapi.NetworkInterface, "Devices")
	if err != nil {
		t.Fatal(err)
	}
	var out []deviceCount
	if err := dbus.Store([]any{v.Value()}, &out); err != nil {
		t.Fatalf("Devices %v: %v", v, err)
	}
	return out
}

// errorName is the D-Bus error name (our kind, or the bus's name) and the
// message of a failed call.
func errorName(err error) (name, msg string) {
	var re *busapi.RemoteError
	switch {
	case err == nil:
	case apierr.KindOf(err) != "":
		name, msg = string(apierr.KindOf(err)), err.Error()
	case errors.As(err, &re):
		name, msg = re.Name, re.Msg
	default:
		name, msg = "?", err.Error()
	}
	return name, msg
}
