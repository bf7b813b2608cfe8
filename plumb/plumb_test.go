package plumb

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/testenv"
)

const (
	nicMAC   = "02:00:00:00:aa:01" // the fake NIC's own MAC
	guest    = "de:ad:be:ef:ca:fe"
	tapGuest = "fe:ad:be:ef:ca:fe" // the tap's MAC for guest
	target   = "vswdeadbeefcafe"
)

// fixture is a fresh namespace with two fake NICs (eth0, eth1, veths with
// known MACs), a bridge br0, and a Plumber working in it. At clean-up it
// checks that the process's own namespace gained no link of ours and that
// no thread was left in another namespace.
type fixture struct {
	ns *testenv.NetNS
	p  *Plumber
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	hostBefore := testenv.HostSnapshot(t)
	t.Cleanup(func() {
		for name, st := range testenv.HostSnapshot(t) {
			if _, ok := hostBefore[name]; ok {
				continue
			}
			if strings.HasPrefix(name, "vsw") || st.Kind == "macvtap" || st.Kind == "tuntap" {
				t.Errorf("link %s (%s) appeared in the test process's own namespace", name, st.Kind)
			}
		}
		testenv.CheckThreadsInHostNetns(t)
	})
	ns := testenv.NewNetNS(t)
	ns.AddVeth(t, "eth0", "wire0")
	ns.AddVeth(t, "eth1", "wire1")
	ns.SetMAC(t, "eth0", nicMAC)
	ns.SetMAC(t, "eth1", "02:00:00:00:aa:02")
	ns.AddBridge(t, "br0")
	// A set MAC, as host bridges have (or their uplink's): an auto-MAC
	// bridge drops its MAC when its last port leaves, which would blur
	// before/after comparisons.
	ns.SetMAC(t, "br0", "02:00:00:00:bb:01")
	p, err := New(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &fixture{ns: ns, p: p}
}

func modeName(m netlink.MacvlanMode) string {
	for k, v := range macvtapModes {
		if v == m {
			return k
		}
	}
	return fmt.Sprint(m)
}

func TestCreateMacvtap(t *testing.T) {
	for _, mode := range Modes {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			before := f.ns.Snapshot(t)
			lower := f.ns.Link(t, "eth0")

			saved, err := f.p.CreateMacvtap(target, "eth0", mode, guest)
			if err != nil {
				t.Fatal(err)
			}
			l := f.ns.Link(t, target)
			mv, ok := l.(*netlink.Macvtap)
			if !ok {
				t.Fatalf("%s is a %s, want macvtap", target, l.Type())
			}
			if got := modeName(mv.Mode); got != mode {
				t.Errorf("mode %s, want %s", got, mode)
			}
			if mv.ParentIndex != lower.Attrs().Index {
				t.Errorf("lower index %d, want eth0's %d", mv.ParentIndex, lower.Attrs().Index)
			}
			if got := mv.HardwareAddr.String(); got != guest {
				t.Errorf("macvtap MAC %s, want guest MAC %s", got, guest)
			}
			if mv.Flags&net.FlagUp == 0 {
				t.Errorf("macvtap is not up")
			}
			eth0 := f.ns.Link(t, "eth0").Attrs().HardwareAddr.String()
			if mode == "passthrough" {
				if saved != nicMAC {
					t.Errorf("saved MAC %q, want the device's own %s", saved, nicMAC)
				}
				if eth0 != guest {
					t.Errorf("passthrough device MAC %s, want guest MAC %s", eth0, guest)
				}
			} else {
				if saved != "" {
					t.Errorf("saved MAC %q for mode %s, want none", saved, mode)
				}
				if eth0 != nicMAC {
					t.Errorf("device MAC changed to %s in mode %s", eth0, mode)
				}
			}
			if ok, err := f.p.Exists(target); err != nil || !ok {
				t.Errorf("Exists = %v, %v", ok, err)
			}
			if names, err := f.p.List("vsw"); err != nil || len(names) != 1 || names[0] != target {
				t.Errorf("List(vsw) = %v, %v", names, err)
			}

			if err := f.p.Delete(target); err != nil {
				t.Fatal(err)
			}
			if f.ns.HasLink(t, target) {
				t.Fatalf("%s still exists after Delete", target)
			}
			if err := f.p.Delete(target); err != nil {
				t.Errorf("second Delete: %v", err)
			}
			if saved != "" {
				if err := f.p.RestoreMAC("eth0", saved); err != nil {
					t.Fatal(err)
				}
			}
			// Everything exactly as before: same links, indices, MACs, state.
			if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
				t.Errorf("namespace differs after create+delete(+restore):\n%s", d)
			}
		})
	}
}

