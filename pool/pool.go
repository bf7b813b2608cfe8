// Package pool keeps one network's usage counts (SPEC §3.3–3.4): how many
// guest interfaces use the network and each of its pool devices, which
// interface holds which device, and which device the next interface gets.
//
// Choice rules:
//   - exclusive request (passthrough, or private with an 802.1Qbh port): the
//     first device in pool order with no connections at all;
//   - shared request: the device with the fewest connections, ties to the
//     earliest in pool order;
//   - a device held exclusively is never handed to anyone else, shared
//     requests included, until its holder releases it (libvirt would share
//     it in private mode with mixed virtualport types; we do not).
//
// The choice and the count updates cost O(log n) in the pool size: an
// 8-ary min-tree over the devices keeps, at every node, the minimum packed
// key (connections<<32 | pool index) below it, with exclusively held
// devices keyed above every real count. The root is therefore the device
// to hand out, and one update walks leaf to root, one cache line per level.
//
// A Pool is safe for concurrent use.
package pool

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/virtswitch/virtswitch/apierr"
)

// DeviceCount is one pool device, the number of interfaces using it and
// its state.
type DeviceCount struct {
	Device      string
	Connections uint
	Exclusive   bool // held by one interface alone
	Down        bool // carrier down (SetDown)
	Drained     bool // drained by an admin (SetDrained)
}

// Usable tells whether the device may get new interfaces.
func (d DeviceCount) Usable() bool { return !d.Down && !d.Drained }

// Pool is the usage state of one network.
type Pool struct {
	mu      sync.Mutex
	network string

	devs  []string         // pool order; empty for a host-bridge network
	index map[string]int32 // device → position in devs

	// levels is the min-tree. levels[0] holds one key per device (see
	// leafKey); levels[k+1][j] is the minimum of levels[k][8j:8j+8]; the
	// last level's [0] is the root. Every level is padded with padKey to a
	// whole number of 8-key groups, so one update reads one cache line per
	// level: 6 levels for 65,536 devices, and all levels above the leaves
	// fit in 80 KiB.
	levels [][]uint64
	// flags per device (flagHeld, flagDown, flagDrained); the leaf key's
	// class is derived from them.
	flags                  []uint8
	nHeld, nDown, nDrained int // devices with each flag
	nUnusable              int // devices down or drained

	allocs map[string]alloc // by key (domainUUID/MAC)
}

type alloc struct {
	dev       int32 // index into devs; -1 on a host-bridge network
	exclusive bool
}

const (
	fanout = 8              // keys per 64-byte cache line
	padKey = math.MaxUint64 // key of a slot past the last device

	flagHeld uint8 = 1 << iota
	flagDown
	flagDrained
	unusable = flagDown | flagDrained

	// The class (bits 62–63 of a leaf key).
	classFree     = 0 // usable and not held: may be chosen
	classHeld     = 1 // usable, held exclusively
	classUnusable = 2 // down or drained, held or not
	countMask     = 1<<30 - 1
)

// leafKey packs what the choice needs into one comparable word: the class
// on top (every free device sorts before every held one, and those before
// every unusable one), the count below it (fewest connections first) and
// the pool index in the low half (ties go to the earliest). A count cannot
// reach 2^30: that would take a billion interfaces on one device.
func leafKey(i int, count uint32, flags uint8) uint64 {
	class := uint64(classFree)
	switch {
	case flags&unusable != 0:
		class = classUnusable
	case flags&flagHeld != 0:
		class = classHeld
	}
	return class<<62 | uint64(count)<<32 | uint64(i)
}

// New makes the pool of network with the given devices, in pool order. nil
// or empty devices means a host-bridge network: only connections are counted.
// Devices must be distinct (netdef rejects duplicates); a repeated name is
// ignored here so the index stays consistent.
func New(network string, devices []string) *Pool {
	p := &Pool{network: network, allocs: map[string]alloc{}}
	devs := dedup(devices)
	keys := make([]uint64, len(devs))
	for i := range devs {
		keys[i] = leafKey(i, 0, 0)
	}
	p.setDevices(devs, keys, make([]uint8, len(devs)))
	return p
}

