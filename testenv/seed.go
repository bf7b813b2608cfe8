package testenv

// The seed: the networks, fake NICs, domain documents and fake guests that
// the daemon-level tests (vswitch, dbusd, virtswitchctl) share, so that a
// count such as "red-vepa=3[eth10:2 eth11:1]" means the same in each.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The seed's networks, on the NICs SeedNICs makes.
const (
	// SeedVEPA is red-vepa: VEPA over eth10 and eth11 with an 802.1Qbg
	// virtualport, and two portgroups that override its typeid
	// (accounting, the default, 22; engineering 33).
	SeedVEPA = `<network>
  <name>red-vepa</name>
  <forward mode='vepa'>
    <interface dev='eth10'/>
    <interface dev='eth11'/>
  </forward>
  <virtualport type='802.1Qbg'>
    <parameters managerid='11' typeid='1193047' typeidversion='2'/>
  </virtualport>
  <portgroup name='accounting' default='yes'>
    <virtualport>
      <parameters typeid='22'/>
    </virtualport>
  </portgroup>
  <portgroup name='engineering'>
    <virtualport>
      <parameters typeid='33'/>
    </virtualport>
  </portgroup>
</network>`

	// SeedBridge is red-bridge: guests' taps join the host bridge br0.
	SeedBridge = `<network>
  <name>red-bridge</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>`
)

// SeedPassthrough is red-pass: a passthrough pool of 8 NICs (eth20..eth27).
var SeedPassthrough = func() string {
	var b strings.Builder
	b.WriteString("<network>\n  <name>red-pass</name>\n  <forward mode='passthrough'>\n")
	for i := range 8 {
		fmt.Fprintf(&b, "    <interface dev='eth2%d'/>\n", i)
	}
	b.WriteString("  </forward>\n</network>")
	return b.String()
}()

// SeedNICs adds the seed's fake NICs to ns: veths eth10 and eth11 (red-vepa),
// eth20..eth27 with MACs 02:00:00:00:20:0N (red-pass), and the bridge br0
// with MAC 02:00:00:00:bb:01 (red-bridge). The MACs are fixed so tests can
// check that a passthrough NIC gets its own MAC back when released.
func SeedNICs(t testing.TB, ns *NetNS) {
	t.Helper()
	for i := range 2 {
		ns.AddVeth(t, fmt.Sprintf("eth1%d", i), fmt.Sprintf("wire1%d", i))
	}
	for i := range 8 {
		dev := fmt.Sprintf("eth2%d", i)
		ns.AddVeth(t, dev, fmt.Sprintf("wire2%d", i))
		ns.SetMAC(t, dev, fmt.Sprintf("02:00:00:00:20:%02x", i))
	}
	ns.AddBridge(t, "br0")
	ns.SetMAC(t, "br0", "02:00:00:00:bb:01")
}

// DomainXML is a minimal KVM domain document named name with UUID uuid,
// whose <devices> hold ifaces (see FormAInterface) one per line.
func DomainXML(name, uuid string, ifaces ...string) string {
	return fmt.Sprintf(`<domain type='kvm'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='KiB'>131072</memory>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
%s
  </devices>
</domain>
`, name, uuid, strings.Join(ifaces, "\n"))
}

// FormAInterface is an <interface type='network'> as an admin writes it
// (Form A) on network, in portgroup unless that is "", with MAC mac and,
// unless instanceid is "", an 802.1Qbg virtualport carrying instanceid.
func FormAInterface(network, portgroup, mac, instanceid string) string {
	vp := ""
	if instanceid != "" {
		vp = fmt.Sprintf(`
      <virtualport type='802.1Qbg'>
        <parameters instanceid='%s'/>
      </virtualport>`, instanceid)
	}
	return FormAInterfaceRaw(network, portgroup, mac, vp)
}

// FormAInterfaceRaw is FormAInterface with extra, raw XML (a virtualport of
// any kind, or ""), placed right after the <mac> element.
func FormAInterfaceRaw(network, portgroup, mac, extra string) string {
	pg := ""
	if portgroup != "" {
		pg = fmt.Sprintf(" portgroup='%s'", portgroup)
	}
	return fmt.Sprintf(`    <interface type='network'>
      <source network='%s'%s/>
      <mac address='%s'/>%s
      <model type='virtio'/>
    </interface>`, network, pg, mac, extra)
}

// SeedDomain is one of the seed's guests in Form A: DomainXML(Name, UUID,
// Ifaces...) is its document.
type SeedDomain struct {
	Name, UUID string
	Ifaces     []string
}

// SeedDomains are the seed's three guests over its networks. Prepared
// together they count "red-bridge=1 red-pass=2[eth20:1 eth21:1]
// red-vepa=3[eth10:2 eth11:1]". Tests must not modify them.
var SeedDomains = []SeedDomain{
	{"vm1", "11111111-1111-1111-1111-111111111111", []string{
		FormAInterface("red-vepa", "engineering", "de:ad:be:ef:ca:fe", "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"),
		FormAInterface("red-pass", "", "52:54:00:00:01:01", "")}},
	{"vm2", "22222222-2222-2222-2222-222222222222", []string{
		FormAInterface("red-vepa", "", "52:54:00:00:02:01", "2b3c4d5e-0000-4000-8000-000000000002"),
		FormAInterface("red-pass", "", "52:54:00:00:02:02", "")}},
	{"vm3", "33333333-3333-3333-3333-333333333333", []string{
		FormAInterface("red-bridge", "", "52:54:00:00:03:01", ""),
		FormAInterface("red-vepa", "engineering", "52:54:00:00:03:02", "2b3c4d5e-0000-4000-8000-000000000003")}},
}

// StartFakeQEMU pretends libvirt runs domain name: a process whose command
// line carries the UUID (as QEMU's -uuid does) and NAME.pid in libvirtDir
// pointing at it, which is all the daemon looks at to tell a guest is alive.
// stop kills it (the guest dies) and removes the pid file; it may be called
// more than once, and runs at the test's clean-up anyway.
func StartFakeQEMU(t testing.TB, libvirtDir, name, uuid string) (stop func()) {
	t.Helper()
	// "; :" keeps sh from exec'ing sleep, so the argv stays sh's.
	cmd := exec.Command("sh", "-c", "sleep 600; :", "qemu-"+name, "-uuid", uuid)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(libvirtDir, name+".pid")
	if err := os.WriteFile(pidfile, []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// The whole group, so sleep dies with sh.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			os.Remove(pidfile)
		})
	}
	t.Cleanup(stop)
	return stop
}

// StateFiles lists the per-domain state files under the daemon's state
// directory dir (dir/domains), nil if there is none.
func StateFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "domains"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
