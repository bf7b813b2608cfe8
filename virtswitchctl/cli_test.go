package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 15 point 5: the CLI behaves like a Unix tool.
func TestUnixToolBehaviour(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errOut := ctl(t, "", args...)
		if code != 0 || !strings.Contains(out, "usage: virtswitchctl") || !strings.Contains(out, "net-define") || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if code, out, _ := ctl(t, "", "--version"); code != 0 || out != "virtswitchctl "+version+"\n" {
		t.Errorf("--version: %d %q", code, out)
	}
	for _, args := range [][]string{{"define", "--help"}, {"--help", "define"}} {
		if code, out, _ := ctl(t, "", args...); code != 0 || !strings.HasPrefix(out, "usage: virtswitchctl define FILE|-") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	if code, _, errOut := ctl(t, ""); code != 2 || !strings.Contains(errOut, "usage:") {
		t.Errorf("no verb: %d %q", code, errOut)
	}
	if code, _, errOut := ctl(t, "", "--config-dir"); code != 2 || !strings.Contains(errOut, "--config-dir needs a value") {
		t.Errorf("--config-dir without value: %d %q", code, errOut)
	}

	// No bus at all, and a bus without virtswitchd: both say how to start it.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	t.Setenv("VIRTSWITCH_TIMEOUT", "5s")
	if code, _, errOut := ctl(t, "", "net-list"); code != 1 || !strings.Contains(errOut, "systemctl start dbus virtswitchd") {
		t.Errorf("net-list without a bus: %d %q", code, errOut)
	}

	// One reader, one limit, for every verb that reads a document.
	big := filepath.Join(t.TempDir(), "big.xml")
	if err := os.WriteFile(big, make([]byte, maxInput+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"net-validate", "net-define", "domain-encode", "domain-decode", "define", "create", "domain-check"} {
		code, _, errOut := ctl(t, "", verb, big, "--config-dir", t.TempDir())
		if code != 1 || !strings.Contains(errOut, "larger than 10485760 bytes") {
			t.Errorf("%s of an 10 MiB + 1 file: %d %q", verb, code, errOut)
		}
	}
}

// Issue 15 point 4: encode tells the user about a portgroup this host's
// network lacks (still encoding), on stderr.
func TestEncodeWarnsMissingPortgroup(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "red-network.xml"),
		[]byte("<network><name>red-network</name><forward mode='vepa' dev='eth1'/><portgroup name='sales'/></network>"), 0o644)
	code, out, errOut := ctl(t, domFormA, "--config-dir", dir, "domain-encode")
	if code != 0 || !strings.Contains(out, "target dev='vswdeadbeefcafe' managed='no'") {
		t.Fatalf("encode: %d %q\n%s", code, errOut, out)
	}
	want := "virtswitchctl: warning: virtswitch network 'red-network' has no portgroup 'engineering' on this host (interface de:ad:be:ef:ca:fe): " +
		"encoded anyway, the guest may start on another host; starting it here would fail\n"
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "network 'default' is not a virtswitch network here") {
		t.Errorf("stderr %q\nlacks %q", errOut, want)
	}
}
