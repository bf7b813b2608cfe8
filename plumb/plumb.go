// Package plumb creates and deletes the links guests are plugged into
// (SPEC §5), with netlink: macvtap on a pool device (vepa, private, bridge,
// passthrough — passthrough also moves the guest's MAC onto the device) and
// persistent taps enslaved to an existing host bridge.
//
// Every create is all-or-nothing: a failure part-way undoes what was done
// and the error says what failed. Errors are *apierr.Error of kind Plumbing,
// one line, naming the link, device or bridge.
//
// A Plumber is safe for concurrent use. With a namespace path every
// operation happens inside that network namespace; the process's own
// threads are never left in it (see inNetns).
package plumb

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/virtswitch/virtswitch/apierr"
)

const (
	// maxDumpTries bounds how often a link dump that the kernel marks as
	// interrupted (links changed while it was read) is started again, and
	// maxDumpPause the pause between tries (dumpPause): about 1.9 s in all.
	// Ten quick tries were not enough while hundreds of guests started and
	// stopped at once (the kill -9 torture, RELIABILITY.md): a passthrough
	// prepare failed with "dump interrupted 10 times in a row".
	maxDumpTries = 200
	maxDumpPause = 10 * time.Millisecond
	// socketTimeout bounds every netlink request, so a wedged kernel path
	// turns into an error instead of a hung hook.
	socketTimeout = 10 * time.Second
	// maxTapQueues is the kernel's MAX_TAP_QUEUES.
	maxTapQueues = 256
	tunDevice    = "/dev/net/tun"
)

// Modes are the macvtap modes CreateMacvtap accepts, as SPEC names them.
var Modes = []string{"vepa", "private", "bridge", "passthrough"}

var macvtapModes = map[string]netlink.MacvlanMode{
	"vepa":        netlink.MACVLAN_MODE_VEPA,
	"private":     netlink.MACVLAN_MODE_PRIVATE,
	"bridge":      netlink.MACVLAN_MODE_BRIDGE,
	"passthrough": netlink.MACVLAN_MODE_PASSTHRU,
}

// Plumber does the plumbing in one network namespace.
type Plumber struct {
	nsPath string         // "" = the namespace New was called in
	ns     netns.NsHandle // the target namespace, open until Close
	h      *netlink.Handle
	// raw is a second route socket in the namespace for requests the
	// netlink library has no call for (kernel-filtered link dumps).
	raw map[int]*nl.SocketHandle

	// macMu serialises the operations that change a pool device's MAC
	// (passthrough create, RestoreMAC). Without it two passthrough creates
	// racing for one device could both pass the "device is free" check, and
	// the loser's undo would restore a MAC over the winner's guest MAC.
	macMu sync.Mutex
}