func TestSharedModesShareDevice(t *testing.T) {
	for _, mode := range []string{"vepa", "private", "bridge"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			for i := range 3 {
				name := fmt.Sprintf("vsw%012x", i+1)
				mac := fmt.Sprintf("52:54:00:00:00:%02x", i+1)
				if _, err := f.p.CreateMacvtap(name, "eth1", mode, mac); err != nil {
					t.Fatal(err)
				}
				if got := f.ns.Link(t, name).Attrs().HardwareAddr.String(); got != mac {
					t.Errorf("%s MAC %s, want %s", name, got, mac)
				}
			}
			names, err := f.p.List("vsw")
			if err != nil || strings.Join(names, ",") != "vsw000000000001,vsw000000000002,vsw000000000003" {
				t.Errorf("List = %v, %v", names, err)
			}
		})
	}
}

func TestPassthroughMACRoundTrip(t *testing.T) {
	f := newFixture(t)
	// An odd own MAC, so a "restore" to some default would show.
	own := "0a:1b:2c:3d:4e:5f"
	f.ns.SetMAC(t, "eth1", own)
	saved, err := f.p.CreateMacvtap(target, "eth1", "passthrough", guest)
	if err != nil {
		t.Fatal(err)
	}
	if saved != own {
		t.Fatalf("saved %q, want %q", saved, own)
	}
	if err := f.p.Delete(target); err != nil {
		t.Fatal(err)
	}
	// Delete alone does not restore: that is the caller's recorded duty.
	if got := f.ns.Link(t, "eth1").Attrs().HardwareAddr.String(); got != guest {
		t.Errorf("after Delete device MAC %s, want still %s", got, guest)
	}
	if err := f.p.RestoreMAC("eth1", saved); err != nil {
		t.Fatal(err)
	}
	if got := f.ns.Link(t, "eth1").Attrs().HardwareAddr.String(); got != own {
		t.Errorf("after RestoreMAC device MAC %s, want %s", got, own)
	}
	if err := f.p.RestoreMAC("eth1", saved); err != nil {
		t.Errorf("repeated RestoreMAC: %v", err)
	}
	// Guest MAC already equal to the device's own: nothing to save or undo.
	saved, err = f.p.CreateMacvtap(target, "eth1", "passthrough", own)
	if err != nil || saved != own {
		t.Fatalf("CreateMacvtap with the device's own MAC = %q, %v", saved, err)
	}
}

// A pool device that is down is brought up with the macvtap (a macvtap on a
// down device has no carrier), and taken down again if the create fails.
func TestDownDeviceBroughtUp(t *testing.T) {
	for _, mode := range Modes {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			if err := f.ns.Handle().LinkSetDown(f.ns.Link(t, "eth1")); err != nil {
				t.Fatal(err)
			}
			before := f.ns.Snapshot(t)
			// Fails on the way up, after the device was brought up: the
			// MAC is the device's own. Passthrough accepts that MAC, so it
			// fails on a bridge port instead (after its MAC change).
			failMAC := "02:00:00:00:aa:02"
			if mode == "passthrough" {
				if err := f.ns.Handle().LinkSetMaster(f.ns.Link(t, "eth1"), f.ns.Link(t, "br0")); err != nil {
					t.Fatal(err)
				}
				before = f.ns.Snapshot(t)
				failMAC = guest
			}
			if _, err := f.p.CreateMacvtap(target, "eth1", mode, failMAC); err == nil {
				t.Fatalf("create with %s on eth1 succeeded, want a failure", failMAC)
			}
			if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
				t.Fatalf("failed create changed the namespace:\n%s", d)
			}
			if mode == "passthrough" {
				if err := f.ns.Handle().LinkSetNoMaster(f.ns.Link(t, "eth1")); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.p.CreateMacvtap(target, "eth1", mode, "52:54:00:00:00:09"); err != nil {
				t.Fatal(err)
			}
			if f.ns.Snapshot(t)["eth1"].Up != true {
				t.Errorf("device eth1 still down after CreateMacvtap")
			}
		})
	}
}

