package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
)

// TestWithDaemon runs the hook against a real virtswitchd on a private bus
// with the shipped policy, plumbing into a network namespace of the test's:
// each hook operation must reach the daemon and carry its answer back the
// way libvirt reads it (exit code, stderr, stdout).
func TestWithDaemon(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNetNS(t)
	ns.AddVeth(t, "eth10", "wire10")
	ns.AddVeth(t, "eth20", "wire20")
	bus := testenv.StartBus(t, testenv.BusOptions{})
	root := t.TempDir()
	cfg, state, lv := filepath.Join(root, "networks"), filepath.Join(root, "state"), filepath.Join(root, "libvirt")
	if err := os.MkdirAll(lv, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.StartDaemon(t, bus, testenv.DaemonOptions{
		Binary: testenv.BuildVirtswitchd(t),
		Args: []string{"--config-dir", cfg, "--state-dir", state, "--libvirt-state-dir", lv,
			"--netns", ns.Path, "--reconcile-interval", "0"},
	}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.Address)
	client, err := busapi.Dial(defaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, n := range []string{
		`<network><name>red-network</name><forward mode='vepa' dev='eth10'/></network>`,
		`<network><name>pt</name><forward mode='passthrough' dev='eth20'/></network>`,
	} {
		if err := client.Call("DefineNetwork", []any{new(any)}, n); err != nil {
			t.Fatalf("DefineNetwork: %v", err)
		}
	}
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.Address, "VIRTSWITCH_CONFIG_DIR=" + cfg}
	hook := func(doc string, name, op, subop string) result {
		t.Helper()
		return hookRun(t, env, strings.NewReader(doc), name, op, subop, "-")
	}
	status := func(uuid string) (string, error) {
		var s string
		err := client.Call("GetDomainStatus", []any{&s}, uuid)
		return s, err
	}
	silent := func(what string, r result) {
		t.Helper()
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and silence", what, r.code, r.stdout, r.stderr)
		}
	}

	const u1 = "6d1c4a8e-2b0f-4a59-9d53-0c4f3c0d0001"
	g1 := formBDoc("g1", u1, "52:54:00:00:00:01", "red-network")
	t.Run("prepare, reconnect, release", func(t *testing.T) {
		silent("prepare", hook(g1, "g1", "prepare", "begin"))
		if !ns.HasLink(t, "vsw525400000001") {
			t.Error("prepare made no macvtap")
		}
		if s, err := status(u1); err != nil || !strings.Contains(s, "<source dev='eth10' mode='vepa'/>") {
			t.Errorf("status after prepare: %v\n%s", err, s)
		}
		silent("prepare again", hook(g1, "g1", "prepare", "begin"))
		silent("reconnect", hook(g1, "g1", "reconnect", "begin"))
		silent("release", hook(g1, "g1", "release", "end"))
		if ns.HasLink(t, "vsw525400000001") {
			t.Error("release left the macvtap")
		}
		if _, err := status(u1); err == nil {
			t.Error("state survived release")
		}
		silent("release of a released domain", hook(g1, "g1", "release", "end"))
	})

	t.Run("the daemon's refusal reaches libvirt", func(t *testing.T) {
		a := formBDoc("a", "6d1c4a8e-2b0f-4a59-9d53-0c4f3c0d0002", "52:54:00:00:00:02", "pt")
		b := formBDoc("b", "6d1c4a8e-2b0f-4a59-9d53-0c4f3c0d0003", "52:54:00:00:00:03", "pt")
		silent("prepare a", hook(a, "a", "prepare", "begin"))
		defer hook(a, "a", "release", "end")
		r := hook(b, "b", "prepare", "begin")
		if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "network 'pt' requires exclusive access to interfaces, but none are available") {
			t.Errorf("prepare on a full pool: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		// libvirt runs release after a failed prepare: it must not free a's device.
		silent("release after failed prepare", hook(b, "b", "release", "end"))
		if r := hook(b, "b", "prepare", "begin"); r.code == 0 {
			t.Error("b prepared: releasing the failed b freed a's device")
		}
		r = hook(formADoc("b", "52:54:00:00:00:03", "pt"), "b", "restore", "begin")
		if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "requires exclusive access") {
			t.Errorf("restore onto a full pool: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		r = hook(formBDoc("c", "6d1c4a8e-2b0f-4a59-9d53-0c4f3c0d0004", "52:54:00:00:00:04", "nowhere"), "c", "prepare", "begin")
		if r.code == 0 || !strings.Contains(r.stderr, "'nowhere'") {
			t.Errorf("prepare naming an undefined network: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("reconnect conflict kills, and only then", func(t *testing.T) {
		// A link by the target's name that no state file explains: the
		// daemon cannot tell which device it uses, a real conflict.
		ns.AddVeth(t, "vsw525400000005", "wire5")
		r := hook(formBDoc("d", "6d1c4a8e-2b0f-4a59-9d53-0c4f3c0d0005", "52:54:00:00:00:05", "red-network"), "d", "reconnect", "begin")
		if r.code == 0 || r.stdout != "" || !strings.HasPrefix(r.stderr, "virtswitch: ") || strings.Contains(r.stderr, "warning") {
			t.Errorf("reconnect conflict: exit %d, stdout %q, stderr %q; want a failure", r.code, r.stdout, r.stderr)
		}
		t.Logf("reconnect conflict: %s", r.stderr)
	})

	t.Run("restore rewrites Form A, leaves Form B alone", func(t *testing.T) {
		r := hook(formADoc("g2", "52:54:00:00:00:06", "red-network"), "g2", "restore", "begin")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("restore of Form A: exit %d, stderr %q", r.code, r.stderr)
		}
		for _, want := range []string{"<target dev='vsw525400000006' managed='no'/>", "network='red-network'", NS} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("rewritten XML lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "type='network'") {
			t.Errorf("rewritten XML still has a Form A interface:\n%s", r.stdout)
		}
		if ns.HasLink(t, "vsw525400000006") {
			t.Error("restore rewrite plumbed a link; only prepare may")
		}
		silent("migrate of Form B", hook(g1, "g1", "migrate", "begin"))
	})
}

func formBDoc(name, uuid, mac, network string) string {
	target := "vsw" + strings.ReplaceAll(mac, ":", "")
	return fmt.Sprintf(`<domain type='kvm'>
  <name>%s</name>
  <uuid>%s</uuid>
  <metadata>
    <virtswitch:ports xmlns:virtswitch='%s'>
      <virtswitch:port target='%s' network='%s'/>
    </virtswitch:ports>
  </metadata>
  <devices>
    <interface type='ethernet'>
      <mac address='%s'/>
      <target dev='%s' managed='no'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
`, name, uuid, NS, target, network, mac, target)
}

func formADoc(name, mac, network string) string {
	return fmt.Sprintf(`<domain type='kvm'>
  <name>%s</name>
  <uuid>6d1c4a8e-2b0f-4a59-9d53-%s</uuid>
  <devices>
    <interface type='network'>
      <source network='%s'/>
      <mac address='%s'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
`, name, strings.ReplaceAll(mac, ":", ""), network, mac)
}