// New returns a Plumber for the network namespace at netnsPath (e.g.
// /run/netns/NAME or /proc/PID/ns/net); "" means the namespace the calling
// thread is in. Close it when done.
func New(netnsPath string) (*Plumber, error) {
	p := &Plumber{nsPath: netnsPath, ns: netns.None()}
	if netnsPath == "" {
		// Pin the caller's namespace now, so that taps (whose namespace is
		// that of the thread opening /dev/net/tun) land where the netlink
		// socket works even when a later call runs on another thread.
		// Read on the caller's own thread (locked so it cannot change under
		// us; the lock nests if the caller holds one).
		runtime.LockOSThread()
		ns, err := netns.Get()
		runtime.UnlockOSThread()
		if err != nil {
			return nil, plumbErr("cannot open the current network namespace: %v", errText(err))
		}
		// When the caller is where the whole process is (the daemon without
		// --netns), no thread ever needs to switch: keep no handle, so that
		// nothing calls setns(2), which needs CAP_SYS_ADMIN even to "enter"
		// the namespace a thread is already in. The packaged daemon runs
		// with CAP_NET_ADMIN alone.
		if proc, perr := netns.GetFromPath("/proc/self/ns/net"); perr == nil {
			same := proc.Equal(ns)
			proc.Close()
			if same {
				ns.Close()
				ns = netns.None()
			}
		}
		p.ns = ns
	} else {
		ns, err := netns.GetFromPath(netnsPath)
		if err != nil {
			return nil, plumbErr("cannot open network namespace %s: %v", netnsPath, errText(err))
		}
		if t, err := unix.IoctlRetInt(int(ns), unix.NS_GET_NSTYPE); err != nil || t != unix.CLONE_NEWNET {
			ns.Close()
			return nil, plumbErr("%s is not a network namespace", netnsPath)
		}
		p.ns = ns
	}
	// NewHandleAt enters the namespace to open its socket (the socket then
	// stays bound to that namespace) and switches back ignoring errors, so
	// it runs on a thread that is checked afterwards.
	err := onCheckedThread(func() error {
		h, err := netlink.NewHandleAt(p.ns, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		p.h = h
		s, err := nl.GetNetlinkSocketAt(p.ns, netns.None(), unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		p.raw = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
		tv := unix.NsecToTimeval(socketTimeout.Nanoseconds())
		if err := s.SetSendTimeout(&tv); err != nil {
			return err
		}
		return s.SetReceiveTimeout(&tv)
	})
	if err == nil {
		err = p.h.SetSocketTimeout(socketTimeout)
	}
	if err != nil {
		p.Close()
		return nil, plumbErr("cannot open netlink%s: %v", p.where(), errText(err))
	}
	return p, nil
}

// Close releases the netlink socket and the namespace handle.
func (p *Plumber) Close() error {
	if p.h != nil {
		p.h.Close()
		p.h = nil
	}
	for _, sh := range p.raw {
		sh.Close()
	}
	p.raw = nil
	if p.ns.IsOpen() {
		err := p.ns.Close()
		p.ns = netns.None()
		return err
	}
	return nil
}

func (p *Plumber) where() string {
	if p.nsPath == "" {
		return ""
	}
	return " in network namespace " + p.nsPath
}

// CreateMacvtap creates macvtap name on pool device lower in mode (vepa,
// private, bridge, passthrough), with MAC mac, and brings it up (and the
// device too if it was down); with Down() the macvtap stays down.
//
// passthrough: the device's own MAC is returned as savedMAC and the device
// takes the guest MAC (a passthru macvtap shares its device's MAC); the
// caller records savedMAC and gives it back to RestoreMAC after Delete. For
// the other modes savedMAC is "".
//
// Refused with nothing changed: an existing link named name, a missing
// device, a device that already carries a passthrough macvtap, and for
// passthrough a device that carries any macvtap/macvlan already.
func (p *Plumber) CreateMacvtap(name, lower, mode, mac string, opts ...CreateOption) (savedMAC string, err error) {
	o := createOptions(opts)
	what := fmt.Sprintf("macvtap '%s'", name)
	kmode, ok := macvtapModes[mode]
	if !ok {
		return "", plumbErr("cannot create %s: unknown mode '%s' (want one of %s)", what, mode, strings.Join(Modes, ", "))
	}
	if err := checkName("link", name); err != nil {
		return "", err
	}
	if err := checkName("pool device", lower); err != nil {
		return "", err
	}
	hw, err := guestMAC(mac, what)
	if err != nil {
		return "", err
	}
	passthrough := kmode == netlink.MACVLAN_MODE_PASSTHRU
	if passthrough {
		p.macMu.Lock()
		defer p.macMu.Unlock()
	}

	if passthrough {
		// Before the device's MAC changes; other modes learn of a taken
		// name from the kernel (EEXIST below), one lookup fewer per guest.
		if err := p.checkFree(name, what); err != nil {
			return "", err
		}
	}
	low, found, err := p.linkByName(lower)
	if err != nil {
		return "", plumbErr("cannot create %s: looking up pool device '%s': %v", what, lower, errText(err))
	}
	if !found {
		return "", plumbErr("cannot create %s: pool device '%s' does not exist%s", what, lower, p.where())
	}
	if passthrough {
		// Checked before the device's MAC is touched: the kernel would
		// refuse only after that, and the MAC of a device carrying other
		// guests must not flip even briefly.
		if err := p.checkLowerFree(low, true, what); err != nil {
			return "", err
		}
	}

	rev := &reverter{}
	defer rev.fail(&err)

	var saved net.HardwareAddr
	if passthrough {
		saved = append(net.HardwareAddr(nil), low.Attrs().HardwareAddr...)
		if !bytes.Equal(saved, hw) {
			if err := p.h.LinkSetHardwareAddr(low, hw); err != nil {
				return "", plumbErr("cannot create %s: setting MAC of device '%s' to %s: %v", what, lower, hw, errText(err))
			}
			rev.add(fmt.Sprintf("restoring MAC %s of device '%s'", saved, lower), func() error {
				return p.h.LinkSetHardwareAddr(low, saved)
			})
		}
	}

	// TxQLen -1: leave the kernel's default (1000). A zero LinkAttrs would
	// send txqueuelen 0, and a macvtap sizes the ring of frames waiting for
	// the guest by it: with 0 every frame to the guest is dropped.
	attrs := netlink.LinkAttrs{Name: name, ParentIndex: low.Attrs().Index, HardwareAddr: hw, TxQLen: -1}
	mv := &netlink.Macvtap{Macvlan: netlink.Macvlan{LinkAttrs: attrs, Mode: kmode}}
	if err := p.h.LinkAdd(mv); err != nil {
		if errors.Is(err, unix.EEXIST) {
			if cerr := p.checkFree(name, what); cerr != nil {
				return "", cerr // names the link in the way
			}
			return "", plumbErr("cannot create %s: a link of that name already exists", what)
		}
		if !passthrough && errors.Is(err, unix.EINVAL) {
			// Other modes skip the up-front check (nothing was changed
			// yet); find out now whether a passthrough macvtap is the cause.
			if cerr := p.checkLowerFree(low, false, what); cerr != nil {
				return "", cerr
			}
		}
		return "", plumbErr("cannot create %s on device '%s' (mode %s): %v%s", what, lower, mode, errText(err), p.lowerHint(low, err))
	}
	// LinkAdd has read the new link's index back (by name, right after
	// creating it exclusively), so mv now stands for the created link.
	created := netlink.Link(mv)
	if mv.Index == 0 {
		// Cannot tell which link to undo by index; the name is ours, as
		// LinkAdd just created it exclusively.
		rev.add(fmt.Sprintf("deleting %s", what), func() error { return p.delByName(name) })
		return "", plumbErr("cannot create %s: reading it back: it vanished right after creation", what)
	}
	rev.add(fmt.Sprintf("deleting %s", what), func() error { return p.delLink(created) })

	// A macvtap on a down device has no carrier; libvirt brings the device
	// of a direct interface up too (after its MAC was set, as here). It is
	// not taken down again on Delete, as in libvirt.
	if low.Attrs().Flags&net.FlagUp == 0 {
		if err := p.h.LinkSetUp(low); err != nil {
			return "", plumbErr("cannot create %s: bringing up device '%s': %v", what, lower, errText(err))
		}
		rev.add(fmt.Sprintf("setting device '%s' down again", lower), func() error { return p.h.LinkSetDown(low) })
	}
	if o.down {
		// The device is up (above), so the link gets its carrier when
		// SetUp brings it up.
	} else if err := p.h.LinkSetUp(created); err != nil {
		return "", plumbErr("cannot bring up %s on device '%s': %v%s", what, lower, errText(err), p.upHint(low, hw, err))
	}
	rev.success()
	if passthrough {
		return saved.String(), nil
	}
	return "", nil
}

// checkLowerFree refuses a device the kernel would refuse too, but with a
// message naming the link in the way: a passthrough macvtap owns its device
// alone. It reads only macvtap and macvlan links (kernel-filtered dumps), so
// its cost does not grow with the host's other links (e.g. thousands of
// SR-IOV VFs).
func (p *Plumber) checkLowerFree(low netlink.Link, passthrough bool, what string) error {
	var uppers []netlink.Link
	for _, kind := range []string{"macvtap", "macvlan"} {
		links, err := p.linksOfKind(kind)
		if err != nil {
			return plumbErr("cannot create %s: listing %s links: %v", what, kind, errText(err))
		}
		uppers = append(uppers, links...)
	}
	var others []string
	for _, l := range uppers {
		a := l.Attrs()
		if a.ParentIndex != low.Attrs().Index || a.Index == low.Attrs().Index {
			continue
		}
		var m netlink.MacvlanMode
		switch v := l.(type) {
		case *netlink.Macvtap:
			m = v.Mode
		case *netlink.Macvlan:
			m = v.Mode
		}
		if m == netlink.MACVLAN_MODE_PASSTHRU {
			return plumbErr("cannot create %s: device '%s' already carries passthrough %s '%s'", what, low.Attrs().Name, l.Type(), a.Name)
		}
		others = append(others, a.Name)
	}
	if passthrough && len(others) > 0 {
		sort.Strings(others)
		return plumbErr("cannot create passthrough %s: device '%s' already carries macvtap/macvlan links (%s); passthrough needs the device to itself",
			what, low.Attrs().Name, strings.Join(others, ", "))
	}
	return nil
}

// lowerHint explains the kernel's terse refusals of a lower device.
func (p *Plumber) lowerHint(low netlink.Link, err error) string {
	a := low.Attrs()
	switch {
	case errors.Is(err, unix.EBUSY) && a.MasterIndex != 0:
		master := fmt.Sprintf("index %d", a.MasterIndex)
		if m, e := p.h.LinkByIndex(a.MasterIndex); e == nil {
			master = "'" + m.Attrs().Name + "'"
		}
		return fmt.Sprintf(" (device '%s' is a port of %s)", a.Name, master)
	case errors.Is(err, unix.EBUSY):
		return fmt.Sprintf(" (device '%s' is claimed by another driver, e.g. a bridge or bond)", a.Name)
	case errors.Is(err, unix.EINVAL):
		return fmt.Sprintf(" (device '%s' cannot carry this macvtap: not Ethernet, or already in passthrough use)", a.Name)
	}
	return ""
}

// upHint explains EADDRINUSE on bringing a macvtap up: its MAC is taken on
// that device.
func (p *Plumber) upHint(low netlink.Link, hw net.HardwareAddr, err error) string {
	if !errors.Is(err, unix.EADDRINUSE) {
		return ""
	}
	if bytes.Equal(low.Attrs().HardwareAddr, hw) {
		return fmt.Sprintf(" (MAC %s is device '%s''s own MAC)", hw, low.Attrs().Name)
	}
	return fmt.Sprintf(" (MAC %s is in use by another macvtap/macvlan on device '%s')", hw, low.Attrs().Name)
}

// CreateTap creates a persistent tap named name (IFF_VNET_HDR, and
// IFF_MULTI_QUEUE when queues > 1) with the guest MAC's first byte set to
// 0xFE, takes the bridge's MTU, enslaves it to bridge and brings it up (not with Down()). The
// bridge must exist; it is never created. The tap has no owner or group, so
// any process with CAP_NET_ADMIN (libvirtd) can attach to it by name with
// the same multi-queue setting.
func (p *Plumber) CreateTap(name, bridge, mac string, queues int, opts ...CreateOption) (err error) {
	if err := checkName("bridge", bridge); err != nil {
		return err
	}
	var br netlink.Link
	return p.createTap(name, mac, queues, createOptions(opts), tapJoin{
		where: "bridge '" + bridge + "'",
		check: func(what string) (int, error) {
			var found bool
			var err error
			br, found, err = p.linkByName(bridge)
			if err != nil {
				return 0, plumbErr("cannot create %s: looking up bridge '%s': %v", what, bridge, errText(err))
			}
			if !found {
				return 0, plumbErr("cannot create %s: bridge '%s' does not exist%s (virtswitch never creates host bridges)", what, bridge, p.where())
			}
			if br.Type() != "bridge" {
				return 0, plumbErr("cannot create %s: '%s' is a %s, not a Linux bridge", what, bridge, br.Type())
			}
			return br.Attrs().MTU, nil
		},
		join: func(tap netlink.Link, _ *reverter, what string) error {
			if err := p.h.LinkSetMaster(tap, br); err != nil {
				return plumbErr("cannot add %s to bridge '%s': %v", what, bridge, errText(err))
			}
			return nil
		},
	})
}

// tapJoin is how a new tap joins its switch: check runs before anything
// changes and returns the MTU the tap must take (0: keep the default); join
// plugs the tap in (registering its undo on rev) before it is brought up.
type tapJoin struct {
	where string // "bridge 'br0'", for messages
	check func(what string) (mtu int, err error)
	join  func(tap netlink.Link, rev *reverter, what string) error
}

// createTap is CreateTap's and CreateOVSTap's common part.
func (p *Plumber) createTap(name, mac string, queues int, o createOpts, j tapJoin) (err error) {
	what := fmt.Sprintf("tap '%s'", name)
	if err := checkName("link", name); err != nil {
		return err
	}
	hw, err := guestMAC(mac, what)
	if err != nil {
		return err
	}
	if hw[0] == 0xFE {
		// The tap's own MAC is the guest's with 0xFE in front; a guest MAC
		// starting with 0xFE would equal it and the bridge would see the
		// guest's frames as its own (libvirt refuses it the same way).
		return plumbErr("cannot create %s: guest MAC %s starts with 0xFE, which is reserved for the tap's own MAC", what, hw)
	}
	if queues < 0 || queues > maxTapQueues {
		return plumbErr("cannot create %s: %d queues (want 0..%d)", what, queues, maxTapQueues)
	}
	tapMAC := append(net.HardwareAddr(nil), hw...)
	tapMAC[0] = 0xFE

	if err := p.checkFree(name, what); err != nil {
		return err
	}
	mtu, err := j.check(what)
	if err != nil {
		return err
	}

	rev := &reverter{}
	defer rev.fail(&err)

	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_TUN_EXCL)
	if queues > 1 {
		flags |= unix.IFF_MULTI_QUEUE
	}
	if err := p.makePersistentTap(name, flags); err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return plumbErr("cannot create %s: a link of that name already exists", what)
		}
		return plumbErr("cannot create %s: %v", what, errText(err))
	}
	tap, found, err := p.linkByName(name)
	if err == nil && !found {
		err = errors.New("it vanished right after creation")
	}
	if err != nil {
		rev.add(fmt.Sprintf("deleting %s", what), func() error { return p.delByName(name) })
		return plumbErr("cannot create %s: reading it back: %v", what, errText(err))
	}
	rev.add(fmt.Sprintf("deleting %s", what), func() error { return p.delLink(tap) })

	// MAC and MTU before joining: the bridge derives its own MAC and MTU
	// from its ports, so the kernel's random MAC or a smaller MTU must never
	// be seen by it.
	if err := p.h.LinkSetHardwareAddr(tap, tapMAC); err != nil {
		return plumbErr("cannot set MAC of %s to %s: %v", what, tapMAC, errText(err))
	}
	if mtu > 0 && mtu != tap.Attrs().MTU {
		if err := p.h.LinkSetMTU(tap, mtu); err != nil {
			return plumbErr("cannot set MTU of %s to %s's MTU %d: %v", what, j.where, mtu, errText(err))
		}
	}
	if err := j.join(tap, rev, what); err != nil {
		return err
	}
	if o.down {
		// Joined but down: SetUp brings it up.
	} else if err := p.h.LinkSetUp(tap); err != nil {
		return plumbErr("cannot bring up %s on %s: %v", what, j.where, errText(err))
	}
	rev.success()
	return nil
}

