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
// The choice and the count updates cost O(log n) in the pool size: a
// segment tree over the devices keeps, at every node, the minimum of the
// packed key (connections<<32 | pool index) of the devices below it, with
// exclusively held devices keyed above every real count. The root is
// therefore the device to hand out, and one update walks leaf to root.
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

// DeviceCount is one pool device and the number of interfaces using it.
type DeviceCount struct {
	Device      string
	Connections uint
}

// Pool is the usage state of one network.
type Pool struct {
	mu      sync.Mutex
	network string

	devs  []string       // pool order; empty for a host-bridge network
	index map[string]int // device → position in devs
	conns []uint32       // connections per device
	held  []bool         // held exclusively
	tree  []uint64       // segment tree; leaves at size+i; see package doc
	size  int            // leaves (a power of two ≥ len(devs))

	allocs map[string]alloc // by key (domainUUID/MAC)
}

type alloc struct {
	dev       int // index into devs; -1 on a host-bridge network
	exclusive bool
}

const (
	heldCount = math.MaxUint32 // key count of an exclusively held device
	padKey    = math.MaxUint64 // key of a tree leaf past the last device
)

// New makes the pool of network with the given devices, in pool order. nil
// or empty devices means a host-bridge network: only connections are counted.
// Devices must be distinct (netdef rejects duplicates); a repeated name is
// ignored here so the index stays consistent.
func New(network string, devices []string) *Pool {
	p := &Pool{network: network, allocs: map[string]alloc{}}
	p.setDevices(dedup(devices), nil, nil)
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

// setDevices installs devs with the given per-device counts and holds
// (nil = all zero) and rebuilds the tree in O(n).
func (p *Pool) setDevices(devs []string, conns []uint32, held []bool) {
	n := len(devs)
	if conns == nil {
		conns = make([]uint32, n)
	}
	if held == nil {
		held = make([]bool, n)
	}
	p.devs, p.conns, p.held = devs, conns, held
	p.index = make(map[string]int, n)
	for i, d := range devs {
		p.index[d] = i
	}
	p.size = 1
	for p.size < n {
		p.size <<= 1
	}
	p.tree = make([]uint64, 2*p.size)
	for i := range p.size {
		p.tree[p.size+i] = padKey
		if i < n {
			p.tree[p.size+i] = p.key(i)
		}
	}
	for j := p.size - 1; j >= 1; j-- {
		p.tree[j] = min(p.tree[2*j], p.tree[2*j+1])
	}
}

func (p *Pool) key(i int) uint64 {
	c := uint64(p.conns[i])
	if p.held[i] {
		c = heldCount
	}
	return c<<32 | uint64(i)
}

// update re-keys device i and fixes its ancestors.
func (p *Pool) update(i int) {
	j := p.size + i
	p.tree[j] = p.key(i)
	for j > 1 {
		j >>= 1
		m := min(p.tree[2*j], p.tree[2*j+1])
		if p.tree[j] == m {
			break // unchanged here, so unchanged above
		}
		p.tree[j] = m
	}
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
	best := p.tree[1]
	count, i := best>>32, int(uint32(best))
	switch {
	case exclusive && count != 0:
		return "", apierr.New(apierr.PoolExhausted,
			"network '%s' requires exclusive access to interfaces, but none are available", p.network)
	case count == heldCount:
		return "", apierr.New(apierr.PoolExhausted,
			"network '%s' has no interface available: all %d are held exclusively", p.network, len(p.devs))
	}
	p.take(key, i, exclusive)
	return p.devs[i], nil
}

func (p *Pool) take(key string, i int, exclusive bool) {
	p.allocs[key] = alloc{dev: i, exclusive: exclusive}
	p.conns[i]++
	if exclusive {
		p.held[i] = true
	}
	p.update(i)
}

func (p *Pool) name(i int) string {
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
	i, ok := p.index[dev]
	switch {
	case !ok:
		return apierr.New(apierr.NotFound, "network '%s' has no device '%s' in its pool (interface %s)", p.network, dev, key)
	case p.held[i]:
		return apierr.New(apierr.Conflict, "network '%s': device '%s' is held exclusively by another interface, cannot claim it for %s",
			p.network, dev, key)
	case exclusive && p.conns[i] > 0:
		return apierr.New(apierr.Conflict, "network '%s': device '%s' already has %d connection(s), cannot claim it exclusively for %s",
			p.network, dev, p.conns[i], key)
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
	if a.dev >= 0 {
		p.conns[a.dev]--
		if a.exclusive {
			p.held[a.dev] = false
		}
		p.update(a.dev)
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
		out[i] = DeviceCount{Device: d, Connections: uint(p.conns[i])}
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
		if _, kept := newIndex[d]; !kept && p.conns[i] > 0 {
			busy = append(busy, fmt.Sprintf("'%s' (%d connection(s))", d, p.conns[i]))
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

	conns := make([]uint32, len(devs))
	held := make([]bool, len(devs))
	moved := make([]int, len(p.devs)) // old index → new index, -1 gone
	for i, d := range p.devs {
		moved[i] = -1
		if j, ok := newIndex[d]; ok {
			moved[i] = j
			conns[j], held[j] = p.conns[i], p.held[i]
		}
	}
	for k, a := range p.allocs {
		if a.dev >= 0 {
			// Every allocation's device is kept (checked above).
			a.dev = moved[a.dev]
			p.allocs[k] = a
		}
	}
	p.setDevices(devs, conns, held)
	return nil
}