func dedup(devices []string) []string {
	out := make([]string, 0, len(devices))
	seen := make(map[string]bool, len(devices))
	for _, d := range devices {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// setDevices installs devs with their leaf keys and flags and builds the
// tree in O(n).
func (p *Pool) setDevices(devs []string, keys []uint64, flags []uint8) {
	p.devs = devs
	p.flags = flags
	p.nHeld, p.nDown, p.nDrained, p.nUnusable = 0, 0, 0, 0
	for _, f := range flags {
		p.tally(f, 1)
	}
	p.index = make(map[string]int32, len(devs))
	for i, d := range devs {
		p.index[d] = int32(i)
	}
	p.levels = nil
	if len(devs) == 0 {
		return
	}
	lvl := padded(len(keys))
	copy(lvl, keys)
	p.levels = [][]uint64{lvl}
	for c := len(keys); c > 1; {
		c = (c + fanout - 1) / fanout
		next := padded(c)
		for j := range c {
			next[j] = min8(lvl[j*fanout:])
		}
		p.levels = append(p.levels, next)
		lvl = next
	}
}

func (p *Pool) tally(f uint8, d int) {
	if f&flagHeld != 0 {
		p.nHeld += d
	}
	if f&flagDown != 0 {
		p.nDown += d
	}
	if f&flagDrained != 0 {
		p.nDrained += d
	}
	if f&unusable != 0 {
		p.nUnusable += d
	}
}

// padded returns n slots rounded up to whole groups, all padKey.
func padded(n int) []uint64 {
	s := make([]uint64, (n+fanout-1)/fanout*fanout)
	for i := range s {
		s[i] = padKey
	}
	return s
}

func min8(s []uint64) uint64 {
	g := (*[fanout]uint64)(s)
	return min(min(min(g[0], g[1]), min(g[2], g[3])), min(min(g[4], g[5]), min(g[6], g[7])))
}

func (p *Pool) root() uint64 { return p.levels[len(p.levels)-1][0] }

// count decodes device i's connections from its leaf.
func (p *Pool) count(i int) uint32 { return uint32(p.levels[0][i]>>32) & countMask }

func (p *Pool) held(i int) bool { return p.flags[i]&flagHeld != 0 }

// set gives device i a count and flags and fixes its ancestors: O(log₈ n).
func (p *Pool) set(i int, count uint32, flags uint8) {
	p.tally(p.flags[i], -1)
	p.tally(flags, 1)
	p.flags[i] = flags
	idx := i
	p.levels[0][idx] = leafKey(i, count, flags)
	for k := 1; k < len(p.levels); k++ {
		m := min8(p.levels[k-1][idx&^(fanout-1):])
		idx /= fanout
		if p.levels[k][idx] == m {
			break // unchanged here, so unchanged above
		}
		p.levels[k][idx] = m
	}
}

// choose is the device an Allocate would give (no key of its own yet), or
// PoolExhausted saying why there is none. O(1): it reads the root.
func (p *Pool) choose(exclusive bool) (int, error) {
	best := p.root()
	class, count, i := best>>62, uint32(best>>32)&countMask, int(uint32(best))
	switch {
	case class == classUnusable:
		return 0, apierr.New(apierr.PoolExhausted, "network '%s' has no usable interface: %s",
			p.network, p.unusableText())
	case exclusive && count != 0, exclusive && class == classHeld:
		return 0, apierr.New(apierr.PoolExhausted,
			"network '%s' requires exclusive access to interfaces, but none are available%s", p.network, p.skipped())
	case class == classHeld:
		return 0, apierr.New(apierr.PoolExhausted,
			"network '%s' has no interface available: all %d are held exclusively%s", p.network, p.nHeld, p.skipped())
	}
	return i, nil
}

// unusableText says why no device is usable: "all 8 are down (no carrier)",
// "2 down (no carrier), 6 drained".
func (p *Pool) unusableText() string {
	var parts []string
	if n := p.nDown; n > 0 {
		parts = append(parts, fmt.Sprintf("%d down (no carrier)", n))
	}
	if n := p.nUnusable - p.nDown; n > 0 {
		parts = append(parts, fmt.Sprintf("%d drained", n))
	}
	if p.nUnusable == len(p.devs) && len(parts) == 1 {
		return fmt.Sprintf("all %d are %s", len(p.devs), parts[0][strings.IndexByte(parts[0], ' ')+1:])
	}
	if held := p.nHeld - p.heldUnusable(); held > 0 {
		parts = append(parts, fmt.Sprintf("%d held exclusively", held))
	}
	return strings.Join(parts, ", ")
}

// heldUnusable counts devices both held and unusable; O(n), on the error
// path only.
func (p *Pool) heldUnusable() int {
	n := 0
	for _, f := range p.flags {
		if f&flagHeld != 0 && f&unusable != 0 {
			n++
		}
	}
	return n
}

// skipped is appended to an exhaustion message when unusable devices were
// passed over: " (3 more are down or drained)".
func (p *Pool) skipped() string {
	if p.nUnusable == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d more are down or drained)", p.nUnusable)
}

// Allocate counts the interface key (domainUUID/MAC) and returns the device
// it gets ("" on a host-bridge network, where exclusive has no meaning).
// Repeating a key returns the device it already has and counts nothing new,
// whatever exclusive says. None free: PoolExhausted, and nothing changes.
func (p *Pool) Allocate(key string, exclusive bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.allocs[key]; ok {
		return p.name(a.dev), nil
	}
	if len(p.devs) == 0 {
		p.allocs[key] = alloc{dev: -1}
		return "", nil
	}
	i, err := p.choose(exclusive)
	if err != nil {
		return "", err
	}
	p.take(key, i, exclusive)
	return p.devs[i], nil
}

func (p *Pool) take(key string, i int, exclusive bool) {
	p.allocs[key] = alloc{dev: int32(i), exclusive: exclusive}
	f := p.flags[i]
	if exclusive {
		f |= flagHeld
	}
	p.set(i, p.count(i)+1, f)
}

// Peek answers what Allocate(key, exclusive) would, changing nothing.
func (p *Pool) Peek(key string, exclusive bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.allocs[key]; ok {
		return p.name(a.dev), nil
	}
	if len(p.devs) == 0 {
		return "", nil
	}
	i, err := p.choose(exclusive)
	if err != nil {
		return "", err
	}
	return p.devs[i], nil
}

// Has reports whether key is counted.
func (p *Pool) Has(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.allocs[key]
	return ok
}

func (p *Pool) name(i int32) string {
	if i < 0 {
		return ""
	}
	return p.devs[i]
}

// Claim counts a known allocation (restart recovery: the state dir says key
// uses dev). Claiming the same key and device again is a no-op. It fails,
// changing nothing, with NotFound for a device not in the pool and Conflict
// when the key holds another device, dev is held exclusively, or an
// exclusive claim finds dev already in use. On a host-bridge network dev
// must be "".
func (p *Pool) Claim(key, dev string, exclusive bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.allocs[key]; ok {
		if p.name(a.dev) == dev {
			return nil
		}
		return apierr.New(apierr.Conflict, "network '%s': interface %s already uses device '%s', cannot claim '%s'",
			p.network, key, p.name(a.dev), dev)
	}
	if len(p.devs) == 0 {
		if dev != "" {
			return apierr.New(apierr.NotFound, "network '%s' has no device pool, cannot claim device '%s' for interface %s",
				p.network, dev, key)
		}
		p.allocs[key] = alloc{dev: -1}
		return nil
	}
	j, ok := p.index[dev]
	i := int(j)
	switch {
	case !ok:
		return apierr.New(apierr.NotFound, "network '%s' has no device '%s' in its pool (interface %s)", p.network, dev, key)
	case p.held(i):
		return apierr.New(apierr.Conflict, "network '%s': device '%s' is held exclusively by another interface, cannot claim it for %s",
			p.network, dev, key)
	case exclusive && p.count(i) > 0:
		return apierr.New(apierr.Conflict, "network '%s': device '%s' already has %d connection(s), cannot claim it exclusively for %s",
			p.network, dev, p.count(i), key)
	}
	p.take(key, i, exclusive)
	return nil
}

// Release uncounts key, returning exactly what its Allocate or Claim took.
// It reports false, changing nothing, for a key it does not know.
func (p *Pool) Release(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.allocs[key]
	if !ok {
		return false
	}
	delete(p.allocs, key)
	if i := int(a.dev); i >= 0 {
		// An exclusive holder was the device's only connection.
		p.set(i, p.count(i)-1, p.flags[i]&^flagHeld)
	}
	return true
}

// Connections is the number of interfaces counted on the network.
func (p *Pool) Connections() uint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return uint(len(p.allocs))
}