// makePersistentTap creates the tap with TUNSETIFF and marks it persistent.
// A tun device is created in the namespace of the process that opened
// /dev/net/tun, so only the open happens inside the namespace; the ioctls
// work on the descriptor from anywhere. Closing the descriptor before
// TUNSETPERSIST succeeded destroys the device, which is the undo.
func (p *Plumber) makePersistentTap(name string, flags uint16) error {
	fd := -1
	open := func() error {
		var err error
		fd, err = unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", tunDevice, err)
		}
		return nil
	}
	if err := inNetns(p.ns, open); err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("TUNSETPERSIST: %w", err)
	}
	return nil
}

// Delete removes the macvtap or tap called name, and the IFBs SetBandwidth
// made for it. A link that is already gone is success. Any other kind of link is refused (an orphan sweep must
// never delete a NIC or bridge that merely has a matching name). Delete does
// not restore a passthrough device's MAC: that is RestoreMAC's job.
func (p *Plumber) Delete(name string) error {
	if err := checkName("link", name); err != nil {
		return err
	}
	l, found, err := p.linkByName(name)
	if err != nil {
		return plumbErr("cannot delete link '%s': looking it up: %v", name, errText(err))
	}
	if found {
		switch l.(type) {
		case *netlink.Macvtap, *netlink.Tuntap:
		default:
			return plumbErr("refusing to delete link '%s': it is a %s, not a macvtap or tap", name, l.Type())
		}
		if err := p.delLink(l); err != nil {
			return plumbErr("cannot delete link '%s': %v", name, errText(err))
		}
	}
	// The IFBs that shaped the link (SetBandwidth), if any.
	return p.deleteIFBs(name)
}

