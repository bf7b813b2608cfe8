package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
)

// 100 concurrent Reserve calls for different guests over the real bus on
// the 8-device passthrough pool: exactly 8 tokens, 92 PoolExhausted, no
// device reserved twice.
func TestReserveRaceOverBus(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	const n = 100
	docs := make([]string, n)
	for i := range docs {
		docs[i] = testenv.DomainXML(fmt.Sprintf("r%d", i), fmt.Sprintf("00000000-0000-4000-8000-%012x", i),
			testenv.FormAInterface("red-pass", "", fmt.Sprintf("52:54:00:ee:%02x:%02x", i/256, i%256), ""))
	}
	toks := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range docs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl, err := busapi.Dial(30 * time.Second) // one connection per caller, as schedulers would
			if err != nil {
				errs[i] = err
				return
			}
			defer cl.Close()
			errs[i] = cl.Call("Reserve", []any{&toks[i]}, docs[i], uint32(600))
		}(i)
	}
	wg.Wait()
	ok, exhausted := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case apierr.KindOf(err) == apierr.PoolExhausted && strings.Contains(err.Error(), "red-pass"):
			exhausted++
		default:
			t.Errorf("r%d: %v", i, err)
		}
	}
	if ok != 8 || exhausted != 92 {
		t.Fatalf("%d tokens, %d PoolExhausted; want 8 and 92", ok, exhausted)
	}
	if got := counts(t, c); !strings.Contains(got, "red-pass=8[eth20:1 eth21:1 eth22:1 eth23:1 eth24:1 eth25:1 eth26:1 eth27:1]") {
		t.Fatalf("counts = %s", got)
	}
	// Reservations are not guests: no link, no domain state.
	if files := testenv.StateFiles(t, e.stateDir); len(files) != 0 {
		t.Fatalf("state files: %v", files)
	}
	for i, tok := range toks {
		if tok == "" {
			continue
		}
		if err := c.Call("CancelReservation", nil, tok); err != nil {
			t.Fatalf("cancel r%d: %v", i, err)
		}
	}
	if got := counts(t, c); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("after cancelling: %s", got)
	}
}

type portCheckReply struct {
	MAC, Network, Portgroup, Device string
	Fits                            bool
	Error, Message                  string
}

func checkDomain(t *testing.T, c *busapi.Client, doc string) (bool, []portCheckReply) {
	t.Helper()
	var fits bool
	var ports []portCheckReply
	if err := c.Call("CheckDomain", []any{&fits, &ports}, doc); err != nil {
		t.Fatalf("CheckDomain: %v", err)
	}
	return fits, ports
}

