package rig

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// Iface is one guest interface in Form A terms.
type Iface struct {
	Network, Portgroup, MAC string
}

// Guest is a domain in Form B, as libvirt would hold it.
type Guest struct {
	Name, UUID string
	FormB      []byte
	Ports      []xmlrewrite.Port
}

// NewGuest encodes a small disk-less domain with the given interfaces
// (every network counts as virtswitch's) into Form B.
func NewGuest(name, uuid string, ifaces ...Iface) (*Guest, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "<domain type='kvm'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n", name, uuid)
	b.WriteString("  <memory unit='KiB'>131072</memory>\n  <os>\n    <type arch='x86_64'>hvm</type>\n  </os>\n  <devices>\n")
	for _, i := range ifaces {
		pg := ""
		if i.Portgroup != "" {
			pg = fmt.Sprintf(" portgroup='%s'", i.Portgroup)
		}
		fmt.Fprintf(&b, "    <interface type='network'>\n      <source network='%s'%s/>\n      <mac address='%s'/>\n      <model type='virtio'/>\n    </interface>\n",
			i.Network, pg, i.MAC)
	}
	b.WriteString("  </devices>\n</domain>\n")
	out, changed, err := xmlrewrite.Encode([]byte(b.String()), func(string) bool { return true })
	if err != nil {
		return nil, err
	}
	if !changed {
		return nil, fmt.Errorf("guest %s: nothing encoded", name)
	}
	d, err := xmlrewrite.Inspect(out)
	if err != nil {
		return nil, err
	}
	return &Guest{Name: name, UUID: uuid, FormB: out, Ports: d.Ports}, nil
}

// UUID makes the i-th UUID of a series (series < 2^32, i < 2^48).
func UUID(series uint32, i uint64) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", series, i)
}

// MAC makes the i-th guest MAC of a series (series < 256, i < 2^24).
func MAC(series uint8, i uint32) string {
	return fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", series, byte(i>>16), byte(i>>8), byte(i))
}

// QEMU is a fake QEMU: one small process whose command line carries the
// UUIDs of the guests it stands for (as QEMU's -uuid does), and a NAME.pid
// in the libvirt state dir for each of those guests. The process is `sh -c
// 'read x'` reading a pipe this process holds, so it is a single process
// and exits by itself if the test process dies.
type QEMU struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	pidfile []string
	once    sync.Once
}

// StartQEMU starts one fake QEMU for guests and writes their pid files.
// Grouping many guests on one process keeps 10,000 "running" guests to a
// few hundred processes while each /proc/PID/cmdline stays the size of a
// real QEMU command line (a few KiB); see BENCHMARKS.md.
func StartQEMU(t testing.TB, libvirtDir string, guests ...*Guest) *QEMU {
	t.Helper()
	q, err := startQEMU(libvirtDir, guests...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Stop)
	return q
}

func startQEMU(libvirtDir string, guests ...*Guest) (*QEMU, error) {
	args := []string{"-c", "read x", "qemu-system-x86_64"}
	for _, g := range guests {
		args = append(args, "-name", "guest="+g.Name, "-uuid", g.UUID)
	}
	cmd := exec.Command("sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	q := &QEMU{cmd: cmd, stdin: in}
	pid := []byte(fmt.Sprintf("%d\n", cmd.Process.Pid))
	for _, g := range guests {
		p := filepath.Join(libvirtDir, g.Name+".pid")
		if err := os.WriteFile(p, pid, 0o644); err != nil {
			q.Stop()
			return nil, err
		}
		q.pidfile = append(q.pidfile, p)
	}
	return q, nil
}

// StartQEMUNoCleanup is StartQEMU for callers that stop it themselves
// (the torture starts and stops thousands).
func StartQEMUNoCleanup(libvirtDir string, guests ...*Guest) (*QEMU, error) {
	return startQEMU(libvirtDir, guests...)
}

// Pid is the fake QEMU's pid.
func (q *QEMU) Pid() int { return q.cmd.Process.Pid }

// Stop is the guest ending: the process dies, then (as libvirt does) its
// pid files are removed.
func (q *QEMU) Stop() {
	q.once.Do(func() {
		stopGroup(q.cmd)
		q.stdin.Close()
		for _, p := range q.pidfile {
			os.Remove(p)
		}
	})
}

// Crash kills the process but leaves the pid files (a host where libvirt
// did not get to clean up): the daemon must see a dead pid.
func (q *QEMU) Crash() {
	q.once.Do(func() {
		stopGroup(q.cmd)
		q.stdin.Close()
	})
}

// PoolNetwork is a network definition with a pool of n devices named
// devPrefix0 … devPrefix(n-1), forward mode mode (vepa, passthrough, …).
func PoolNetwork(name, mode, devPrefix string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<network>\n  <name>%s</name>\n  <forward mode='%s'>\n", name, mode)
	for i := range n {
		fmt.Fprintf(&b, "    <interface dev='%s%d'/>\n", devPrefix, i)
	}
	b.WriteString("  </forward>\n</network>\n")
	return b.String()
}