// RestoreMAC sets device dev's MAC back to mac (the savedMAC a passthrough
// CreateMacvtap returned). Already equal is success; a missing device is an
// error naming it.
func (p *Plumber) RestoreMAC(dev, mac string) error {
	if err := checkName("device", dev); err != nil {
		return err
	}
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return plumbErr("cannot restore MAC of device '%s': '%s' is not an Ethernet MAC address", dev, mac)
	}
	p.macMu.Lock()
	defer p.macMu.Unlock()
	l, found, err := p.linkByName(dev)
	if err != nil {
		return plumbErr("cannot restore MAC of device '%s': looking it up: %v", dev, errText(err))
	}
	if !found {
		return plumbErr("cannot restore MAC of device '%s' to %s: device does not exist%s", dev, hw, p.where())
	}
	if bytes.Equal(l.Attrs().HardwareAddr, hw) {
		return nil
	}
	if err := p.h.LinkSetHardwareAddr(l, hw); err != nil {
		return plumbErr("cannot restore MAC of device '%s' to %s: %v", dev, hw, errText(err))
	}
	return nil
}

// Exists reports whether a link called name exists (of any kind).
func (p *Plumber) Exists(name string) (bool, error) {
	if err := checkName("link", name); err != nil {
		return false, err
	}
	_, found, err := p.linkByName(name)
	if err != nil {
		return false, plumbErr("cannot look up link '%s': %v", name, errText(err))
	}
	return found, nil
}

