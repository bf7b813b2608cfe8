package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

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
	d                            *testenv.Daemon
}

func newEnv(t testing.TB, opt testenv.BusOptions) *env {
	t.Helper()
	testenv.RequireRoot(t)
	e := &env{ns: testenv.NewNetNS(t), bus: testenv.StartBus(t, opt)}
	for i := range 2 {
		e.ns.AddVeth(t, fmt.Sprintf("eth1%d", i), fmt.Sprintf("wire1%d", i))
	}
	for i := range 8 {
		dev := fmt.Sprintf("eth2%d", i)
		e.ns.AddVeth(t, dev, fmt.Sprintf("wire2%d", i))
		e.ns.SetMAC(t, dev, fmt.Sprintf("02:00:00:00:20:%02x", i))
	}
	e.ns.AddBridge(t, "br0")
	e.ns.SetMAC(t, "br0", "02:00:00:00:bb:01")
	root := t.TempDir()
	e.configDir = filepath.Join(root, "networks")
	e.stateDir = filepath.Join(root, "state")
	e.libvirt = filepath.Join(root, "libvirt")
	os.MkdirAll(e.libvirt, 0o755)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", e.bus.Address)
	return e
}

// start runs the daemon on e's dirs and waits for READY=1.
func (e *env) start(t testing.TB, extra ...string) *testenv.Daemon {
	t.Helper()
	args := append([]string{"--config-dir", e.configDir, "--state-dir", e.stateDir,
		"--libvirt-state-dir", e.libvirt, "--netns", e.ns.Path}, extra...)
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

// fakeQEMU pretends libvirt runs a domain: a process whose command line
// carries the UUID (as QEMU's -uuid does) and NAME.pid pointing at it.
func fakeQEMU(t testing.TB, libvirtDir, name, uuid string) (stop func()) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 600; :", "qemu-"+name, "-uuid", uuid)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(libvirtDir, name+".pid")
	if err := os.WriteFile(pidfile, []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			os.Remove(pidfile)
		})
	}
	t.Cleanup(stop)
	return stop
}

// The seed's networks.
const (
	vepaNet = `<network>
  <name>red-vepa</name>
  <forward mode='vepa'>
    <interface dev='eth10'/>
    <interface dev='eth11'/>
  </forward>
  <virtualport type='802.1Qbg'>
    <parameters managerid='11' typeid='1193047' typeidversion='2'/>
  </virtualport>
  <portgroup name='accounting' default='yes'>
    <virtualport>
      <parameters typeid='22'/>
    </virtualport>
  </portgroup>
  <portgroup name='engineering'>
    <virtualport>
      <parameters typeid='33'/>
    </virtualport>
  </portgroup>
</network>`
	bridgeNet = `<network>
  <name>red-bridge</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>`
)

var passNet = func() string {
	var b strings.Builder
	b.WriteString("<network>\n  <name>red-pass</name>\n  <forward mode='passthrough'>\n")
	for i := range 8 {
		fmt.Fprintf(&b, "    <interface dev='eth2%d'/>\n", i)
	}
	b.WriteString("  </forward>\n</network>")
	return b.String()
}()

func domainXML(name, uuid string, ifaces ...string) string {
	return fmt.Sprintf(`<domain type='kvm'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='KiB'>131072</memory>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
%s
  </devices>
</domain>
`, name, uuid, strings.Join(ifaces, "\n"))
}

func iface(network, portgroup, mac, instance string) string {
	pg, vp := "", ""
	if portgroup != "" {
		pg = fmt.Sprintf(" portgroup='%s'", portgroup)
	}
	if instance != "" {
		vp = fmt.Sprintf(`
      <virtualport type='802.1Qbg'>
        <parameters instanceid='%s'/>
      </virtualport>`, instance)
	}
	return fmt.Sprintf(`    <interface type='network'>
      <source network='%s'%s/>
      <mac address='%s'/>%s
      <model type='virtio'/>
    </interface>`, network, pg, mac, vp)
}

type guest struct{ name, uuid, formA, formB string }

// encode converts a Form A domain through the daemon (EncodeDomain).
func encode(t testing.TB, c *busapi.Client, name, uuid string, ifaces ...string) *guest {
	t.Helper()
	g := &guest{name: name, uuid: uuid, formA: domainXML(name, uuid, ifaces...)}
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
	for _, n := range []string{vepaNet, passNet, bridgeNet} {
		var p dbus.ObjectPath
		if err := c.Call("DefineNetwork", []any{&p}, n); err != nil {
			t.Fatalf("DefineNetwork: %v", err)
		}
	}
}

func seedGuests(t testing.TB, c *busapi.Client) []*guest {
	return []*guest{
		encode(t, c, "vm1", "11111111-1111-1111-1111-111111111111",
			iface("red-vepa", "engineering", "de:ad:be:ef:ca:fe", "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"),
			iface("red-pass", "", "52:54:00:00:01:01", "")),
		encode(t, c, "vm2", "22222222-2222-2222-2222-222222222222",
			iface("red-vepa", "", "52:54:00:00:02:01", "2b3c4d5e-0000-4000-8000-000000000002"),
			iface("red-pass", "", "52:54:00:00:02:02", "")),
		encode(t, c, "vm3", "33333333-3333-3333-3333-333333333333",
			iface("red-bridge", "", "52:54:00:00:03:01", ""),
			iface("red-vepa", "engineering", "52:54:00:00:03:02", "2b3c4d5e-0000-4000-8000-000000000003")),
	}
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

func stateFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "domains"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
