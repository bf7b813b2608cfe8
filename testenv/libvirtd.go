package testenv

// This file: a private, real libvirtd for tests that talk to libvirt. It
// runs as uid 65534 in session mode (qemu:///session) with every
// directory under a temp dir, so it shares nothing with the host's
// libvirtd or with other tests: no e2e lock needed. root may connect to
// its socket. One thing it does share: libvirt's hook dir is compiled in
// (/etc/libvirt/hooks), so while `make e2e` has virtswitch's hook
// installed, guests this libvirtd starts run it, as uid 65534 (the bus
// policy refuses it every root method).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LibvirtURI is the URI to open on a Libvirtd's socket.
const LibvirtURI = "qemu:///session"

const nobody = 65534

// Libvirtd is one private libvirtd process (restartable).
type Libvirtd struct {
	Dir    string // HOME and XDG dirs; libvirtd.log
	Socket string // its RPC socket
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartLibvirtd starts a private libvirtd, waits for its socket and stops
// it (and removes its files) in t.Cleanup.
func StartLibvirtd(t testing.TB) *Libvirtd {
	t.Helper()
	RequireRoot(t)
	Tool(t, "libvirtd", "libvirt-daemon")
	Tool(t, "qemu-system-x86_64", "qemu-system-x86")
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"); err != nil {
		Missing(t, "libvirt's QEMU driver not installed (Debian package libvirt-daemon-driver-qemu)")
	}
	dir, err := os.MkdirTemp("", "vsw-libvirtd-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	d := &Libvirtd{Dir: dir, Socket: filepath.Join(dir, "run", "libvirt", "libvirt-sock")}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "libvirtd.log")); err == nil {
				t.Logf("libvirtd log (last 4 KiB):\n%s", tail(log, 4096))
			}
		}
		os.RemoveAll(dir)
	})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	return d
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Start (re)starts the daemon and waits until its socket accepts.
func (d *Libvirtd) Start() error {
	log, err := os.OpenFile(filepath.Join(d.Dir, "libvirtd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("libvirtd", "--timeout", "0")
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + d.Dir,
		"XDG_RUNTIME_DIR=" + filepath.Join(d.Dir, "run"),
		"XDG_CONFIG_HOME=" + filepath.Join(d.Dir, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(d.Dir, "cache"),
		"XDG_DATA_HOME=" + filepath.Join(d.Dir, "data"),
		// Keep libvirt away from the host's buses.
		"DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent",
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: true},
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := os.MkdirAll(filepath.Join(d.Dir, "run"), 0700); err != nil {
		return err
	}
	os.Chown(filepath.Join(d.Dir, "run"), nobody, nobody)
	os.Remove(d.Socket)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting libvirtd: %w", err)
	}
	d.cmd = cmd
	d.exited = make(chan struct{})
	go func(ch chan struct{}) { cmd.Wait(); close(ch) }(d.exited)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(d.Socket); err == nil {
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("libvirtd exited at start; see %s/libvirtd.log", d.Dir)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("libvirtd did not create %s within 30 s", d.Socket)
}

// Stop terminates the daemon (SIGTERM, then SIGKILL after 10 s) and waits.
func (d *Libvirtd) Stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// URI is a virsh -c URI for this daemon.
func (d *Libvirtd) URI() string {
	return "qemu+unix:///session?socket=" + d.Socket
}

// Virsh runs virsh against this daemon; the error carries its output.
func (d *Libvirtd) Virsh(args ...string) (string, error) {
	cmd := exec.Command("virsh", append([]string{"-q", "-c", d.URI()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("virsh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// TCGDomainXML is a small domain for a private Libvirtd (type 'qemu': it
// runs as nobody, without KVM) with ifaces (see FormAInterface) and a VNC
// display with a password (a secure part a redefinition must keep) that
// listens nowhere: no TCP port to collide with the host's guests.
func TCGDomainXML(name, uuid string, ifaces ...string) string {
	return fmt.Sprintf(`<domain type='qemu'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='MiB'>32</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
%s
    <graphics type='vnc' passwd='s3cret'><listen type='none'/></graphics>
  </devices>
</domain>
`, name, uuid, strings.Join(ifaces, "\n"))
}

// Define runs virsh define on doc, failing the test on error.
func (d *Libvirtd) Define(t testing.TB, doc string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "domain.xml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Virsh("define", p); err != nil {
		t.Fatal(err)
	}
}