// List returns the names of all links (of any kind) whose names start with
// prefix, sorted. An interrupted dump is read again (bounded).
func (p *Plumber) List(prefix string) ([]string, error) {
	links, err := p.linkList()
	if err != nil {
		return nil, plumbErr("cannot list links%s: %v", p.where(), errText(err))
	}
	names := []string{}
	for _, l := range links {
		if n := l.Attrs().Name; strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

func (p *Plumber) checkFree(name, what string) error {
	l, found, err := p.linkByName(name)
	if err != nil {
		return plumbErr("cannot create %s: looking up the name: %v", what, errText(err))
	}
	if found {
		return plumbErr("cannot create %s: a link of that name already exists (a %s)", what, l.Type())
	}
	return nil
}

// linkByName distinguishes "no such link" (found false, nil error) from a
// failed lookup.
func (p *Plumber) linkByName(name string) (netlink.Link, bool, error) {
	l, err := p.h.LinkByName(name)
	if err == nil {
		return l, true, nil
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
		return nil, false, nil
	}
	return nil, false, err
}

func (p *Plumber) linkList() ([]netlink.Link, error) {
	return retryDump(p.h.LinkList)
}

// linksOfKind lists the links of one kind (e.g. "macvtap"). The kernel
// filters the dump by IFLA_INFO_KIND; the kind is checked here again since a
// kernel that does not know the kind sends every link.
func (p *Plumber) linksOfKind(kind string) ([]netlink.Link, error) {
	return retryDump(func() ([]netlink.Link, error) {
		req := p.linkDumpRequest()
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated(kind))
		req.AddData(info)
		msgs, execErr := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		if execErr != nil && !errors.Is(execErr, netlink.ErrDumpInterrupted) {
			return nil, execErr
		}
		var res []netlink.Link
		for _, m := range msgs {
			l, err := netlink.LinkDeserialize(nil, m)
			if err != nil {
				return nil, err
			}
			if l.Type() == kind || (kind == "tun" && l.Type() == "tuntap") {
				res = append(res, l)
			}
		}
		return res, execErr
	})
}

// linkDumpRequest is an RTM_GETLINK dump on the Plumber's own route socket,
// statistics left out: each message is then a fraction of its size, so the
// dump needs fewer reads, each a chance to be interrupted. Callers add
// filters and run it.
func (p *Plumber) linkDumpRequest() *nl.NetlinkRequest {
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   uint32(unix.SizeofNlMsghdr),
			Type:  uint16(unix.RTM_GETLINK),
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
		},
		Sockets: p.raw,
	}
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)))
	return req
}

