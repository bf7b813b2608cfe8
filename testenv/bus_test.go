package testenv

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5"
)

// The shipped policy is what the bus enforces: root may own the name, a
// non-root process may not, and a non-root caller reaches only the
// read-only members.
func TestBusEnforcesShippedPolicy(t *testing.T) {
	RequireRoot(t)
	b := StartBus(t, BusOptions{})
	conn, err := b.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rep, err := conn.RequestName("io.github.virtswitch1", dbus.NameFlagDoNotQueue)
	if err != nil || rep != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("root RequestName = %v, %v", rep, err)
	}
	// Answer every call with an empty reply so the policy alone decides.
	conn.Export(echo{}, "/io/github/virtswitch1", "io.github.virtswitch1.Manager")

	send := func(uid bool, member string) (string, error) {
		args := []string{"--bus=" + b.Address, "--print-reply", "--dest=io.github.virtswitch1",
			"/io/github/virtswitch1", "io.github.virtswitch1.Manager." + member}
		cmd := exec.Command("dbus-send", args...)
		if uid {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		member string
		nobody bool
		denied bool
	}{
		{"ListNetworks", true, false},
		{"ListNetworks", false, false},
		{"PrepareDomain", true, true},
		{"PrepareDomain", false, false},
		{"Reload", true, true},
	} {
		out, err := send(tc.nobody, tc.member)
		denied := strings.Contains(out, "org.freedesktop.DBus.Error.AccessDenied")
		if denied != tc.denied || (!tc.denied && err != nil) {
			t.Errorf("%s as nobody=%v: denied=%v err=%v out=%s", tc.member, tc.nobody, denied, err, out)
		}
	}

	cmd := exec.Command("dbus-send", "--bus="+b.Address, "--print-reply", "--dest=org.freedesktop.DBus",
		"/org/freedesktop/DBus", "org.freedesktop.DBus.RequestName", "string:io.github.virtswitch1", "uint32:4")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "AccessDenied") {
		t.Errorf("nobody could request the name: %s", out)
	}
}

type echo struct{}

func (echo) ListNetworks() *dbus.Error  { return nil }
func (echo) PrepareDomain() *dbus.Error { return nil }
func (echo) Reload() *dbus.Error        { return nil }

func TestStopRemovesFiles(t *testing.T) {
	b := StartBus(t, BusOptions{})
	dir := b.Dir
	b.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("bus dir left behind: %v", err)
	}
}
