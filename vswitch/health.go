package vswitch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/atomicfile"
	"github.com/virtswitch/virtswitch/pool"
)

// DefaultDrainFile keeps the drained pool devices across daemon restarts
// and host reboots (the state dir is tmpfs, so it cannot be there).
const DefaultDrainFile = "/var/lib/virtswitch/drained"

// Uplink health: a pool device whose carrier is down (followed from
// rtnetlink events by FollowCarrier) or that an admin drained gets no new
// interfaces; those it has keep it. Carrier is per host device (one device
// may be in several networks' pools), a drain per network and device.
// Both live here as well as in the pools, because recovery and
// redefinitions build new pools: applyHealth gives them the state.
//
// Lock order: defs, then health. health is never held while calling out.

// FollowCarrier reads every link's carrier and then follows rtnetlink
// events until ctx ends. It returns once the current state is applied, so
// a caller that starts it before serving never hands out a device whose
// carrier is already known to be down. Events only note the new state (a
// map write): a worker applies it to the pools, so a long recovery holding
// the definitions lock never stalls the netlink socket.
func (s *Switch) FollowCarrier(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	if err := s.plumb.WatchCarrier(ctx, func(dev string, down bool) {
		if s.noteCarrier(dev, down) {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		return err
	}
	s.applyCarrier()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				s.applyCarrier()
			}
		}
	}()
	return nil
}

// SetCarrier records dev's carrier (down = no carrier) and applies it to
// every pool that has dev before it returns.
func (s *Switch) SetCarrier(dev string, down bool) {
	if s.noteCarrier(dev, down) {
		s.applyCarrier()
	}
}

// noteCarrier records dev's carrier and queues it for applyCarrier; it
// reports whether anything changed.
func (s *Switch) noteCarrier(dev string, down bool) bool {
	s.health.Lock()
	defer s.health.Unlock()
	if s.down[dev] == down {
		return false
	}
	if down {
		s.down[dev] = true
	} else {
		delete(s.down, dev)
	}
	if s.carrierQueue == nil {
		s.carrierQueue = map[string]bool{}
	}
	s.carrierQueue[dev] = true
	return true
}

// applyCarrier gives the pools the current carrier of every queued device.
func (s *Switch) applyCarrier() {
	s.defs.RLock()
	s.health.Lock()
	queue := s.carrierQueue
	s.carrierQueue = nil
	state := make(map[string]bool, len(queue))
	for dev := range queue {
		state[dev] = s.down[dev]
	}
	s.health.Unlock()
	var changed []string
	for dev, down := range state {
		var nets []string
		for name, n := range s.nets {
			if n.pool.SetDown(dev, down) {
				nets = append(nets, name)
			}
		}
		if len(nets) > 0 {
			s.log.Info("pool device carrier", "device", dev, "down", down, "networks", strings.Join(nets, ","))
			changed = append(changed, nets...)
		}
	}
	s.defs.RUnlock()
	s.networksChanged(changed)
}

// SetDrained drains (or undrains) device dev of network: no new interface
// gets it, those it has stay. The drain is written to the drain file before
// it takes effect, so it survives a daemon restart and a reboot. NotFound
// for a network that is not defined or a device not in its pool; nothing
// changes then, nor when the file cannot be written (Plumbing).
func (s *Switch) SetDrained(network, dev string, drained bool) error {
	s.defs.RLock()
	n, err := s.lookup(network)
	if err == nil && !contains(n.def.Devices, dev) {
		err = apierr.New(apierr.NotFound, "network '%s' has no device '%s' in its pool", network, dev)
		if len(n.def.Devices) == 0 {
			err = apierr.New(apierr.NotFound, "network '%s' has no device pool (it uses host bridge '%s'), so there is no device '%s' to drain",
				network, n.def.Bridge, dev)
		}
	}
	if err != nil {
		s.defs.RUnlock()
		return err
	}
	s.health.Lock()
	set := s.drained[network]
	if set[dev] == drained {
		s.health.Unlock()
		s.defs.RUnlock()
		return nil
	}
	next := copyDrained(s.drained)
	if drained {
		if next[network] == nil {
			next[network] = map[string]bool{}
		}
		next[network][dev] = true
	} else {
		delete(next[network], dev)
		if len(next[network]) == 0 {
			delete(next, network)
		}
	}
	if err := writeDrained(s.drainFile, next); err != nil {
		s.health.Unlock()
		s.defs.RUnlock()
		return apierr.New(apierr.Plumbing, "network '%s' device '%s': cannot record the drain: %v", network, dev, err)
	}
	s.drained = next
	s.health.Unlock()
	_, err = n.pool.SetDrained(dev, drained)
	s.defs.RUnlock()
	if err != nil {
		return err
	}
	s.log.Info("pool device drain", "network", network, "device", dev, "drained", drained)
	s.networksChanged([]string{network})
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// applyHealth gives a new pool of network the known carrier and drain
// state of its devices.
func (s *Switch) applyHealth(network string, p *pool.Pool) {
	s.health.Lock()
	defer s.health.Unlock()
	for dev := range s.down {
		p.SetDown(dev, true)
	}
	for dev := range s.drained[network] {
		p.SetDrained(dev, true) // NotFound: no longer in the pool; kept in the file
	}
}

func copyDrained(m map[string]map[string]bool) map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(m))
	for n, devs := range m {
		c := make(map[string]bool, len(devs))
		for d := range devs {
			c[d] = true
		}
		out[n] = c
	}
	return out
}

// The drain file: one "NETWORK DEVICE" line per drained device, sorted
// (names have no white space: netdef checks both), written atomically.
func writeDrained(path string, m map[string]map[string]bool) error {
	var lines []string
	for n, devs := range m {
		for d := range devs {
			lines = append(lines, n+" "+d+"\n")
		}
	}
	sort.Strings(lines)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(strings.Join(lines, "")), 0o644)
}

// readDrained loads the drain file; a missing file is no drain. A bad line
// is reported and skipped.
func readDrained(path string) (map[string]map[string]bool, error) {
	m := map[string]map[string]bool{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	var bad []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for ln := 1; sc.Scan(); ln++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			bad = append(bad, fmt.Sprintf("line %d", ln))
			continue
		}
		if m[f[0]] == nil {
			m[f[0]] = map[string]bool{}
		}
		m[f[0]][f[1]] = true
	}
	if len(bad) > 0 {
		return m, fmt.Errorf("%s: ignored malformed %s (want NETWORK DEVICE)", path, strings.Join(bad, ", "))
	}
	return m, nil
}
