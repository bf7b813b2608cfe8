package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
)

const seedCounts = "red-bridge=1 red-pass=2[eth20:1 eth21:1] red-vepa=3[eth10:2 eth11:1]"

// Acceptance 1: the seed's networks and three domains over the bus.
func TestSeedOverBus(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	before := e.ns.Snapshot(t)
	e.start(t)
	c := dial(t)
	sigs := watch(t, e.bus)
	defineSeed(t, c)
	gs := seedGuests(t, c)

	for _, g := range gs {
		var st string
		if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
			t.Fatalf("PrepareDomain(%s): %v", g.name, err)
		}
		file, err := os.ReadFile(filepath.Join(e.stateDir, "domains", g.uuid+".xml"))
		if err != nil || string(file) != st {
			t.Fatalf("%s: the state file is not the returned status (%v)", g.name, err)
		}
		var got string
		if err := c.Call("GetDomainStatus", []any{&got}, g.uuid); err != nil || got != st {
			t.Fatalf("GetDomainStatus(%s): %v", g.name, err)
		}
	}
	if got := counts(t, c); got != seedCounts {
		t.Fatalf("counts = %s\nwant     %s", got, seedCounts)
	}

	// GetXMLDesc(1): connections per network and device, as SPEC §3 predicts.
	var path dbus.ObjectPath
	if err := c.Call("LookupNetwork", []any{&path}, "red-vepa"); err != nil || path != dbus.ObjectPath(busapi.NetworkPath("red-vepa")) {
		t.Fatalf("LookupNetwork = %s, %v", path, err)
	}
	var x string
	if err := c.CallOn(string(path), busapi.NetworkInterface+".GetXMLDesc", []any{&x}, uint32(1)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<network connections='3'>", "<interface dev='eth10' connections='2'/>", "<interface dev='eth11' connections='1'/>", "<name>red-vepa</name>"} {
		if !strings.Contains(x, want) {
			t.Errorf("GetXMLDesc(1) lacks %s:\n%s", want, x)
		}
	}
	if err := c.CallOn(string(path), busapi.NetworkInterface+".GetXMLDesc", []any{&x}, uint32(0)); err != nil || strings.Contains(x, "connections") {
		t.Errorf("GetXMLDesc(0) = %v:\n%s", err, x)
	}
	var bad string
	err := c.CallOn(string(path), busapi.NetworkInterface+".GetXMLDesc", []any{&bad}, uint32(4))
	if re, ok := err.(*busapi.RemoteError); !ok || re.Name != errInvalidArgs {
		t.Errorf("GetXMLDesc(4): %v", err)
	}

	// The state files hold SPEC §4's <actual>.
	file, _ := os.ReadFile(filepath.Join(e.stateDir, "domains", gs[0].uuid+".xml"))
	for _, want := range []string{
		"<interface type='network'>",
		"<source network='red-vepa' portgroup='engineering'/>",
		"<actual type='direct'>",
		"<source dev='eth10' mode='vepa'/>",
		"managerid='11' typeid='33' typeidversion='2' instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'",
		"<source dev='eth20' mode='passthrough'/>",
	} {
		if !strings.Contains(string(file), want) {
			t.Errorf("state file of vm1 lacks %s:\n%s", want, file)
		}
	}
	file, _ = os.ReadFile(filepath.Join(e.stateDir, "domains", gs[2].uuid+".xml"))
	if !strings.Contains(string(file), "<actual type='bridge'>") || !strings.Contains(string(file), "<source bridge='br0'/>") {
		t.Errorf("state file of vm3 lacks the bridge <actual>:\n%s", file)
	}
	snap := e.ns.Snapshot(t)
	if l := snap["vswdeadbeefcafe"]; l.Kind != "macvtap" || l.Parent != "eth10" || l.Mode != "vepa" {
		t.Errorf("vswdeadbeefcafe = %+v", l)
	}
	if l := snap["vsw525400000301"]; l.Kind != "tuntap" || l.Master != "br0" {
		t.Errorf("vsw525400000301 = %+v", l)
	}

	// Signals: DomainPrepared per domain, PropertiesChanged on Connections.
	// The last values signalled must be the final counts.
	prepared, last := map[string]string{}, map[string]dbus.Variant{}
	deadline := time.After(10 * time.Second)
	final := func() bool {
		var devs []deviceCount
		dbus.Store([]any{last["Devices"].Value()}, &devs)
		return last["Connections"].Value() == uint32(3) &&
			reflect.DeepEqual(devs, []deviceCount{{"eth10", 2}, {"eth11", 1}})
	}
	for len(prepared) < 3 || !final() {
		select {
		case s := <-sigs:
			switch s.Name {
			case busapi.ManagerInterface + ".DomainPrepared":
				prepared[s.Body[0].(string)] = s.Body[1].(string)
			case "org.freedesktop.DBus.Properties.PropertiesChanged":
				if s.Path == dbus.ObjectPath(busapi.NetworkPath("red-vepa")) && s.Body[0] == busapi.NetworkInterface {
					for k, v := range s.Body[1].(map[string]dbus.Variant) {
						last[k] = v
					}
				}
			}
		case <-deadline:
			t.Fatalf("signals: prepared %v, last PropertiesChanged values on red-vepa %v", prepared, last)
		}
	}
	if prepared[gs[1].uuid] != "vm2" {
		t.Errorf("DomainPrepared: %v", prepared)
	}

	// Undefining a network in use is refused.
	if err := c.Call("UndefineNetwork", nil, "red-vepa"); apierr.KindOf(err) != apierr.InUse {
		t.Errorf("UndefineNetwork in use: %v", err)
	}
	// Released: counts drop, links go, signal.
	if err := c.Call("ReleaseDomain", nil, gs[1].uuid); err != nil {
		t.Fatal(err)
	}
	if got, want := counts(t, c), "red-bridge=1 red-pass=1[eth20:1] red-vepa=2[eth10:2]"; got != want {
		t.Errorf("after release: %s, want %s", got, want)
	}
	for _, g := range []*guest{gs[0], gs[2]} {
		if err := c.Call("ReleaseDomain", nil, g.uuid); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Call("ReleaseDomain", nil, "99999999-9999-9999-9999-999999999999"); err != nil {
		t.Errorf("ReleaseDomain of an unknown UUID: %v", err)
	}
	if d := testenv.Diff(before, e.ns.Snapshot(t)); d != "" {
		t.Errorf("links differ after releasing everything:\n%s", d)
	}
	if err := c.Call("UndefineNetwork", nil, "red-vepa"); err != nil {
		t.Fatal(err)
	}
	if err := c.Call("LookupNetwork", []any{&path}, "red-vepa"); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("LookupNetwork after undefine: %v", err)
	}
	if _, err := c.Property(busapi.NetworkPath("red-vepa"), busapi.NetworkInterface, "Name"); err == nil {
		t.Errorf("object of an undefined network still answers")
	}
	released := 0
	for released < 3 {
		select {
		case s := <-sigs:
			if s.Name == busapi.ManagerInterface+".DomainReleased" {
				released++
			}
		case <-deadline:
			t.Fatalf("%d DomainReleased signals", released)
		}
	}

	// SIGTERM: a clean exit that keeps what guests use.
	var st string
	if err := c.Call("PrepareDomain", []any{&st}, gs[2].formB); err == nil {
		t.Fatal("vm3 names red-vepa, which is gone: PrepareDomain should fail")
	}
	g := encode(t, c, "vm4", "44444444-4444-4444-4444-444444444444", testenv.FormAInterface("red-bridge", "", "52:54:00:00:04:01", ""))
	if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
		t.Fatal(err)
	}
	linksBefore := e.ns.Snapshot(t)
	if err := e.d.Term(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if d := testenv.Diff(linksBefore, e.ns.Snapshot(t)); d != "" {
		t.Errorf("SIGTERM changed links:\n%s", d)
	}
	if files := testenv.StateFiles(t, e.stateDir); len(files) != 1 {
		t.Errorf("state files after SIGTERM: %v", files)
	}
}