func TestCreateTap(t *testing.T) {
	for _, tc := range []struct {
		queues int
		multi  bool
	}{{0, false}, {1, false}, {4, true}} {
		t.Run(fmt.Sprintf("queues=%d", tc.queues), func(t *testing.T) {
			f := newFixture(t)
			br := f.ns.Link(t, "br0")
			// A bridge MTU other than the tap's default, to see it taken over.
			if err := f.ns.Handle().LinkSetMTU(br, 9000); err != nil {
				t.Fatal(err)
			}
			before := f.ns.Snapshot(t)

			if err := f.p.CreateTap(target, "br0", guest, tc.queues); err != nil {
				t.Fatal(err)
			}
			l := f.ns.Link(t, target)
			tap, ok := l.(*netlink.Tuntap)
			if !ok {
				t.Fatalf("%s is a %s, want tuntap", target, l.Type())
			}
			a := tap.Attrs()
			if tap.Mode != netlink.TUNTAP_MODE_TAP {
				t.Errorf("mode %v, want tap", tap.Mode)
			}
			if tap.NonPersist {
				t.Errorf("tap is not persistent")
			}
			if tap.Flags&netlink.TUNTAP_VNET_HDR == 0 {
				t.Errorf("IFF_VNET_HDR not set (flags %#x)", tap.Flags)
			}
			if got := tap.Flags&netlink.TUNTAP_MULTI_QUEUE != 0; got != tc.multi {
				t.Errorf("multi-queue %v, want %v", got, tc.multi)
			}
			if got := a.HardwareAddr.String(); got != tapGuest {
				t.Errorf("tap MAC %s, want %s", got, tapGuest)
			}
			if a.MasterIndex != br.Attrs().Index {
				t.Errorf("master index %d, want br0's %d", a.MasterIndex, br.Attrs().Index)
			}
			if a.MTU != 9000 {
				t.Errorf("tap MTU %d, want the bridge's 9000", a.MTU)
			}
			if a.Flags&net.FlagUp == 0 {
				t.Errorf("tap is not up")
			}

			// Open it by name as libvirt does for <target managed='no'/>.
			n := max(tc.queues, 1)
			fds := attachTap(t, f.ns, target, n, tc.multi)
			if tc.multi {
				if q := f.ns.Link(t, target).(*netlink.Tuntap).Queues; q != n {
					t.Errorf("%d queues attached, want %d", q, n)
				}
			}
			for _, fd := range fds {
				unix.Close(fd)
			}

			if err := f.p.Delete(target); err != nil {
				t.Fatal(err)
			}
			if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
				t.Errorf("namespace differs after create+delete:\n%s", d)
			}
		})
	}
}

