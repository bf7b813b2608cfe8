// Package rig is the test bench shared by virtswitch's performance
// benchmarks (bench/) and its kill -9 torture (torture/): a real
// virtswitchd on a private dbus-daemon doing its plumbing in a network
// namespace with veth NICs, guests in Form B, fake QEMU processes that make
// guests "run" for the daemon's liveness check, and the measurements the
// reports need (percentiles, RSS, link and state-file inventories).
//
// Everything a rig creates (namespace, links, processes, mounts, temp dirs)
// is removed by the testing.TB's clean-up.
package rig

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
)

// Options says what a rig's namespace and daemon look like.
type Options struct {
	// NICs is the number of veth "NICs" eth0..eth{N-1} (shared pools).
	NICs int
	// PassNICs is the number of veth "NICs" pt0..pt{N-1} for passthrough
	// pools; pt<i> gets the MAC PassMAC(i), so a test can tell whether a
	// device's own MAC was given back.
	PassNICs int
	// Bridge adds a Linux bridge br0.
	Bridge bool
	// Tmpfs puts the state dir and the libvirt state dir (the pid files)
	// on tmpfs, as /run/virtswitch and /run/libvirt/qemu are on a host.
	// This machine's /run and /tmp are ext4: each state write pays two
	// real fsyncs there, and its page cache is reclaimed within minutes
	// (DAMON pageout of cold memory), so a recovery would read 10,000 pid
	// files back from disk.
	Tmpfs bool
	// Race builds virtswitchd with the race detector.
	Race bool
}

// PassMAC is the own MAC of passthrough NIC pt<i>.
func PassMAC(i int) string { return fmt.Sprintf("02:00:00:00:20:%02x", i) }

// Rig is one daemon's world.
type Rig struct {
	T       testing.TB
	NS      *testenv.NetNS
	Bus     *testenv.Bus
	Root    string // temp dir holding the rest
	Config  string // --config-dir
	State   string // --state-dir
	Libvirt string // --libvirt-state-dir
	Binary  string // virtswitchd
	D       *testenv.Daemon
	Args    []string // extra daemon flags for every start
}

// New builds virtswitchd and sets up the namespace, the bus and the dirs.
// It sets DBUS_SYSTEM_BUS_ADDRESS for the test (busapi.Dial uses it).
func New(t testing.TB, opt Options) *Rig {
	t.Helper()
	testenv.RequireRoot(t)
	r := &Rig{T: t, NS: testenv.NewNetNS(t), Bus: testenv.StartBus(t, testenv.BusOptions{})}
	for i := range opt.NICs {
		r.addNIC(t, fmt.Sprintf("eth%d", i), fmt.Sprintf("wire%d", i))
	}
	for i := range opt.PassNICs {
		dev := fmt.Sprintf("pt%d", i)
		r.addNIC(t, dev, fmt.Sprintf("ptwire%d", i))
		r.NS.SetMAC(t, dev, PassMAC(i))
	}
	if opt.Bridge {
		r.NS.AddBridge(t, "br0")
		r.NS.SetMAC(t, "br0", "02:00:00:00:bb:01")
	}
	r.Root = t.TempDir()
	r.Config = filepath.Join(r.Root, "networks")
	r.State = filepath.Join(r.Root, "state")
	r.Libvirt = filepath.Join(r.Root, "libvirt")
	for _, d := range []string{r.Config, r.State, r.Libvirt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if opt.Tmpfs {
		MountTmpfs(t, r.State)
		MountTmpfs(t, r.Libvirt)
	}
	r.Binary = Build(t, "./dbusd", "virtswitchd", opt.Race)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", r.Bus.Address)
	return r
}

// addNIC is testenv's AddVeth without a clean-up of its own: the links go
// with the namespace, in one batch. Deleting a NIC on its own first would
// delete every macvtap on it one by one (625 per NIC in the 10,000-guest
// benchmark, minutes in all).
func (r *Rig) addNIC(t testing.TB, name, peer string) {
	t.Helper()
	h := r.NS.Handle()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}); err != nil {
		t.Fatalf("creating veth %s/%s: %v", name, peer, err)
	}
	for _, n := range []string{name, peer} {
		l, err := h.LinkByName(n)
		if err == nil {
			err = h.LinkSetUp(l)
		}
		if err != nil {
			t.Fatalf("bringing up %s: %v", n, err)
		}
	}
}