// Devices lists the pool devices with their connections, in pool order
// (nil for a host-bridge network).
func (p *Pool) Devices() []DeviceCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.devs) == 0 {
		return nil
	}
	out := make([]DeviceCount, len(p.devs))
	for i, d := range p.devs {
		f := p.flags[i]
		out[i] = DeviceCount{Device: d, Connections: uint(p.count(i)),
			Exclusive: f&flagHeld != 0, Down: f&flagDown != 0, Drained: f&flagDrained != 0}
	}
	return out
}

// SetDevices replaces the pool (a redefinition) and keeps the counts and
// holders of the devices that stay; the new order is the new pool order.
// It fails with InUse, changing nothing, if a device with connections would
// go, or if a host-bridge network with connections would get a pool.
func (p *Pool) SetDevices(devices []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	devs := dedup(devices)
	if len(p.devs) == 0 && len(devs) > 0 && len(p.allocs) > 0 {
		return apierr.New(apierr.InUse, "network '%s' has %d connection(s) on its host bridge, cannot give it a device pool",
			p.network, len(p.allocs))
	}
	newIndex := make(map[string]int, len(devs))
	for j, d := range devs {
		newIndex[d] = j
	}
	var busy []string
	for i, d := range p.devs {
		if _, kept := newIndex[d]; !kept && p.count(i) > 0 {
			busy = append(busy, fmt.Sprintf("'%s' (%d connection(s))", d, p.count(i)))
		}
	}
	if len(busy) > 0 {
		noun := "device"
		if len(busy) > 1 {
			noun = "devices"
		}
		return apierr.New(apierr.InUse, "network '%s': cannot remove in-use %s %s from the pool",
			p.network, noun, strings.Join(busy, ", "))
	}

	keys := make([]uint64, len(devs))
	flags := make([]uint8, len(devs))
	for j := range devs {
		keys[j] = leafKey(j, 0, 0)
	}
	moved := make([]int32, len(p.devs)) // old index → new index, -1 gone
	for i, d := range p.devs {
		moved[i] = -1
		if j, ok := newIndex[d]; ok {
			moved[i] = int32(j)
			flags[j] = p.flags[i]
			keys[j] = leafKey(j, p.count(i), p.flags[i])
		}
	}
	for k, a := range p.allocs {
		if a.dev >= 0 {
			// Every allocation's device is kept (checked above).
			a.dev = moved[a.dev]
			p.allocs[k] = a
		}
	}
	p.setDevices(devs, keys, flags)
	return nil
}

