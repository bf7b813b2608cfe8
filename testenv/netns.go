// Package testenv holds helpers that tests of several packages share: real
// network namespaces with veth pairs standing in for NICs and bridges
// (netns.go), and more as other parts need them.
//
// Every helper registers its own clean-up with t.Cleanup, so a failing test
// leaves no namespace, link or mount behind. The helpers need root
// (CAP_SYS_ADMIN for the namespace bind mount, CAP_NET_ADMIN for links).
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces are bind-mounted, as by
// `ip netns add`, so `ip netns exec NAME` works on them while a test runs.
const NetnsDir = "/run/netns"

// netnsPrefix starts the name of every namespace a test creates; the pid
// after it lets a later run remove what a killed run left behind.
const netnsPrefix = "vswtest-"

var netnsSeq atomic.Uint64

// hostNetns identifies the namespace the process started in. It is read in
// init, which runs on the main thread before any test code, so no helper or
// package under test can have moved that thread yet.
// The open handle keeps a way into that namespace for HostSnapshot.
var hostNetns struct {
	dev, ino uint64
	h        netns.NsHandle
	err      error
}

func init() {
	// Keep the main thread for the main goroutine alone. A goroutine that
	// ends locked to a thread in the wrong namespace gets that thread
	// destroyed — except the main thread, which Go can only wedge, leaving
	// the process's /proc/PID/ns/net pointing elsewhere. Pinning main here
	// (init runs on the main thread) means no other goroutine ever runs on
	// it, so that case cannot arise in a test binary using these helpers.
	runtime.LockOSThread()

	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		hostNetns.err = err
		return
	}
	hostNetns.dev, hostNetns.ino = st.Dev, st.Ino
	hostNetns.h, hostNetns.err = netns.GetFromPath("/proc/self/ns/net")
}

// RequireRoot fails t (it does not skip) unless the test runs as root: the
// project's tests are meant to run as root, and a silent skip would hide
// that they did not run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (network namespaces, CAP_NET_ADMIN); run it as root")
	}
}

// NetNS is a named network namespace created for one test.
type NetNS struct {
	Name string // e.g. vswtest-1234-7
	Path string // NetnsDir/Name: what plumb.New and the daemon's --netns take

	ns netns.NsHandle
	h  *netlink.Handle
}

// NewNetNS creates a fresh named network namespace (loopback only) and
// registers its removal with t.Cleanup. Links inside it vanish with it.
// The calling goroutine's thread is never moved into the namespace.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	RequireRoot(t)
	removeStaleNetns()

	name := fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), netnsSeq.Add(1))
	n := &NetNS{Name: name, Path: filepath.Join(NetnsDir, name), ns: netns.None()}

	// netns.NewNamed unshares the calling thread into the new namespace;
	// run it on a thread of its own that is switched back afterwards.
	var created netns.NsHandle = netns.None()
	err := onLockedThread(func(origin netns.NsHandle) error {
		ns, err := netns.NewNamed(name)
		if err != nil {
			return err
		}
		created = ns
		return nil
	})
	if created.IsOpen() {
		n.ns = created
	}
	t.Cleanup(func() { n.remove(t) })
	if err != nil {
		t.Fatalf("creating network namespace %s: %v", name, err)
	}

	var h *netlink.Handle
	err = onLockedThread(func(netns.NsHandle) error {
		var err error
		h, err = netlink.NewHandleAt(n.ns, unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		t.Fatalf("netlink handle in namespace %s: %v", name, err)
	}
	n.h = h
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bringing up lo in namespace %s: %v", name, err)
	}
	return n
}

func (n *NetNS) remove(t testing.TB) {
	if n.h != nil {
		n.h.Close()
		n.h = nil
	}
	if n.ns.IsOpen() {
		n.ns.Close()
		n.ns = netns.None()
	}
	if err := deleteNamed(n.Path); err != nil {
		t.Errorf("removing network namespace %s: %v", n.Name, err)
	}
}

// deleteNamed unmounts and removes a namespace's bind mount; each step
// tolerates "already done", so a half-created namespace is cleaned too.
func deleteNamed(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// removeStaleNetns deletes namespaces left by test processes that died
// before their clean-up ran (their pid is in the name and no longer alive).
func removeStaleNetns() {
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = deleteNamed(filepath.Join(NetnsDir, e.Name()))
		}
	}
}

// Handle is a netlink handle bound to the namespace: use it to create
// fixtures and to inspect what the code under test left behind.
func (n *NetNS) Handle() *netlink.Handle { return n.h }

