package testenv

// This file: a private dbus-daemon that enforces virtswitch's shipped bus
// policy, for tests of the daemon, the hook and the CLI.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// PolicyFile is the shipped bus policy, relative to the module root.
const PolicyFile = "packaging/dbus/io.github.virtswitch1.conf"

// Bus is a private dbus-daemon configured like a system bus: method calls
// are denied unless a policy allows them, and the only policy it loads is
// virtswitch's shipped file (plus Extra, if given).
type Bus struct {
	// Address is the bus address (unix:path=...), for DBUS_SYSTEM_BUS_ADDRESS.
	Address string
	// Dir holds the config, the socket and bus.log (the daemon's stderr,
	// shown when the test fails); it is world-readable so callers running
	// as another uid can connect.
	Dir string
	cmd *exec.Cmd
}

// BusOptions tunes StartBus.
type BusOptions struct {
	// Extra is raw busconfig XML added after the shipped policy; tests use it
	// to open the bus wider so they can check the daemon's own checks.
	Extra string
}

// ModuleRoot finds the directory holding go.mod, walking up from the
// working directory (go test runs in the package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// StartBus starts a dbus-daemon for the test and stops it (and removes its
// files) in t.Cleanup. It skips the test if dbus-daemon is not installed.
func StartBus(t testing.TB, opt BusOptions) *Bus {
	t.Helper()
	b, err := startBus(opt)
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("dbus-daemon not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(b.Dir, "bus.log")); err == nil && len(log) > 0 {
				t.Logf("dbus-daemon log:\n%s", log)
			}
		}
		b.Stop()
	})
	return b
}

func startBus(opt BusOptions) (*Bus, error) {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		return nil, err
	}
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	policy := filepath.Join(root, PolicyFile)
	if _, err := os.Stat(policy); err != nil {
		return nil, fmt.Errorf("testenv: shipped policy: %v", err)
	}
	dir, err := os.MkdirTemp("", "virtswitch-bus-")
	if err != nil {
		return nil, err
	}
	// MkdirTemp makes 0700; other uids must reach the socket.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sock := filepath.Join(dir, "system_bus_socket")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(busConfig(sock, policy, opt.Extra)), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address=1", "--nopidfile")
	logf, err := os.Create(filepath.Join(dir, "bus.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close() // the child keeps its own copy
	cmd.Stderr = logf
	// Die with the test binary even if it is killed before Cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b := &Bus{Dir: dir, cmd: cmd}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			b.Stop()
			return nil, errors.New("testenv: dbus-daemon printed no address")
		}
		b.Address = a
	case <-time.After(20 * time.Second):
		b.Stop()
		return nil, errors.New("testenv: dbus-daemon did not start")
	}
	return b, nil
}

// busConfig mirrors the parts of Debian's system.conf that matter for
// authorisation: EXTERNAL auth, default deny of ownership and method calls,
// replies and signals allowed, the bus driver reachable by everyone.
func busConfig(sock, policy, extra string) string {
	return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=` + xmlEscape(sock) + `</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>` + xmlEscape(policy) + `</include>
` + extra + `
</busconfig>
`
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")
	return r.Replace(s)
}

// Env returns environ with DBUS_SYSTEM_BUS_ADDRESS pointing at the bus.
func (b *Bus) Env(environ []string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, e := range environ {
		if !strings.HasPrefix(e, "DBUS_SYSTEM_BUS_ADDRESS=") {
			out = append(out, e)
		}
	}
	return append(out, "DBUS_SYSTEM_BUS_ADDRESS="+b.Address)
}

// Connect opens a private connection to the bus as the calling process.
func (b *Bus) Connect() (*dbus.Conn, error) {
	c, err := dbus.Connect(b.Address)
	if err != nil {
		return nil, fmt.Errorf("testenv: connect %s: %v", b.Address, err)
	}
	return c, nil
}

// Stop kills the daemon and removes its files. Safe to call twice.
func (b *Bus) Stop() {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Kill()
		b.cmd.Wait()
		b.cmd = nil
	}
	if b.Dir != "" {
		os.RemoveAll(b.Dir)
	}
}