// Build compiles a main package of the module into a temp dir (removed at
// clean-up) and returns the binary's path.
func Build(t testing.TB, pkg, name string, race bool) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name)
	args := []string{"build", "-trimpath", "-o", out}
	env := os.Environ()
	if race {
		args = append(args, "-race")
		env = append(env, "CGO_ENABLED=1")
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// MountTmpfs mounts a tmpfs on dir and unmounts it at clean-up. A tmpfs
// left by a killed run is found by its source name and removed by the next.
func MountTmpfs(t testing.TB, dir string) {
	t.Helper()
	removeStaleMounts()
	src := fmt.Sprintf("virtswitch-bench-%d", os.Getpid())
	if err := unix.Mount(src, dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=512m,mode=0755"); err != nil {
		t.Fatalf("mounting tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
}

func removeStaleMounts() {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "tmpfs" {
			continue
		}
		pidStr, ok := strings.CutPrefix(f[0], "virtswitch-bench-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = unix.Unmount(f[1], unix.MNT_DETACH)
		}
	}
}

// Define writes a network definition file (the daemon reads it at start).
func (r *Rig) Define(name, xml string) {
	r.T.Helper()
	if err := os.WriteFile(filepath.Join(r.Config, name+".xml"), []byte(xml), 0o644); err != nil {
		r.T.Fatal(err)
	}
}

// Start runs virtswitchd and returns the time from exec to READY=1.
func (r *Rig) Start(extra ...string) time.Duration {
	r.T.Helper()
	args := append([]string{"--config-dir", r.Config, "--state-dir", r.State,
		"--libvirt-state-dir", r.Libvirt, "--netns", r.NS.Path}, r.Args...)
	args = append(args, extra...)
	t0 := time.Now()
	d, err := testenv.StartDaemon(r.T, r.Bus, testenv.DaemonOptions{Binary: r.Binary, Args: args})
	el := time.Since(t0)
	if err != nil {
		r.T.Fatal(err)
	}
	r.D = d
	return el
}

// StartAndKill runs virtswitchd and kills it with SIGKILL after d, whether
// or not it got ready: a daemon dying during its own start-up recovery.
// It reports whether the daemon had logged that it was ready.
func (r *Rig) StartAndKill(d time.Duration) (ready bool, err error) {
	args := append([]string{"--config-dir", r.Config, "--state-dir", r.State,
		"--libvirt-state-dir", r.Libvirt, "--netns", r.NS.Path}, r.Args...)
	cmd := exec.Command(r.Binary, args...)
	cmd.Env = r.Bus.Env(os.Environ())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return false, err
	}
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	return strings.Contains(out.String(), "virtswitchd ready"), nil
}

// Kill is kill -9 of the daemon.
func (r *Rig) Kill() {
	if r.D != nil {
		r.D.Kill()
	}
}

// Alive reports whether the daemon process still runs.
func (r *Rig) Alive() bool {
	if r.D == nil {
		return false
	}
	select {
	case <-r.D.Exited():
		return false
	default:
		return true
	}
}

// Pid is the daemon's pid.
func (r *Rig) Pid() int { return r.D.Cmd.Process.Pid }

// RSS is the daemon's resident set (VmRSS) in KiB.
func (r *Rig) RSS() int {
	r.T.Helper()
	kb, err := VmRSS(r.Pid())
	if err != nil {
		r.T.Fatal(err)
	}
	return kb
}

// VmRSS reads /proc/PID/status.
func VmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// Dial connects a client to the rig's bus.
func (r *Rig) Dial() *busapi.Client {
	r.T.Helper()
	c, err := busapi.Dial(60 * time.Second)
	if err != nil {
		r.T.Fatal(err)
	}
	r.T.Cleanup(func() { c.Close() })
	return c
}

// Env is a minimal environment for a hook process, as libvirt gives hooks
// a cleared one; the bus address and config dir are the test's.
func (r *Rig) HookEnv(extra ...string) []string {
	return append([]string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"DBUS_SYSTEM_BUS_ADDRESS=" + r.Bus.Address,
		"VIRTSWITCH_CONFIG_DIR=" + r.Config,
	}, extra...)
}

// StopProcess kills a process group started with Setpgid (helper for the
// fake QEMUs).
func stopGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
}