// busctl sees every object, interface, method, property and signal.
func TestIntrospection(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	busctl := func(args ...string) string {
		out, err := exec.Command("busctl", append([]string{"--address=" + e.bus.Address}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("busctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tree := busctl("tree", busapi.BusName)
	for _, p := range []string{busapi.RootPath, busapi.NetworkPath("red-vepa"), busapi.NetworkPath("red-pass"), busapi.NetworkPath("red-bridge")} {
		if !strings.Contains(tree, p) {
			t.Errorf("busctl tree lacks %s:\n%s", p, tree)
		}
	}
	root := busctl("introspect", busapi.BusName, busapi.RootPath)
	for _, m := range append(managerMethods, schedMethods...) {
		if !strings.Contains(root, "."+m.name+" ") {
			t.Errorf("root introspection lacks %s:\n%s", m.name, root)
		}
	}
	for _, want := range []string{".DomainPrepared", ".DomainReleased", ".Version", "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Peer", "org.freedesktop.DBus.Introspectable"} {
		if !strings.Contains(root, want) {
			t.Errorf("root introspection lacks %s", want)
		}
	}
	net := busctl("introspect", busapi.BusName, busapi.NetworkPath("red-vepa"))
	for _, want := range []string{".GetXMLDesc", ".Name ", ".UUID ", ".Mode ", ".Connections ", ".Devices ", ".Portgroups ", ".Bridge ", "a(su)", "emits-change", "\"vepa\"", "2 \"accounting\" \"engineering\""} {
		if !strings.Contains(net, want) {
			t.Errorf("network introspection lacks %q:\n%s", want, net)
		}
	}
	if out := busctl("call", busapi.BusName, busapi.RootPath, "org.freedesktop.DBus.Peer", "Ping"); strings.TrimSpace(out) != "" {
		t.Errorf("Ping: %q", out)
	}
	if out := busctl("get-property", busapi.BusName, busapi.RootPath, busapi.ManagerInterface, "Version"); !strings.HasPrefix(out, "s \"") {
		t.Errorf("Version: %q", out)
	}
}

// A second daemon cannot take the name; it fails instead of queueing.
func TestNameTaken(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	e.start(t)
	d2, err := startDaemon(t, e.bus, "--config-dir", e.configDir, "--state-dir", t.TempDir(), "--libvirt-state-dir", e.libvirt, "--netns", e.ns.Path)
	if err == nil {
		t.Fatal("second daemon became ready")
	}
	<-d2.Exited()
	if !strings.Contains(d2.Log(), "already taken") {
		t.Errorf("second daemon's log:\n%s", d2.Log())
	}
}

// sd_notify: the watchdog is fed when WATCHDOG_USEC is set.
func TestWatchdog(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	t.Setenv("WATCHDOG_USEC", "200000")
	d := e.start(t)
	if err := d.WaitNotify("WATCHDOG=1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags(nil, &stderr)
	if err != nil || o.configDir != "/etc/virtswitch/networks" || o.stateDir != "/run/virtswitch" ||
		o.libvirtDir != "/run/libvirt/qemu" || o.netns != "" || o.interval != time.Minute {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = parseFlags([]string{"--config-dir", "/c", "--state-dir=/s", "--libvirt-state-dir", "/l", "--netns", "/run/netns/x", "--reconcile-interval", "5s"}, &stderr)
	if err != nil || o.configDir != "/c" || o.stateDir != "/s" || o.libvirtDir != "/l" || o.netns != "/run/netns/x" || o.interval != 5*time.Second {
		t.Fatalf("parsed: %+v %v", o, err)
	}
	if _, err := parseFlags([]string{"extra"}, &stderr); err == nil {
		t.Errorf("a stray argument was accepted")
	}
	if code := run([]string{"--bogus"}, &stderr); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}
