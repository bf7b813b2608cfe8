package testenv

// This file: a private dbus-daemon that enforces virtswitch's shipped bus
// policy, and virtswitchd processes on it, for tests of the daemon, the
// hook and the CLI.

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	if err := os.WriteFile(conf, []byte(busConfig(sock, filepath.Join(root, DefaultPolicyFile), policy, opt.Extra)), 0o644); err != nil {
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

// DefaultPolicyFile is a system bus's default policy, relative to the
// module root; every private bus (tests, demo, package test) includes it.
const DefaultPolicyFile = "testenv/system-default.conf"

// busConfig is a system-style bus listening on sock: EXTERNAL auth, the
// default policy of DefaultPolicyFile, then the shipped policy and extra.
func busConfig(sock, defaults, policy, extra string) string {
	return `<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=` + xmlEscape(sock) + `</listen>
  <include>` + xmlEscape(defaults) + `</include>
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

// Daemon is a virtswitchd process started for a test.
type Daemon struct {
	Cmd    *exec.Cmd
	log    *lockedBuffer
	notify chan string // sd_notify messages, in order
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// DaemonOptions says how to start virtswitchd.
type DaemonOptions struct {
	// Binary is the program: BuildVirtswitchd's result, or a test binary
	// that runs the daemon's main when Env tells it to.
	Binary string
	Args   []string
	Env    []string // added to the environment
}

// BuildVirtswitchd builds ./dbusd into a temporary directory (removed at
// clean-up) and returns the binary's path.
func BuildVirtswitchd(t testing.TB) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building virtswitchd needs the go command: %v", err)
	}
	out := filepath.Join(t.TempDir(), "virtswitchd")
	cmd := exec.Command(goBin, "build", "-o", out, "./dbusd")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./dbusd: %v\n%s", err, b)
	}
	return out
}

// StartDaemon starts virtswitchd on bus with NOTIFY_SOCKET set and waits
// until it sends READY=1 (after recovery and taking the bus name). It is
// killed at clean-up, and its log shown if the test failed. An error means
// it exited or did not get ready; the Daemon is returned even then, so its
// log can be inspected.
func StartDaemon(t testing.TB, bus *Bus, opt DaemonOptions) (*Daemon, error) {
	t.Helper()
	// A short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "vswd-notify-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sockPath := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	d := &Daemon{log: &lockedBuffer{}, notify: make(chan string, 64), exited: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				close(d.notify)
				return
			}
			d.notify <- string(buf[:n])
		}
	}()
	args := opt.Args
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--libvirt-socket") }) {
		// Never the host's libvirt: a test names its own (StartLibvirtd).
		args = append(slices.Clip(args), "--libvirt-socket=none")
	}
	cmd := exec.Command(opt.Binary, args...)
	cmd.Env = append(append(bus.Env(os.Environ()), opt.Env...), "NOTIFY_SOCKET="+sockPath)
	cmd.Stdout = d.log
	cmd.Stderr = d.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		sock.Close()
		return nil, err
	}
	d.Cmd = cmd
	go func() {
		d.err = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.Kill()
		sock.Close()
		if t.Failed() {
			t.Logf("virtswitchd log:\n%s", d.Log())
		}
	})
	if err := d.WaitNotify("READY=1", 60*time.Second); err != nil {
		d.Kill()
		return d, fmt.Errorf("%v; log:\n%s", err, d.Log())
	}
	return d, nil
}

// Log is what the daemon wrote so far.
func (d *Daemon) Log() string { return d.log.String() }

// Exited is closed when the process has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.exited }

// WaitNotify waits for an sd_notify message containing want.
func (d *Daemon) WaitNotify(want string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-d.notify:
			if !ok {
				return fmt.Errorf("notify socket closed before %q", want)
			}
			if strings.Contains(m, want) {
				return nil
			}
		case <-d.exited:
			return fmt.Errorf("virtswitchd exited (%v) before %q", d.err, want)
		case <-deadline:
			return fmt.Errorf("no %q from virtswitchd within %s", want, timeout)
		}
	}
}

// Kill is kill -9; it returns once the process is gone.
func (d *Daemon) Kill() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.Cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// Term sends SIGTERM and returns the exit error (nil: exit status 0).
func (d *Daemon) Term(timeout time.Duration) error {
	d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return d.err
	case <-time.After(timeout):
		return fmt.Errorf("virtswitchd did not stop within %s of SIGTERM", timeout)
	}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