// attachTap opens n queues of an existing tap inside ns, with the flags QEMU
// and libvirt use, failing t if the kernel refuses.
func attachTap(t *testing.T, ns *testenv.NetNS, name string, n int, multi bool) []int {
	t.Helper()
	var fds []int
	err := ns.Do(func() error {
		for range n {
			fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			ifr, err := unix.NewIfreq(name)
			if err != nil {
				return err
			}
			flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
			if multi {
				flags |= unix.IFF_MULTI_QUEUE
			}
			ifr.SetUint16(flags)
			if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
				return fmt.Errorf("attaching to tap %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		t.Fatal(err)
	}
	return fds
}

// checkPlumbingErr asserts err is a one-line Plumbing *apierr.Error whose
// message contains every want.
func checkPlumbingErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", want)
	}
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Kind != apierr.Plumbing {
		t.Errorf("error %T %v is not an apierr Plumbing error", err, err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

func TestFailuresChangeNothing(t *testing.T) {
	macvtap := func(name, lower, mode, mac string) func(*Plumber) error {
		return func(p *Plumber) error {
			saved, err := p.CreateMacvtap(name, lower, mode, mac)
			if err != nil && saved != "" {
				return fmt.Errorf("failed create returned saved MAC %q", saved)
			}
			return err
		}
	}
	tap := func(name, bridge, mac string, queues int) func(*Plumber) error {
		return func(p *Plumber) error { return p.CreateTap(name, bridge, mac, queues) }
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		op    func(*Plumber) error
		want  []string
	}{
		{"missing lower device", nil, macvtap(target, "eth9", "vepa", guest), []string{target, "'eth9'", "does not exist"}},
		{"missing lower device passthrough", nil, macvtap(target, "eth9", "passthrough", guest), []string{"'eth9'", "does not exist"}},
		{"missing bridge", nil, tap(target, "br9", guest, 1), []string{target, "bridge 'br9'", "does not exist"}},
		{"bridge is not a bridge", nil, tap(target, "eth0", guest, 1), []string{"'eth0'", "veth", "not a Linux bridge"}},
		{"macvtap name taken by a veth", nil, macvtap("wire0", "eth1", "vepa", guest), []string{"'wire0'", "already exists", "veth"}},
		{"macvtap name taken by the bridge", nil, macvtap("br0", "eth1", "passthrough", guest), []string{"'br0'", "already exists"}},
		{"tap name taken by a veth", nil, tap("wire0", "br0", guest, 1), []string{"'wire0'", "already exists"}},
		{"tap name taken by a tap", func(t *testing.T, f *fixture) {
			if err := f.p.CreateTap(target, "br0", "52:54:00:00:00:01", 1); err != nil {
				t.Fatal(err)
			}
		}, tap(target, "br0", guest, 1), []string{target, "already exists"}},
		{"macvtap name taken by a tap", func(t *testing.T, f *fixture) {
			if err := f.p.CreateTap(target, "br0", "52:54:00:00:00:01", 4); err != nil {
				t.Fatal(err)
			}
		}, macvtap(target, "eth0", "vepa", guest), []string{target, "already exists", "tuntap"}},
		{"second passthrough on a device", func(t *testing.T, f *fixture) {
			if _, err := f.p.CreateMacvtap("vswfirst", "eth0", "passthrough", "52:54:00:00:00:01"); err != nil {
				t.Fatal(err)
			}
		}, macvtap(target, "eth0", "passthrough", guest), []string{target, "'eth0'", "passthrough", "'vswfirst'"}},
		{"vepa on a device in passthrough", func(t *testing.T, f *fixture) {
			if _, err := f.p.CreateMacvtap("vswfirst", "eth0", "passthrough", "52:54:00:00:00:01"); err != nil {
				t.Fatal(err)
			}
		}, macvtap(target, "eth0", "vepa", guest), []string{"'eth0'", "passthrough", "'vswfirst'"}},
		{"passthrough on a shared device", func(t *testing.T, f *fixture) {
			if _, err := f.p.CreateMacvtap("vswfirst", "eth0", "bridge", "52:54:00:00:00:01"); err != nil {
				t.Fatal(err)
			}
		}, macvtap(target, "eth0", "passthrough", guest), []string{"'eth0'", "vswfirst", "to itself"}},
		// Failures after the first change, undone: the kernel refuses a
		// macvtap on a bridge port only after the passthrough MAC was set.
		{"passthrough on a bridge port", func(t *testing.T, f *fixture) {
			if err := f.ns.Handle().LinkSetMaster(f.ns.Link(t, "eth1"), f.ns.Link(t, "br0")); err != nil {
				t.Fatal(err)
			}
		}, macvtap(target, "eth1", "passthrough", guest), []string{target, "'eth1'", "port of 'br0'"}},
		// ... and a macvtap whose MAC is its device's is created, then
		// refused on the way up.
		{"macvtap MAC equal to device MAC", nil, macvtap(target, "eth0", "vepa", nicMAC), []string{target, "'eth0'", nicMAC}},
		// ... and a tap that cannot take the bridge's MTU.
		{"tap cannot take bridge MTU", func(t *testing.T, f *fixture) {
			if err := f.ns.Handle().LinkSetMTU(f.ns.Link(t, "br0"), 65535); err != nil {
				t.Fatal(err)
			}
		}, tap(target, "br0", guest, 2), []string{target, "'br0'", "MTU 65535"}},
		{"unknown mode", nil, macvtap(target, "eth0", "passthru", guest), []string{target, "'passthru'"}},
		{"bad MAC", nil, macvtap(target, "eth0", "vepa", "de:ad:be:ef"), []string{target, "'de:ad:be:ef'"}},
		{"multicast MAC", nil, macvtap(target, "eth0", "vepa", "01:00:5e:00:00:01"), []string{target, "multicast"}},
		{"zero MAC", nil, tap(target, "br0", "00:00:00:00:00:00", 1), []string{target, "zeros"}},
		{"tap guest MAC starting with fe", nil, tap(target, "br0", "fe:54:00:00:00:01", 1), []string{target, "0xFE"}},
		{"too many queues", nil, tap(target, "br0", guest, 257), []string{target, "257 queues"}},
		{"negative queues", nil, tap(target, "br0", guest, -1), []string{target, "-1 queues"}},
		{"name too long", nil, macvtap("vswdeadbeefcafe0", "eth0", "vepa", guest), []string{"'vswdeadbeefcafe0'", "15 bytes"}},
		{"name with slash", nil, tap("vsw/x", "br0", guest, 1), []string{"'vsw/x'"}},
		{"empty device name", nil, macvtap(target, "", "vepa", guest), []string{"pool device name is empty"}},
		{"delete refuses a veth", nil, func(p *Plumber) error { return p.Delete("eth0") }, []string{"'eth0'", "veth", "not a macvtap or tap"}},
		{"delete refuses a bridge", nil, func(p *Plumber) error { return p.Delete("br0") }, []string{"'br0'", "bridge"}},
		{"restore MAC of missing device", nil, func(p *Plumber) error { return p.RestoreMAC("eth9", nicMAC) }, []string{"'eth9'", "does not exist"}},
		{"restore bad MAC", nil, func(p *Plumber) error { return p.RestoreMAC("eth0", "nonsense") }, []string{"'eth0'", "'nonsense'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			before := f.ns.Snapshot(t)
			err := tc.op(f.p)
			checkPlumbingErr(t, err, tc.want...)
			t.Logf("error: %v", err)
			if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
				t.Errorf("failed operation changed the namespace:\n%s", d)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := New("/run/netns/vswtest-does-not-exist")
	checkPlumbingErr(t, err, "/run/netns/vswtest-does-not-exist")
	_, err = New("/proc/self/ns/uts")
	checkPlumbingErr(t, err, "/proc/self/ns/uts", "not a network namespace")
}

// New("") binds to the namespace of the calling thread at New: here a
// thread inside a test namespace; later calls from other threads (in the
// process's own namespace) still work there, taps included.
func TestCurrentNamespace(t *testing.T) {
	f := newFixture(t)
	var p *Plumber
	if err := f.ns.Do(func() error {
		var err error
		p, err = New("")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.CreateTap(target, "br0", guest, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateMacvtap("vswother", "eth0", "vepa", "52:54:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{target, "vswother"} {
		if !f.ns.HasLink(t, name) {
			t.Errorf("%s not created in the namespace New(\"\") was called in", name)
		}
	}
}

// Many guests start and stop at once (libvirt runs hooks concurrently).
func TestConcurrentCreateDelete(t *testing.T) {
	f := newFixture(t)
	before := f.ns.Snapshot(t)
	modes := append([]string{"tap"}, Modes[:3]...)
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				name := fmt.Sprintf("vsw%02x%010x", g, i)
				mac := fmt.Sprintf("52:54:00:%02x:00:%02x", g, i)
				mode := modes[(g+i)%len(modes)]
				var err error
				if mode == "tap" {
					err = f.p.CreateTap(name, "br0", mac, 1+i%3)
				} else {
					_, err = f.p.CreateMacvtap(name, []string{"eth0", "eth1"}[g%2], mode, mac)
				}
				if err == nil {
					var ok bool
					ok, err = f.p.Exists(name)
					if err == nil && !ok {
						err = fmt.Errorf("%s missing right after create", name)
					}
				}
				if err == nil {
					_, err = f.p.List("vsw")
				}
				if err == nil {
					err = f.p.Delete(name)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Errorf("namespace differs after concurrent create/delete:\n%s", d)
	}
}

// List stays exact while other links come and go: interrupted dumps are
// retried, never returned half-read.
func TestListUnderChurn(t *testing.T) {
	f := newFixture(t)
	h := f.ns.Handle()
	eth0 := f.ns.Link(t, "eth0")
	const stable = 120
	for i := range stable {
		ml := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("stable%03d", i), ParentIndex: eth0.Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}
		if err := h.LinkAdd(ml); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("churn%d", i%4)
			ml := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: eth0.Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}
			if err := h.LinkAdd(ml); err == nil {
				_ = h.LinkDel(ml)
			}
		}
	})
	retriesBefore := dumpRetries.Load()
	for range 100 {
		names, err := f.p.List("stable")
		if err != nil {
			t.Error(err)
			break
		}
		if len(names) != stable {
			t.Errorf("List returned %d stable links, want %d", len(names), stable)
			break
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("interrupted dumps retried: %d", dumpRetries.Load()-retriesBefore)
}

func TestLinksOfKind(t *testing.T) {
	f := newFixture(t)
	for i, mode := range []string{"vepa", "bridge"} {
		if _, err := f.p.CreateMacvtap(fmt.Sprintf("vswtap%d", i), "eth0", mode, fmt.Sprintf("52:54:00:00:00:%02x", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	ml := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: "mvl0", ParentIndex: f.ns.Link(t, "eth1").Attrs().Index}, Mode: netlink.MACVLAN_MODE_VEPA}
	if err := f.ns.Handle().LinkAdd(ml); err != nil {
		t.Fatal(err)
	}
	if err := f.p.CreateTap(target, "br0", guest, 1); err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]string{
		"macvtap": "vswtap0,vswtap1",
		"macvlan": "mvl0",
		"tun":     target,
		"veth":    "eth0,eth1,wire0,wire1",
		"bridge":  "br0",
	} {
		links, err := f.p.linksOfKind(kind)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		sort.Strings(names)
		if got := strings.Join(names, ","); got != want {
			t.Errorf("linksOfKind(%s) = %s, want %s", kind, got, want)
		}
	}
}