// Do runs fn on an OS thread switched into the namespace and returns fn's
// error. The thread is switched back afterwards; if that fails the thread is
// left locked so that Go terminates it instead of reusing it.
func (n *NetNS) Do(fn func() error) error {
	return onLockedThread(func(origin netns.NsHandle) error {
		if err := netns.Set(n.ns); err != nil {
			return fmt.Errorf("entering namespace %s: %w", n.Name, err)
		}
		return fn()
	})
}

// onLockedThread runs fn in a new goroutine locked to its OS thread and
// waits for it. fn may move the thread into another network namespace; the
// thread is moved back to origin afterwards, and if that fails the goroutine
// exits still locked, which makes the runtime destroy the thread rather than
// hand a thread in the wrong namespace to other goroutines.
func onLockedThread(fn func(origin netns.NsHandle) error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("reading the thread's network namespace: %w", err)
			return
		}
		defer origin.Close()
		ferr := fn(origin)
		if cur, err := netns.Get(); err == nil && cur.Equal(origin) {
			cur.Close()
			runtime.UnlockOSThread()
			errc <- ferr
			return
		} else if err == nil {
			cur.Close()
		}
		if err := netns.Set(origin); err != nil {
			// Stay locked: the thread dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("switching the thread back to its namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// AddVeth creates a veth pair name/peer in the namespace with both ends up —
// the stand-in for a physical NIC (name) and the wire behind it (peer).
// Removed at clean-up (deleting one end deletes both).
func (n *NetNS) AddVeth(t testing.TB, name, peer string) netlink.Link {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	if err := n.h.LinkAdd(v); err != nil {
		t.Fatalf("creating veth %s/%s in %s: %v", name, peer, n.Name, err)
	}
	t.Cleanup(func() { n.delIfPresent(name) })
	for _, l := range []string{name, peer} {
		link := n.Link(t, l)
		if err := n.h.LinkSetUp(link); err != nil {
			t.Fatalf("bringing up %s in %s: %v", l, n.Name, err)
		}
	}
	return n.Link(t, name)
}

// AddBridge creates an up Linux bridge in the namespace. Removed at clean-up.
func (n *NetNS) AddBridge(t testing.TB, name string) netlink.Link {
	t.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := n.h.LinkAdd(br); err != nil {
		t.Fatalf("creating bridge %s in %s: %v", name, n.Name, err)
	}
	t.Cleanup(func() { n.delIfPresent(name) })
	link := n.Link(t, name)
	if err := n.h.LinkSetUp(link); err != nil {
		t.Fatalf("bringing up bridge %s in %s: %v", name, n.Name, err)
	}
	return n.Link(t, name)
}

func (n *NetNS) delIfPresent(name string) {
	if n.h == nil {
		return // namespace already gone, and its links with it
	}
	if l, err := n.h.LinkByName(name); err == nil {
		_ = n.h.LinkDel(l)
	}
}

// Link returns the named link as netlink reports it now; t fails if absent.
func (n *NetNS) Link(t testing.TB, name string) netlink.Link {
	t.Helper()
	l, err := n.h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s in %s: %v", name, n.Name, err)
	}
	return l
}

// HasLink reports whether a link of that name exists in the namespace.
func (n *NetNS) HasLink(t testing.TB, name string) bool {
	t.Helper()
	_, err := n.h.LinkByName(name)
	if err == nil {
		return true
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return false
	}
	t.Fatalf("looking up link %s in %s: %v", name, n.Name, err)
	return false
}

// SetMAC sets a link's MAC address (e.g. to give a fake NIC a known MAC).
func (n *NetNS) SetMAC(t testing.TB, name, mac string) {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatalf("bad MAC %q: %v", mac, err)
	}
	if err := n.h.LinkSetHardwareAddr(n.Link(t, name), hw); err != nil {
		t.Fatalf("setting MAC of %s in %s: %v", name, n.Name, err)
	}
}

// LinkState is what tests compare about a link before and after an operation.
type LinkState struct {
	Index  int
	Kind   string // netlink type: veth, bridge, macvtap, tuntap, ...
	MAC    string
	MTU    int
	Up     bool   // administratively up
	Master string // name of the master (bridge), "" if none
	Parent string // name of the lower device (macvtap/macvlan/veth peer), "" if none
	Mode   string // macvtap/macvlan mode name, "" for other kinds
}

// Snapshot is the state of every link of a namespace, by name.
type Snapshot map[string]LinkState

