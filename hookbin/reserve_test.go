package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
)

// The scheduler's flow through the real hook (issue 14): a reservation on
// a one-device passthrough pool keeps another guest out; the reserved
// guest's incoming rewrite (migrate begin) finds its room, and its prepare
// gets the device and consumes the reservation.
func TestReservationThroughHook(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNetNS(t)
	ns.AddVeth(t, "eth20", "wire20")
	bus := testenv.StartBus(t, testenv.BusOptions{})
	root := t.TempDir()
	cfg, lv := filepath.Join(root, "networks"), filepath.Join(root, "libvirt")
	if err := os.MkdirAll(lv, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.StartDaemon(t, bus, testenv.DaemonOptions{
		Binary: testenv.BuildVirtswitchd(t),
		Args: []string{"--config-dir", cfg, "--state-dir", filepath.Join(root, "state"), "--libvirt-state-dir", lv,
			"--netns", ns.Path, "--reconcile-interval", "0", "--drain-file", filepath.Join(root, "drained")},
	}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.Address)
	client, err := busapi.Dial(defaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Call("DefineNetwork", []any{new(any)}, `<network><name>pt</name><forward mode='passthrough' dev='eth20'/></network>`); err != nil {
		t.Fatal(err)
	}
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.Address, "VIRTSWITCH_CONFIG_DIR=" + cfg}
	hook := func(doc, name, op, subop string) result {
		t.Helper()
		return hookRun(t, env, strings.NewReader(doc), name, op, subop, "-")
	}

	const mac = "52:54:00:00:00:11"
	formA := formADoc("mover", mac, "pt")
	formB := formBDoc("mover", "6d1c4a8e-2b0f-4a59-9d53-525400000011", mac, "pt")
	var tok string
	if err := client.Call("Reserve", []any{&tok}, formA, uint32(300)); err != nil {
		t.Fatal(err)
	}
	other := formBDoc("other", "6d1c4a8e-2b0f-4a59-9d53-525400000012", "52:54:00:00:00:12", "pt")
	if r := hook(other, "other", "prepare", "begin"); r.code == 0 || !strings.Contains(r.stderr, "network 'pt' requires exclusive access") {
		t.Fatalf("another guest's prepare on the reserved device: exit %d, stderr %q", r.code, r.stderr)
	}
	hook(other, "other", "release", "end") // as libvirt does after a failed prepare
	r := hook(formA, "mover", "migrate", "begin")
	if r.code != 0 || !strings.Contains(r.stdout, "<virtswitch:port ") || r.stderr != "" {
		t.Fatalf("migrate begin of the reserved guest: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := hook(formB, "mover", "prepare", "begin"); r.code != 0 || r.stderr != "" {
		t.Fatalf("prepare of the reserved guest: exit %d, stderr %q", r.code, r.stderr)
	}
	var st string
	if err := client.Call("GetDomainStatus", []any{&st}, "6d1c4a8e-2b0f-4a59-9d53-525400000011"); err != nil || !strings.Contains(st, "<source dev='eth20' mode='passthrough'/>") {
		t.Fatalf("status: %v\n%s", err, st)
	}
	if err := client.Call("CancelReservation", nil, tok); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("the prepare did not consume the reservation: %v", err)
	}
	var conns any
	v, err := client.Property(busapi.NetworkPath("pt"), busapi.NetworkInterface, "Connections")
	if conns = v.Value(); err != nil || conns != uint32(1) {
		t.Fatalf("Connections = %v %v, want 1 (counted once)", conns, err)
	}
	if r := hook(formB, "mover", "release", "end"); r.code != 0 {
		t.Fatalf("release: %+v", r)
	}
}
