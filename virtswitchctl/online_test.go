package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
)

const (
	// guestXML is a bare domain (no <os>, no <model>) on red-vepa, as an
	// admin might write it.
	guestXML = `<domain type='kvm'>
  <name>vm1</name>
  <uuid>11111111-1111-1111-1111-111111111111</uuid>
  <devices>
    <interface type='network'>
      <source network='red-vepa' portgroup='engineering'/>
      <mac address='de:ad:be:ef:ca:fe'/>
      <virtualport type='802.1Qbg'>
        <parameters instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
      </virtualport>
    </interface>
  </devices>
</domain>
`
)

// ctl runs virtswitchctl in-process.
func ctl(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

func TestOnlineVerbs(t *testing.T) {
	testenv.RequireRoot(t)
	bin := testenv.BuildVirtswitchd(t)
	ns := testenv.NewNetNS(t)
	ns.AddVeth(t, "eth10", "wire10")
	ns.AddVeth(t, "eth11", "wire11")
	ns.AddBridge(t, "br0")
	bus := testenv.StartBus(t, testenv.BusOptions{})
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.Address)
	t.Setenv("VIRTSWITCH_TIMEOUT", "20s")
	dir := t.TempDir()
	configDir := filepath.Join(dir, "networks")

	// No daemon yet.
	if code, _, stderr := ctl(t, "", "net-list"); code != 1 || !strings.Contains(stderr, "virtswitchd is not running") {
		t.Fatalf("net-list without daemon: %d %q", code, stderr)
	}
	// Seconds with a fraction, as the hook takes them (one parser: clientenv).
	t.Setenv("VIRTSWITCH_TIMEOUT", "2.5")
	if code, _, stderr := ctl(t, "", "net-list"); code != 1 || !strings.Contains(stderr, "virtswitchd is not running") {
		t.Fatalf("net-list without daemon, VIRTSWITCH_TIMEOUT=2.5: %d %q", code, stderr)
	}
	t.Setenv("VIRTSWITCH_TIMEOUT", "20s")

	if _, err := testenv.StartDaemon(t, bus, testenv.DaemonOptions{Binary: bin, Args: []string{
		"--config-dir", configDir, "--state-dir", filepath.Join(dir, "state"),
		"--libvirt-state-dir", filepath.Join(dir, "libvirt"), "--netns", ns.Path, "--drain-file", filepath.Join(dir, "drained")}}); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(dir, "red-vepa.xml")
	os.WriteFile(file, []byte(testenv.SeedVEPA), 0o644)
	code, out, stderr := ctl(t, "", "net-define", file)
	if code != 0 || out != "Network red-vepa defined from "+file+"\n" || stderr != "" {
		t.Fatalf("net-define: %d %q %q", code, out, stderr)
	}
	if code, out, _ := ctl(t, testenv.SeedBridge, "net-define", "-"); code != 0 || out != "Network red-bridge defined from standard input\n" {
		t.Fatalf("net-define -: %d %q", code, out)
	}
	if code, _, stderr := ctl(t, "<network><name>x</name><forward mode='vepa'/></network>", "net-define", "-"); code != 1 || !strings.Contains(stderr, "network 'x'") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("net-define invalid: %d %q", code, stderr)
	}

	// A guest on red-vepa, prepared as the hook would.
	c, err := busapi.Dial(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var formB, status string
	if err := c.Call("EncodeDomain", []any{&formB}, guestXML); err != nil {
		t.Fatal(err)
	}
	if err := c.Call("PrepareDomain", []any{&status}, formB); err != nil {
		t.Fatal(err)
	}

	code, out, _ = ctl(t, "", "net-list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || len(lines) != 4 || !regexp.MustCompile(`^ red-bridge +bridge +0$`).MatchString(lines[2]) ||
		!regexp.MustCompile(`^ red-vepa +vepa +1$`).MatchString(lines[3]) || !strings.HasPrefix(lines[0], " Name") {
		t.Fatalf("net-list: %d\n%s", code, out)
	}
	// Columns line up with the header, and the rule spans the table.
	if strings.Index(lines[0], "Mode") != strings.Index(lines[2], " bridge")+1 ||
		strings.Index(lines[0], "Connections") != strings.LastIndex(lines[3], " ")+1 ||
		strings.Trim(lines[1], "-") != "" || len(lines[1]) < len(strings.TrimRight(lines[0], " ")) {
		t.Fatalf("net-list columns not aligned:\n%s", out)
	}

	code, out, _ = ctl(t, "", "net-info", "red-vepa")
	for _, re := range []string{`(?m)^Name: +red-vepa$`, `(?m)^UUID: +[0-9a-f-]{36}$`, `(?m)^Mode: +vepa$`,
		`(?m)^Portgroups: +accounting, engineering$`, `(?m)^Connections: +1$`, `(?m)^Free devices: +1$`, `(?m)^ Device +Connections +Carrier +Drained$`,
		`(?m)^ eth10 +1 +up +no$`, `(?m)^ eth11 +0 +up +no$`} {
		if code != 0 || !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("net-info lacks %s:\n%s", re, out)
		}
	}
	// The device table's columns line up with its header.
	if h, r := regexp.MustCompile(`(?m)^ Device +Connections +Carrier +Drained$`).FindString(out), regexp.MustCompile(`(?m)^ eth10 +1 +up +no$`).FindString(out); strings.Index(h, "Carrier") != strings.Index(r, " up")+1 || strings.Index(h, "Drained") != strings.Index(r, " no")+1 {
		t.Errorf("net-info device table not aligned:\n%s", out)
	}
	if code, out, _ := ctl(t, "", "net-info", "red-bridge"); code != 0 || !regexp.MustCompile(`(?m)^Bridge: +br0$`).MatchString(out) || strings.Contains(out, "Device") {
		t.Errorf("net-info red-bridge: %d\n%s", code, out)
	}

	code, out, _ = ctl(t, "", "net-dumpxml", "red-vepa")
	if code != 0 || !strings.Contains(out, "<name>red-vepa</name>") || strings.Contains(out, "connections") {
		t.Errorf("net-dumpxml: %d\n%s", code, out)
	}
	for _, args := range [][]string{{"net-dumpxml", "--status", "red-vepa"}, {"net-dumpxml", "red-vepa", "--status"}} {
		code, out, _ = ctl(t, "", args...)
		if code != 0 || !strings.Contains(out, "<network connections='1'>") || !strings.Contains(out, "<interface dev='eth10' connections='1'/>") {
			t.Errorf("%v: %d\n%s", args, code, out)
		}
	}

	code, out, _ = ctl(t, "", "domain-status", "11111111-1111-1111-1111-111111111111")
	if code != 0 || out != status || !strings.Contains(out, "<actual type='direct'>") {
		t.Errorf("domain-status: %d\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"net-undefine", "red-vepa"}, 1, "in use"},
		{[]string{"net-info", "blue"}, 1, "network 'blue'"},
		{[]string{"net-dumpxml", "blue"}, 1, "network 'blue'"},
		{[]string{"domain-status", "22222222-2222-2222-2222-222222222222"}, 1, "22222222-2222-2222-2222-222222222222"},
		{[]string{"domain-status", "../../etc/x"}, 1, "not a domain UUID"},
		{[]string{"net-define", filepath.Join(dir, "nope.xml")}, 1, "nope.xml"},
		{[]string{"net-list", "x"}, 2, "usage"},
		{[]string{"net-info"}, 2, "usage"},
		{[]string{"net-dumpxml", "--config", "red-vepa"}, 2, "unknown option"},
		{[]string{"net-undefine", "a", "b"}, 2, "usage"},
		{[]string{"reload", "now"}, 2, "usage"},
		{[]string{"domain-status"}, 2, "usage"},
	} {
		code, out, stderr := ctl(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.says) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d mentioning %q", tc.args, code, out, stderr, tc.code, tc.says)
		}
	}

	// An admin drops a file and reloads.
	os.WriteFile(filepath.Join(configDir, "green.xml"), []byte("<network><name>green</name><forward mode='bridge'/><bridge name='br0'/></network>"), 0o644)
	if code, out, stderr := ctl(t, "", "reload"); code != 0 || out != "" || stderr != "" {
		t.Fatalf("reload: %d %q %q", code, out, stderr)
	}
	if _, out, _ := ctl(t, "", "net-list"); !strings.Contains(out, " green ") {
		t.Errorf("net-list after reload:\n%s", out)
	}

	if err := c.Call("ReleaseDomain", nil, "11111111-1111-1111-1111-111111111111"); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := ctl(t, "", "net-undefine", "red-vepa"); code != 0 || out != "Network red-vepa has been undefined\n" {
		t.Errorf("net-undefine: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(configDir, "red-vepa.xml")); !os.IsNotExist(err) {
		t.Errorf("definition file still there: %v", err)
	}

	t.Setenv("VIRTSWITCH_TIMEOUT", "soon")
	if code, _, stderr := ctl(t, "", "net-list"); code != 1 || !strings.Contains(stderr, "VIRTSWITCH_TIMEOUT") {
		t.Errorf("bad timeout: %d %q", code, stderr)
	}
}