// Snapshot reads every link of the namespace (retrying an interrupted dump).
func (n *NetNS) Snapshot(t testing.TB) Snapshot {
	t.Helper()
	s, err := snapshot(n.h)
	if err != nil {
		t.Fatalf("listing links in %s: %v", n.Name, err)
	}
	return s
}

func snapshot(h *netlink.Handle) (Snapshot, error) {
	var links []netlink.Link
	var err error
	for range 10 {
		links, err = h.LinkList()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	byIndex := map[int]string{}
	for _, l := range links {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	s := Snapshot{}
	for _, l := range links {
		a := l.Attrs()
		st := LinkState{
			Index:  a.Index,
			Kind:   l.Type(),
			MAC:    a.HardwareAddr.String(),
			MTU:    a.MTU,
			Up:     a.Flags&net.FlagUp != 0,
			Master: byIndex[a.MasterIndex],
			Parent: byIndex[a.ParentIndex],
		}
		switch v := l.(type) {
		case *netlink.Macvtap:
			st.Mode = MacvlanModeName(v.Mode)
		case *netlink.Macvlan:
			st.Mode = MacvlanModeName(v.Mode)
		}
		s[a.Name] = st
	}
	return s, nil
}

// MacvlanModeName is the kernel's name of a macvlan/macvtap mode, as
// `ip -d link` prints it ("passthru", not SPEC's "passthrough").
func MacvlanModeName(m netlink.MacvlanMode) string {
	switch m {
	case netlink.MACVLAN_MODE_PRIVATE:
		return "private"
	case netlink.MACVLAN_MODE_VEPA:
		return "vepa"
	case netlink.MACVLAN_MODE_BRIDGE:
		return "bridge"
	case netlink.MACVLAN_MODE_PASSTHRU:
		return "passthru"
	case netlink.MACVLAN_MODE_SOURCE:
		return "source"
	}
	return fmt.Sprintf("mode-%d", m)
}

// Diff describes how after differs from before, one line per link, sorted;
// "" if they are the same.
func Diff(before, after Snapshot) string {
	var lines []string
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("- %s %+v", name, b))
		case a != b:
			lines = append(lines, fmt.Sprintf("~ %s %+v -> %+v", name, b, a))
		}
	}
	for name, a := range after {
		if _, ok := before[name]; !ok {
			lines = append(lines, fmt.Sprintf("+ %s %+v", name, a))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// HostSnapshot reads the links of the namespace the test process started in
// (not of the calling thread's namespace, which a bug could have changed).
func HostSnapshot(t testing.TB) Snapshot {
	t.Helper()
	RequireRoot(t)
	if hostNetns.err != nil {
		t.Fatalf("opening the process's network namespace at start: %v", hostNetns.err)
	}
	var s Snapshot
	err := onLockedThread(func(netns.NsHandle) error {
		h, err := netlink.NewHandleAt(hostNetns.h, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		s, err = snapshot(h)
		return err
	})
	if err != nil {
		t.Fatalf("listing the host namespace's links: %v", err)
	}
	return s
}

// CheckThreadsInHostNetns fails t if any thread of the process is in a
// network namespace other than the one the process started in: code that
// enters a namespace must switch back, or let its thread die.
func CheckThreadsInHostNetns(t testing.TB) {
	t.Helper()
	stray, err := ThreadsOutsideHostNetns()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stray {
		t.Errorf("%s", s)
	}
}

// ThreadsOutsideHostNetns describes each thread of the process that is not
// in the network namespace the process started in (nil if none).
func ThreadsOutsideHostNetns() ([]string, error) {
	if hostNetns.err != nil {
		return nil, fmt.Errorf("reading the process's network namespace at start: %w", hostNetns.err)
	}
	var stray []string
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("reading /proc/self/ns/net: %w", err)
	}
	if st.Dev != hostNetns.dev || st.Ino != hostNetns.ino {
		stray = append(stray, fmt.Sprintf("the main thread left the process's network namespace (inode %d, was %d)", st.Ino, hostNetns.ino))
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("listing threads: %w", err)
	}
	for _, task := range tasks {
		var st unix.Stat_t
		err := unix.Stat(filepath.Join("/proc/self/task", task.Name(), "ns/net"), &st)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading thread %s's namespace: %w", task.Name(), err)
		}
		if st.Dev != hostNetns.dev || st.Ino != hostNetns.ino {
			stray = append(stray, fmt.Sprintf("thread %s is in network namespace inode %d, not the process's %d", task.Name(), st.Ino, hostNetns.ino))
		}
	}
	return stray, nil
}