// retryDump runs dump until the kernel reports a consistent result, at most
// maxDumpTries times. A dump is interrupted when the set of links changes
// while it is read — routine while other guests start and stop.
// dumpRetries counts retried dumps, for tests and curiosity.
var dumpRetries atomic.Uint64

func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var err error
	for try := range maxDumpTries {
		var res []T
		res, err = dump()
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) && !errors.Is(err, unix.EINTR) {
			return nil, err
		}
		dumpRetries.Add(1)
		time.Sleep(dumpPause(try))
	}
	return nil, fmt.Errorf("dump interrupted %d times in a row: %w", maxDumpTries, err)
}

// dumpPause is the pause after the try-th interrupted dump: growing
// quadratically from 0 to maxDumpPause, so a short burst of changes costs
// little and a long storm of them is waited out.
func dumpPause(try int) time.Duration {
	return min(time.Duration(try*try)*50*time.Microsecond, maxDumpPause)
}

// delLink deletes l by index; already gone is success.
func (p *Plumber) delLink(l netlink.Link) error {
	err := p.h.LinkDel(l)
	if err == nil || errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

func (p *Plumber) delByName(name string) error {
	l, found, err := p.linkByName(name)
	if err != nil || !found {
		return err
	}
	return p.delLink(l)
}

// checkName applies the kernel's rules for interface names (dev_valid_name),
// so a bad name fails here with a message instead of as EINVAL.
func checkName(role, name string) error {
	switch {
	case name == "":
		return plumbErr("%s name is empty", role)
	case len(name) > unix.IFNAMSIZ-1:
		return plumbErr("%s name '%s' is longer than %d bytes", role, name, unix.IFNAMSIZ-1)
	case name == "." || name == "..":
		return plumbErr("%s name '%s' is not allowed", role, name)
	case strings.ContainsAny(name, "/:") || strings.IndexFunc(name, isSpace) >= 0:
		return plumbErr("%s name '%s' contains '/', ':' or whitespace", role, strings.ToValidUTF8(name, "?"))
	}
	return nil
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

// guestMAC parses a guest MAC: 6 bytes, unicast, not all zero (the kernel
// refuses anything else with a bare EADDRNOTAVAIL).
func guestMAC(mac, what string) (net.HardwareAddr, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, plumbErr("cannot create %s: '%s' is not an Ethernet MAC address", what, mac)
	}
	if hw[0]&1 != 0 {
		return nil, plumbErr("cannot create %s: MAC %s is a multicast address", what, hw)
	}
	if bytes.Equal(hw, make(net.HardwareAddr, 6)) {
		return nil, plumbErr("cannot create %s: MAC %s is all zeros", what, hw)
	}
	return hw, nil
}

func plumbErr(format string, a ...any) error {
	return apierr.New(apierr.Plumbing, format, a...)
}

// errText is an error's message for embedding: errno texts are turned from
// "file exists" into the kernel's symbolic name too, which is what admins
// search for.
func errText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return err.Error() + " (" + name + ")"
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "netlink request timed out: " + err.Error()
	}
	return err.Error()
}