// CheckDomain, Reserve, the reserved guest's prepare, and the bad inputs
// of the new methods over the bus; non-root callers may check only.
func TestSchedulerFlowOverBus(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	g := encode(t, c, "vm1", "11111111-1111-4111-8111-111111111111",
		testenv.FormAInterface("red-pass", "", "52:54:00:00:01:01", ""),
		testenv.FormAInterface("red-vepa", "engineering", "52:54:00:00:01:02", instanceID))
	fits, ports := checkDomain(t, c, g.formA)
	want := []portCheckReply{
		{MAC: "52:54:00:00:01:01", Network: "red-pass", Device: "eth20", Fits: true},
		{MAC: "52:54:00:00:01:02", Network: "red-vepa", Portgroup: "engineering", Device: "eth10", Fits: true},
	}
	if !fits || fmt.Sprint(ports) != fmt.Sprint(want) {
		t.Fatalf("CheckDomain = %v %+v, want true %+v", fits, ports, want)
	}
	// Anyone may check.
	if out, err := dbusSendAs(t, e.bus, nobody, busapi.RootPath, busapi.ManagerInterface+".CheckDomain", "string:"+g.formA); err != nil || !strings.Contains(out, "boolean true") {
		t.Fatalf("CheckDomain as nobody: %v\n%s", err, out)
	}
	var tok string
	if err := c.Call("Reserve", []any{&tok}, g.formA, uint32(60)); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, c); got != "red-bridge=0 red-pass=1[eth20:1] red-vepa=1[eth10:1]" {
		t.Fatalf("after Reserve: %s", got)
	}
	// Another guest is told where it would go, around the reservation.
	h := encode(t, c, "vm2", "22222222-2222-4222-8222-222222222222", testenv.FormAInterface("red-pass", "", "52:54:00:00:02:01", ""))
	if _, ports := checkDomain(t, c, h.formB); ports[0].Device != "eth21" {
		t.Fatalf("vm2 would get %q, want eth21", ports[0].Device)
	}
	var st string
	if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil || !strings.Contains(st, "<source dev='eth20' mode='passthrough'/>") {
		t.Fatalf("PrepareDomain: %v\n%s", err, st)
	}
	if got := counts(t, c); got != "red-bridge=0 red-pass=1[eth20:1] red-vepa=1[eth10:1]" {
		t.Fatalf("after the reserved prepare: %s", got)
	}
	if err := c.Call("CancelReservation", nil, tok); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("cancel after consumption: %v", err)
	}
	// A drained device: Check says why.
	for i := range 8 {
		if err := c.Call("DrainDevice", nil, "red-pass", fmt.Sprintf("eth2%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	fits, ports = checkDomain(t, c, h.formB)
	if fits || ports[0].Error != apierr.PoolExhausted.DBusName() ||
		ports[0].Message != "domain 'vm2' interface 52:54:00:00:02:01: network 'red-pass' has no usable interface: all 8 are drained" {
		t.Fatalf("CheckDomain with every device drained: %v %+v", fits, ports)
	}

	huge := testenv.DomainXML("big", "33333333-3333-4333-8333-333333333333") + "<!--" + strings.Repeat("x", 5<<20) + "-->"
	for _, tc := range []struct {
		name, method string
		args         []any
		want, says   string
	}{
		{"TTL 0", "Reserve", []any{h.formB, uint32(0)}, errInvalidArgs, "from 1 to 86400 seconds"},
		{"TTL too large", "Reserve", []any{h.formB, uint32(86401)}, errInvalidArgs, "from 1 to 86400 seconds"},
		{"5 MiB to Reserve", "Reserve", []any{huge, uint32(60)}, errInvalidArgs, "4 MiB"},
		{"5 MiB to CheckDomain", "CheckDomain", []any{huge}, errInvalidArgs, "4 MiB"},
		{"unknown token", "CancelReservation", []any{strings.Repeat("0", 32)}, string(apierr.NotFound), "does not exist"},
		{"not a token", "CancelReservation", []any{"../../etc/passwd"}, string(apierr.NotFound), "not a reservation token"},
		{"drain a device not in the network", "DrainDevice", []any{"red-pass", "eth10", true}, string(apierr.NotFound), "network 'red-pass' has no device 'eth10'"},
		{"drain on an unknown network", "DrainDevice", []any{"blue", "eth10", true}, string(apierr.NotFound), "network 'blue' is not defined"},
		{"check a domain without interfaces", "CheckDomain", []any{testenv.DomainXML("x", "33333333-3333-4333-8333-333333333333")}, string(apierr.InvalidXML), "no virtswitch interfaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := counts(t, c)
			drained, _ := os.ReadFile(e.drainFile)
			err := c.Call(tc.method, nil, tc.args...)
			if err == nil {
				t.Fatalf("%s succeeded", tc.method)
			}
			name, msg := errorName(err)
			if name != tc.want || !strings.Contains(msg, tc.says) || strings.Contains(msg, "\n") {
				t.Errorf("error %s %q, want %s mentioning %q", name, msg, tc.want, tc.says)
			}
			if got := counts(t, c); got != before {
				t.Errorf("counts changed: %s -> %s", before, got)
			}
			if after, _ := os.ReadFile(e.drainFile); string(after) != string(drained) {
				t.Errorf("drain file changed: %q -> %q", drained, after)
			}
		})
	}
}

// DeviceStates and FreeDevices: in introspection, emitting
// PropertiesChanged, and the drain kept across a daemon restart.
func TestHealthPropertiesOverBus(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	sigs := watch(t, e.bus)
	path := dbus.ObjectPath(busapi.NetworkPath("red-pass"))
	if v := property(t, c, path, "FreeDevices").(uint32); v != 8 {
		t.Fatalf("FreeDevices = %d", v)
	}
	if err := c.Call("DrainDevice", nil, "red-pass", "eth23", true); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for free, states := false, false; !free || !states; {
		select {
		case s := <-sigs:
			if s.Name == "org.freedesktop.DBus.Properties.PropertiesChanged" && s.Path == path {
				changed := s.Body[1].(map[string]dbus.Variant)
				if v, ok := changed["FreeDevices"]; ok && v.Value().(uint32) == 7 {
					free = true
				}
				if v, ok := changed["DeviceStates"]; ok && strings.Contains(fmt.Sprint(v.Value()), "[eth23 0 false true true]") {
					states = true
				}
			}
		case <-deadline:
			t.Fatal("no PropertiesChanged with FreeDevices=7 and eth23 drained in DeviceStates")
		}
	}
	states := func() string {
		v, err := c.Property(string(path), busapi.NetworkInterface, "DeviceStates")
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(v.Value())
	}
	if s := states(); !strings.Contains(s, "[eth23 0 false true true]") || !strings.Contains(s, "[eth22 0 false true false]") {
		t.Fatalf("DeviceStates = %s", s)
	}
	out, err := exec.Command("busctl", "--address="+e.bus.Address, "introspect", busapi.BusName, string(path)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ".DeviceStates") || !strings.Contains(string(out), "a(subbb)") || !strings.Contains(string(out), ".FreeDevices") {
		t.Fatalf("introspection: %v\n%s", err, out)
	}
	// Restart: the drain is still there (and in the drain file).
	if err := e.d.Term(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	c = dial(t)
	if s := states(); !strings.Contains(s, "[eth23 0 false true true]") {
		t.Fatalf("after restart DeviceStates = %s", s)
	}
	if b, _ := os.ReadFile(e.drainFile); string(b) != "red-pass eth23\n" {
		t.Fatalf("drain file %q", b)
	}
	// The daemon follows carrier from netlink: the "cable" of eth24 (its
	// veth peer) goes down, then up again.
	h := e.ns.Handle()
	if err := h.LinkSetDown(e.ns.Link(t, "wire24")); err != nil {
		t.Fatal(err)
	}
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(states(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("DeviceStates never showed %s: %s", want, states())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitState("[eth24 0 false false false]")
	// Properties change one at a time (DeviceStates before FreeDevices).
	freeBy := time.Now().Add(10 * time.Second)
	for property(t, c, path, "FreeDevices").(uint32) != 6 {
		if time.Now().After(freeBy) {
			t.Fatalf("FreeDevices = %d with eth23 drained and eth24 down, want 6", property(t, c, path, "FreeDevices"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.LinkSetUp(e.ns.Link(t, "wire24")); err != nil {
		t.Fatal(err)
	}
	waitState("[eth24 0 false true false]")
}

// promtool is Debian's prometheus package's checker.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; .ci/run installs it)")
	}
	return p
}

// The metrics: GetMetrics over the bus and /metrics over HTTP on
// loopback carry the same series, and promtool accepts them.
func TestMetrics(t *testing.T) {
	tool := promtool(t)
	e := newEnv(t, testenv.BusOptions{})
	d := e.start(t, "--metrics-address", "127.0.0.1:0")
	c := dial(t)
	defineSeed(t, c)
	gs := seedGuests(t, c)
	for _, g := range gs {
		var st string
		if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
			t.Fatal(err)
		}
	}
	var tok string
	r := encode(t, c, "res", "44444444-4444-4444-8444-444444444444", testenv.FormAInterface("red-pass", "", "52:54:00:44:00:01", ""))
	if err := c.Call("Reserve", []any{&tok}, r.formB, uint32(600)); err != nil {
		t.Fatal(err)
	}
	bad := encode(t, c, "bad", "55555555-5555-4555-8555-555555555555", testenv.FormAInterface("red-vepa", "sales", "52:54:00:55:00:01", ""))
	var st string
	if err := c.Call("PrepareDomain", []any{&st}, bad.formB); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("bad prepare: %v", err)
	}
	if err := c.Call("ReleaseDomain", nil, gs[0].uuid); err != nil {
		t.Fatal(err)
	}
	var text string
	if err := c.Call("GetMetrics", []any{&text}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// eth20 (the first seed guest, released), eth21 (the second), eth22 (the reservation)
		`virtswitch_network_connections{mode="passthrough",network="red-pass"} 2`,
		`virtswitch_network_devices{network="red-pass"} 8`,
		`virtswitch_network_free_devices{network="red-pass"} 6`,
		`virtswitch_device_connections{device="eth20",network="red-pass"} 0`,
		`virtswitch_device_connections{device="eth22",network="red-pass"} 1`,
		`virtswitch_device_carrier{device="eth20",network="red-pass"} 1`,
		`virtswitch_device_drained{device="eth20",network="red-pass"} 0`,
		`virtswitch_allocation_failures_total{kind="NotFound",op="prepare"} 1`,
		`virtswitch_allocation_failures_total{kind="PoolExhausted",op="reserve"} 0`,
		`virtswitch_prepare_duration_seconds_count 4`,
		`virtswitch_release_duration_seconds_count 1`,
		`virtswitch_reservations 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("GetMetrics lacks %q", want)
		}
	}
	check := exec.Command(tool, "check", "metrics")
	check.Stdin = strings.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	// The same over HTTP on loopback.
	m := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(d.Log())
	if m == nil {
		t.Fatalf("no metrics URL in the log:\n%s", d.Log())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `virtswitch_network_connections{mode="passthrough",network="red-pass"} 2`) {
		t.Fatalf("GET %s: %s\n%s", m[1], resp.Status, body)
	}
	check = exec.Command(tool, "check", "metrics")
	check.Stdin = strings.NewReader(string(body))
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics (HTTP): %v\n%s", err, out)
	}
}

const instanceID = "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"

// A metrics address that cannot be bound stops the start with a clear
// error (the daemon never serves half-configured).
func TestMetricsAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := newEnv(t, testenv.BusOptions{})
	d, err := startDaemon(t, e.bus, "--config-dir", e.configDir, "--state-dir", e.stateDir, "--libvirt-state-dir", e.libvirt,
		"--netns", e.ns.Path, "--drain-file", e.drainFile, "--metrics-address", ln.Addr().String())
	if err == nil {
		t.Fatal("the daemon became ready on a taken metrics address")
	}
	<-d.Exited()
	if !strings.Contains(d.Log(), "metrics: listen tcp "+ln.Addr().String()) || !strings.Contains(d.Log(), "address already in use") {
		t.Fatalf("daemon log:\n%s", d.Log())
	}
}
