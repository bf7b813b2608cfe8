package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/testenv"
)

// The scheduler's verbs against a real daemon on a private bus.
func TestSchedulerVerbs(t *testing.T) {
	testenv.RequireRoot(t)
	bin := testenv.BuildVirtswitchd(t)
	ns := testenv.NewNetNS(t)
	testenv.SeedNICs(t, ns)
	bus := testenv.StartBus(t, testenv.BusOptions{})
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.Address)
	t.Setenv("VIRTSWITCH_TIMEOUT", "20s")
	dir := t.TempDir()
	drainFile := filepath.Join(dir, "lib", "drained")
	if _, err := testenv.StartDaemon(t, bus, testenv.DaemonOptions{Binary: bin, Args: []string{
		"--config-dir", filepath.Join(dir, "networks"), "--state-dir", filepath.Join(dir, "state"),
		"--libvirt-state-dir", filepath.Join(dir, "libvirt"), "--netns", ns.Path, "--drain-file", drainFile}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{testenv.SeedVEPA, testenv.SeedPassthrough, testenv.SeedBridge} {
		if code, _, stderr := ctl(t, n, "net-define", "-"); code != 0 {
			t.Fatalf("net-define: %s", stderr)
		}
	}
	guest := testenv.DomainXML("vm1", "11111111-1111-4111-8111-111111111111",
		testenv.FormAInterface("red-pass", "", "52:54:00:00:01:01", ""),
		testenv.FormAInterface("red-bridge", "", "52:54:00:00:01:02", ""))
	file := filepath.Join(dir, "vm1.xml")
	os.WriteFile(file, []byte(guest), 0o644)

	code, out, stderr := ctl(t, "", "domain-check", file)
	for _, re := range []string{`(?m)^ MAC +Network +Portgroup +Device +Fits +Reason$`,
		`(?m)^ 52:54:00:00:01:01 +red-pass +- +eth20 +yes +$`, `(?m)^ 52:54:00:00:01:02 +red-bridge +- +\(bridge\) +yes +$`} {
		if code != 0 || stderr != "" || !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("domain-check lacks %s: exit %d %q\n%s", re, code, stderr, out)
		}
	}
	code, out, _ = ctl(t, "", "domain-reserve", "--ttl", "120", file)
	tok := strings.TrimSpace(out)
	if code != 0 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(tok) {
		t.Fatalf("domain-reserve: %d %q", code, out)
	}
	// All the other passthrough devices drained: another guest does not
	// fit, and domain-check says why and exits 1.
	for _, d := range []string{"eth21", "eth22", "eth23", "eth24", "eth25", "eth26", "eth27"} {
		if code, out, stderr := ctl(t, "", "net-drain", "red-pass", d); code != 0 || out != "Device "+d+" of network red-pass is drained: it gets no new guests\n" {
			t.Fatalf("net-drain %s: %d %q %q", d, code, out, stderr)
		}
	}
	other := testenv.DomainXML("vm2", "22222222-2222-4222-8222-222222222222", testenv.FormAInterface("red-pass", "", "52:54:00:00:02:01", ""))
	code, out, stderr = ctl(t, other, "domain-check")
	if code != 1 || stderr != "" || !regexp.MustCompile(`(?m)^ 52:54:00:00:02:01 +red-pass +- +- +no +domain 'vm2' interface 52:54:00:00:02:01: network 'red-pass' requires exclusive access to interfaces, but none are available \(7 more are down or drained\)$`).MatchString(out) {
		t.Fatalf("domain-check of a guest that does not fit: %d %q\n%s", code, stderr, out)
	}
	code, out, _ = ctl(t, "", "net-info", "red-pass")
	if code != 0 || !regexp.MustCompile(`(?m)^ eth20 +1 \(exclusive\) +up +no$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^ eth21 +0 +up +yes$`).MatchString(out) || !regexp.MustCompile(`(?m)^Free devices: +0$`).MatchString(out) {
		t.Fatalf("net-info: %d\n%s", code, out)
	}
	if code, out, _ := ctl(t, "", "net-dumpxml", "--status", "red-pass"); code != 0 || !strings.Contains(out, "<interface dev='eth20' connections='1'/>") {
		t.Fatalf("net-dumpxml --status keeps libvirt's shape: %d\n%s", code, out)
	}
	if code, out, _ := ctl(t, "", "net-undrain", "red-pass", "eth21"); code != 0 || out != "Device eth21 of network red-pass is no longer drained\n" {
		t.Fatalf("net-undrain: %d %q", code, out)
	}
	if code, out, _ := ctl(t, "", "reservation-cancel", tok); code != 0 || out != "Reservation "+tok+" cancelled\n" {
		t.Fatalf("reservation-cancel: %d %q", code, out)
	}
	code, out, _ = ctl(t, "", "metrics")
	if code != 0 || !strings.Contains(out, `virtswitch_device_drained{device="eth22",network="red-pass"} 1`) || !strings.Contains(out, "virtswitch_reservations 0\n") {
		t.Fatalf("metrics: %d\n%s", code, out)
	}
	if tool, err := exec.LookPath("promtool"); err == nil {
		check := exec.Command(tool, "check", "metrics")
		check.Stdin = strings.NewReader(out)
		if o, err := check.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, o)
		}
	}

	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"reservation-cancel", tok}, 1, "does not exist"},
		{[]string{"reservation-cancel", "nope"}, 1, "not a reservation token"},
		{[]string{"domain-reserve", "--ttl", "0", file}, 1, "from 1 to 86400 seconds"},
		{[]string{"domain-reserve", "--ttl", "90000", file}, 1, "from 1 to 86400 seconds"},
		{[]string{"domain-reserve", "--ttl", "soon", file}, 2, "not a number of seconds"},
		{[]string{"domain-reserve"}, 2, "usage"},
		{[]string{"domain-check", filepath.Join(dir, "nope.xml")}, 1, "nope.xml"},
		{[]string{"net-drain", "red-pass", "eth10"}, 1, "network 'red-pass' has no device 'eth10'"},
		{[]string{"net-drain", "blue", "eth10"}, 1, "network 'blue' is not defined"},
		{[]string{"net-drain", "red-pass"}, 2, "usage"},
		{[]string{"metrics", "x"}, 2, "usage"},
	} {
		code, out, stderr := ctl(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.says) || out != "" || strings.Count(stderr, "\n") > 2 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d mentioning %q", tc.args, code, out, stderr, tc.code, tc.says)
		}
	}
	if b, _ := os.ReadFile(drainFile); string(b) != "red-pass eth22\nred-pass eth23\nred-pass eth24\nred-pass eth25\nred-pass eth26\nred-pass eth27\n" {
		t.Fatalf("drain file: %q", b)
	}
}
