package testenv

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

// OVS is a real Open vSwitch (Debian's openvswitch-switch) that a test
// started: its own ovsdb-server with a fresh database and its own
// ovs-vswitchd, both in a private directory, ovs-vswitchd inside a test
// network namespace. There is no openvswitch kernel module here, so bridges
// use the userspace datapath (datapath_type=netdev); their ports are
// ordinary links of that namespace.
type OVS struct {
	Dir   string // database, sockets, logs, pid files
	DB    string // the database's socket, for ovs-vsctl --db
	Vsctl string // path of ovs-vsctl

	t        testing.TB
	ns       *NetNS
	db, vsd  *exec.Cmd
	schema   string
	vswitchd string
}

// StartOVS starts ovsdb-server and ovs-vswitchd for ns (see OVS); both are
// stopped (by PID) at clean-up. It skips (fails under CI) when Open vSwitch
// is not installed.
func StartOVS(t testing.TB, ns *NetNS) *OVS {
	t.Helper()
	o := &OVS{t: t, ns: ns}
	tool := Tool(t, "ovsdb-tool", "openvswitch-switch")
	server := Tool(t, "ovsdb-server", "openvswitch-switch")
	o.vswitchd = Tool(t, "ovs-vswitchd", "openvswitch-switch")
	o.Vsctl = Tool(t, "ovs-vsctl", "openvswitch-switch")
	ip := Tool(t, "ip", "iproute2")
	o.schema = "/usr/share/openvswitch/vswitch.ovsschema"
	if _, err := os.Stat(o.schema); err != nil {
		Missing(t, "Open vSwitch schema %s: %v", o.schema, err)
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "vswovs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("Open vSwitch logs kept in %s", dir)
		}
	})
	o.Dir = dir
	o.DB = "unix:" + filepath.Join(dir, "db.sock")
	if out, err := exec.Command(tool, "create", filepath.Join(dir, "conf.db"), o.schema).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	env := append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir, "OVS_SYSCONFDIR="+dir)
	o.db = exec.Command(server, filepath.Join(dir, "conf.db"),
		"--remote=punix:"+filepath.Join(dir, "db.sock"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"))
	o.db.Env = env
	if err := o.db.Start(); err != nil {
		t.Fatalf("starting ovsdb-server: %v", err)
	}
	t.Cleanup(func() { stop(o.db) })
	o.waitFor("ovsdb-server's socket", func() bool {
		_, err := os.Stat(filepath.Join(dir, "db.sock"))
		return err == nil
	})
	o.Run("--no-wait", "init")
	o.StartVswitchd(ip, env)
	return o
}

// StartVswitchd (re)starts ovs-vswitchd in the test namespace.
func (o *OVS) StartVswitchd(ip string, env []string) {
	o.t.Helper()
	if env == nil {
		env = append(os.Environ(), "OVS_RUNDIR="+o.Dir, "OVS_LOGDIR="+o.Dir, "OVS_DBDIR="+o.Dir, "OVS_SYSCONFDIR="+o.Dir)
	}
	if ip == "" {
		ip = Tool(o.t, "ip", "iproute2")
	}
	// ip netns exec execs ovs-vswitchd, so the PID is ovs-vswitchd's.
	o.vsd = exec.Command(ip, "netns", "exec", o.ns.Name, o.vswitchd, o.DB,
		"--unixctl="+filepath.Join(o.Dir, "ovs-vswitchd.ctl"),
		"--log-file="+filepath.Join(o.Dir, "ovs-vswitchd.log"))
	o.vsd.Env = env
	if err := o.vsd.Start(); err != nil {
		o.t.Fatalf("starting ovs-vswitchd: %v", err)
	}
	vsd := o.vsd
	o.t.Cleanup(func() { stop(vsd) })
	// Up when it has read the database: ovs-vsctl without --no-wait waits
	// for it to apply a change.
	o.Run("set", "Open_vSwitch", ".", "external-ids:vswtest=1")
}

// StopVswitchd kills ovs-vswitchd (the database stays up).
func (o *OVS) StopVswitchd() { stop(o.vsd) }

// AddBridge creates an Open vSwitch bridge on the userspace datapath and
// waits for its own device to appear in the namespace.
func (o *OVS) AddBridge(name string) {
	o.t.Helper()
	o.Run("add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev")
	o.waitFor("bridge device "+name, func() bool { return o.ns.HasLink(o.t, name) })
}

// Run runs ovs-vsctl on this database (10 s bound) and returns its output;
// a failure fails the test.
func (o *OVS) Run(args ...string) string {
	o.t.Helper()
	out, err := o.Try(args...)
	if err != nil {
		o.t.Fatalf("ovs-vsctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Try is Run that returns the error instead.
func (o *OVS) Try(args ...string) (string, error) {
	full := append([]string{"--timeout=10", "--db=" + o.DB}, args...)
	out, err := exec.Command(o.Vsctl, full...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func (o *OVS) waitFor(what string, ok func() bool) {
	o.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	o.t.Fatalf("timed out waiting for %s (logs in %s)", what, o.Dir)
}

// stop kills a process this test started, by PID, and reaps it.
func stop(c *exec.Cmd) {
	if c == nil || c.Process == nil || c.ProcessState != nil {
		return
	}
	c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.Process.Kill()
		<-done
	}
}