// SetDown records whether dev's carrier is down. It reports whether that
// changed anything; a device not in the pool is ignored (false).
func (p *Pool) SetDown(dev string, down bool) bool { return p.setFlag(dev, flagDown, down) }

// SetDrained records whether an admin drained dev; NotFound if dev is not
// in the pool. changed is false when it already was in that state.
func (p *Pool) SetDrained(dev string, drained bool) (changed bool, err error) {
	p.mu.Lock()
	_, ok := p.index[dev]
	p.mu.Unlock()
	if !ok {
		return false, apierr.New(apierr.NotFound, "network '%s' has no device '%s' in its pool", p.network, dev)
	}
	return p.setFlag(dev, flagDrained, drained), nil
}

func (p *Pool) setFlag(dev string, flag uint8, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	j, ok := p.index[dev]
	if !ok {
		return false
	}
	i := int(j)
	f := p.flags[i] &^ flag
	if on {
		f |= flag
	}
	if f == p.flags[i] {
		return false
	}
	p.set(i, p.count(i), f)
	return true
}

// Free is the number of usable devices with no connection: what
// exclusive requests can still get.
func (p *Pool) Free() uint {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := uint(0)
	for i := range p.devs {
		if p.flags[i] == 0 && p.count(i) == 0 {
			n++
		}
	}
	return n
}
