package vswitch

import (
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/bandwidth"
	"github.com/virtswitch/virtswitch/netdef"
	"github.com/virtswitch/virtswitch/plumb"
	"github.com/virtswitch/virtswitch/resolve"
	"github.com/virtswitch/virtswitch/statedir"
	"github.com/virtswitch/virtswitch/vport"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// portKey is the pool key of one interface: domain UUID and MAC.
func portKey(uuid, mac string) string { return uuid + "/" + strings.ToLower(mac) }

// inspect reads a Form B domain and canonicalises its UUID.
func inspect(doc []byte) (*xmlrewrite.Domain, string, error) {
	d, err := xmlrewrite.Inspect(doc)
	if err != nil {
		return nil, "", withKind(err, apierr.InvalidXML)
	}
	if d.UUID == "" {
		return nil, "", apierr.New(apierr.InvalidXML, "%s: no <uuid>", domainCtx(d.Name, ""))
	}
	uuid, err := statedir.Canonical(d.UUID)
	if err != nil {
		return nil, "", apierr.Wrap(err, apierr.InvalidXML, "%s", domainCtx(d.Name, ""))
	}
	return d, uuid, nil
}

// Prepare allocates and plumbs every virtswitch port of a Form B domain,
// writes its state file and returns the status XML (SPEC §3–§5). Any failure
// undoes everything done so far. A repeated Prepare of a domain this daemon
// prepared, or of one that runs, returns the existing status and counts
// nothing; a state file left by a domain that no longer runs is cleaned up
// first.
func (s *Switch) Prepare(doc []byte) ([]byte, error) {
	d, uuid, err := inspect(doc)
	if err != nil {
		return nil, err
	}
	unlock := s.domains.lock(uuid)
	defer unlock()
	s.defs.RLock()
	status, changed, err := s.prepareLocked(doc, d, uuid)
	s.defs.RUnlock()
	s.networksChanged(changed)
	if err != nil {
		return nil, err
	}
	if len(changed) > 0 && s.obs != nil {
		s.obs.DomainPrepared(uuid, d.Name)
	}
	return status, nil
}

func (s *Switch) prepareLocked(doc []byte, d *xmlrewrite.Domain, uuid string) (status []byte, changed []string, err error) {
	ctx := domainCtx(d.Name, uuid)
	for _, net := range d.FormA {
		if s.nets[net] != nil {
			return nil, nil, apierr.New(apierr.InvalidXML,
				"%s: an <interface type='network'> names virtswitch network '%s'; convert the domain with 'virtswitchctl domain-encode' first",
				ctx, net)
		}
	}
	if len(d.Ports) == 0 {
		return nil, nil, apierr.New(apierr.InvalidXML, "%s has no virtswitch interfaces", ctx)
	}

	old, err := s.state.Read(uuid)
	switch {
	case err == nil:
		od, _, perr := xmlrewrite.ParseStatus(old)
		if perr == nil && (s.isPending(uuid) || s.isRunning(od.Name, uuid)) {
			return old, nil, nil
		}
		// Left by a run that ended while nobody released it.
		s.log.Info("cleaning up stale state before prepare", "domain", uuid)
		freed, terr := s.teardownLocked(uuid, old, true)
		changed = append(changed, freed...)
		if terr != nil {
			return nil, changed, terr
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, apierr.Wrap(err, apierr.Plumbing, "%s", ctx)
	}

	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	// 1. Resolve and allocate every port; nothing on the host changes yet.
	type plan struct {
		p    xmlrewrite.Port
		pctx string
	}
	var plans []plan
	actuals := map[string]xmlrewrite.Actual{}
	var touched []string
	resv := s.resv.get(uuid)  // a reservation this prepare consumes
	used := map[string]bool{} // "network key" of every interface
	for _, p := range d.Ports {
		pctx := ctx + " interface " + p.MAC
		n, res, err := s.resolvePort(pctx, p)
		if err != nil {
			return nil, changed, err
		}
		key := portKey(uuid, p.MAC)
		dev, err := n.pool.Allocate(key, res.Exclusive)
		if err != nil {
			return nil, changed, apierr.Wrap(err, apierr.PoolExhausted, "%s", pctx)
		}
		used[p.Network+" "+key] = true
		if !resv.holds(p.Network, key) {
			// A reserved key stays reserved if this prepare fails.
			pl := n.pool
			undo = append(undo, func() { pl.Release(key) })
		}
		// The bandwidth in effect: the interface's own, else the
		// network's (portgroup over network). libvirt applies the
		// interface's own itself; the network's is ours (step 3).
		a := xmlrewrite.Actual{Type: res.ActualType, VirtualPort: res.VirtualPort,
			Bandwidth: bandwidth.Effective(p.Bandwidth, res.Bandwidth)}
		switch res.ActualType {
		case resolve.ActualDirect:
			a.Dev, a.Mode = dev, res.Mode
			if res.Mode == "passthrough" {
				// The device's own MAC goes into the state file before
				// the device is touched (below).
				if a.SavedMAC, err = s.plumb.MAC(dev); err != nil {
					return nil, changed, apierr.Wrap(err, apierr.Plumbing, "%s", pctx)
				}
			}
		case resolve.ActualBridge:
			a.Bridge, a.Vlan = res.Bridge, res.Vlan
		default:
			return nil, changed, apierr.New(apierr.Unsupported, "%s: connection type '%s'", pctx, res.ActualType)
		}
		actuals[p.Target] = a
		plans = append(plans, plan{p: p, pctx: pctx})
		touched = append(touched, p.Network)
	}
	crashPoint("allocated")

	// 2. The state file, before any link exists: whatever happens to this
	// process from here on (kill -9 included), recovery finds what to
	// undo — the links to delete and, for passthrough, the MAC to give the
	// device back, which nothing else remembers. SPEC §4 asks for the file
	// before the reply; it is here before the plumbing too.
	status, err = xmlrewrite.Status(doc, actuals)
	if err != nil {
		return nil, changed, apierr.Wrap(err, apierr.InvalidXML, "%s", ctx)
	}
	if err := s.state.Write(uuid, status); err != nil {
		return nil, changed, apierr.Wrap(err, apierr.Plumbing, "%s", ctx)
	}
	undo = append(undo, func() {
		if err := s.state.Remove(uuid); err != nil {
			s.log.Error("undo: removing state file", "domain", uuid, "err", err)
		}
	})
	crashPoint("written")

	// 3. The links (down for an incoming migration or restore: incoming.go).
	var opts []plumb.CreateOption
	if s.takeIncoming(uuid) {
		opts = append(opts, plumb.Down())
		s.setHeldDown(uuid, true)
		undo = append(undo, func() { s.setHeldDown(uuid, false) })
	}
	rewrite := false
	for _, pl := range plans {
		p := pl.p
		a := actuals[p.Target]
		switch a.Type {
		case resolve.ActualDirect:
			saved, err := s.plumb.CreateMacvtap(p.Target, a.Dev, a.Mode, p.MAC, opts...)
			if err != nil {
				return nil, changed, apierr.Wrap(err, apierr.Plumbing, "%s", pl.pctx)
			}
			if saved != a.SavedMAC {
				// Someone changed the device's MAC since it was read
				// (not virtswitch: the device is allocated to this
				// domain). Give it back what it had just now.
				s.log.Warn("pool device MAC changed during prepare", "device", a.Dev, "read", a.SavedMAC, "saved", saved)
				a.SavedMAC = saved
				actuals[p.Target] = a
				rewrite = true
			}
			target, dev := p.Target, a.Dev
			undo = append(undo, func() { s.unplumb(target, dev, saved) })
		case resolve.ActualBridge:
			if isOVS(a) {
				if err := s.plumb.CreateOVSTap(p.Target, p.MAC, p.Queues, s.ovs, ovsPort(uuid, a), opts...); err != nil {
					return nil, changed, apierr.Wrap(err, apierr.Plumbing, "%s", pl.pctx)
				}
				target := p.Target
				undo = append(undo, func() { s.unplumbOVS(target) })
				break
			}
			if err := s.plumb.CreateTap(p.Target, a.Bridge, p.MAC, p.Queues, opts...); err != nil {
				return nil, changed, apierr.Wrap(err, apierr.Plumbing, "%s", pl.pctx)
			}
			target := p.Target
			undo = append(undo, func() { s.unplumb(target, "", "") })
		}
		if p.Bandwidth == nil && a.Bandwidth != nil {
			// The link's undo (above) deletes the IFB and qdiscs too.
			if err := s.plumb.SetBandwidth(p.Target, a.Bandwidth); err != nil {
				return nil, changed, apierr.Wrap(err, apierr.Plumbing, "%s", pl.pctx)
			}
		}
		crashPoint("plumbed " + p.Target)
	}
	if rewrite {
		if status, err = xmlrewrite.Status(doc, actuals); err != nil {
			return nil, changed, apierr.Wrap(err, apierr.InvalidXML, "%s", ctx)
		}
		if err := s.state.Write(uuid, status); err != nil {
			return nil, changed, apierr.Wrap(err, apierr.Plumbing, "%s", ctx)
		}
	}
	s.setPending(uuid)
	changed = append(changed, s.consumeLocked(uuid, used)...)
	return status, append(changed, touched...), nil
}

// crashHook, when set (tests only), is called at each step of a prepare;
// a test makes it panic to stop the prepare there, as a kill -9 would.
var crashHook func(stage string)

func crashPoint(stage string) {
	if crashHook != nil {
		crashHook(stage)
	}
}

// unplumb deletes a link and, for passthrough, gives the device its MAC
// back; failures are logged (used on the undo path, where the first error is
// the one reported).
func (s *Switch) unplumb(target, dev, savedMAC string) {
	if err := s.plumb.Delete(target); err != nil {
		s.log.Error("undo: deleting link", "link", target, "err", err)
	}
	if savedMAC != "" {
		if err := s.plumb.RestoreMAC(dev, savedMAC); err != nil {
			s.log.Error("undo: restoring MAC", "device", dev, "err", err)
		}
	}
}

// isOVS tells whether an allocation is an Open vSwitch port.
func isOVS(a xmlrewrite.Actual) bool {
	return a.Type == resolve.ActualBridge && a.VirtualPort != nil && a.VirtualPort.Type == vport.OpenVSwitch
}

// ovsPort is the Open vSwitch port of an allocation: libvirt's
// external-ids (iface-id = the merged interfaceid, vm-id = the domain's
// UUID, port-profile = its profileid) and the VLAN.
func ovsPort(uuid string, a xmlrewrite.Actual) plumb.OVSPort {
	return plumb.OVSPort{Bridge: a.Bridge, InterfaceID: a.VirtualPort.Get("interfaceid"),
		ProfileID: a.VirtualPort.Get("profileid"), VMID: uuid, Vlan: a.Vlan}
}

// unplumbOVS removes an Open vSwitch port and its tap (undo path: logged).
func (s *Switch) unplumbOVS(target string) {
	s.unplumb(target, "", "")
	if err := s.ovs.DeletePort(target); err != nil {
		s.log.Error("undo: removing Open vSwitch port", "port", target, "err", err)
	}
}

// Release undoes what Prepare did for domain uuid: deletes its links,
// restores passthrough devices' MACs, frees its counts and removes its state
// file. An unknown UUID is success. If a link cannot be deleted the state
// file and counts stay, and recovery retries once the domain is gone.
func (s *Switch) Release(uuid string) error {
	uuid, err := statedir.Canonical(uuid)
	if err != nil {
		return err
	}
	unlock := s.domains.lock(uuid)
	defer unlock()
	s.defs.RLock()
	b, err := s.state.Read(uuid)
	var changed []string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.clearPending(uuid)
		s.takeIncoming(uuid)
		s.setHeldDown(uuid, false)
		s.defs.RUnlock()
		return nil
	case err != nil:
		err = apierr.Wrap(err, apierr.Plumbing, "domain %s", uuid)
	default:
		changed, err = s.teardownLocked(uuid, b, true)
	}
	s.defs.RUnlock()
	s.networksChanged(changed)
	if err == nil && s.obs != nil {
		s.obs.DomainReleased(uuid)
	}
	return err
}

// teardownLocked deletes the links a state file records, restores saved
// MACs, then (with counted) frees the pool counts, and removes the file.
// It needs defs held (shared or exclusive) and the domain's lock or
// exclusive defs. It returns the networks whose counts changed.
func (s *Switch) teardownLocked(uuid string, status []byte, counted bool) ([]string, error) {
	d, acts, err := xmlrewrite.ParseStatus(status)
	if err != nil {
		return nil, apierr.Wrap(err, apierr.InvalidXML, "state of domain %s", uuid)
	}
	ctx := domainCtx(d.Name, uuid)
	var failed []string
	for _, p := range d.Ports {
		if err := s.plumb.Delete(p.Target); err != nil {
			failed = append(failed, err.Error())
			continue
		}
		if isOVS(acts[p.Target]) {
			if err := s.ovs.DeletePort(p.Target); err != nil {
				failed = append(failed, err.Error())
			}
		}
		if a := acts[p.Target]; a.SavedMAC != "" {
			if err := s.plumb.RestoreMAC(a.Dev, a.SavedMAC); err != nil {
				failed = append(failed, err.Error())
			}
		}
	}
	if len(failed) > 0 {
		return nil, apierr.New(apierr.Plumbing, "%s: releasing: %s", ctx, strings.Join(failed, "; "))
	}
	var changed []string
	if counted {
		for _, p := range d.Ports {
			if n := s.nets[p.Network]; n != nil && n.pool.Release(portKey(uuid, p.MAC)) {
				changed = append(changed, p.Network)
			}
		}
	}
	if err := s.state.Remove(uuid); err != nil {
		return changed, apierr.Wrap(err, apierr.Plumbing, "%s", ctx)
	}
	s.clearPending(uuid)
	s.setHeldDown(uuid, false)
	return changed, nil
}

// Reconnect adopts a running domain after libvirtd restarted (hook ops
// reconnect and attach). With a state file the domain's allocations are
// made sure to be counted (never twice) and its status returned. Without
// one, the domain is prepared afresh unless one of its links already
// exists: a link nothing accounts for is a Conflict (we cannot know which
// device it uses, so we cannot count it).
func (s *Switch) Reconnect(doc []byte) ([]byte, error) {
	d, uuid, err := inspect(doc)
	if err != nil {
		return nil, err
	}
	unlock := s.domains.lock(uuid)
	defer unlock()
	s.defs.RLock()
	status, changed, fresh, err := s.reconnectLocked(doc, d, uuid)
	s.defs.RUnlock()
	s.networksChanged(changed)
	if err == nil && fresh && s.obs != nil {
		s.obs.DomainPrepared(uuid, d.Name)
	}
	return status, err
}

func (s *Switch) reconnectLocked(doc []byte, d *xmlrewrite.Domain, uuid string) (status []byte, changed []string, fresh bool, err error) {
	ctx := domainCtx(d.Name, uuid)
	old, err := s.state.Read(uuid)
	if err == nil {
		changed, err := s.claimLocked(uuid, old)
		if err != nil {
			return nil, changed, false, err
		}
		return old, changed, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, apierr.Wrap(err, apierr.Plumbing, "%s", ctx)
	}
	for _, p := range d.Ports {
		ok, err := s.plumb.Exists(p.Target)
		if err != nil {
			return nil, nil, false, apierr.Wrap(err, apierr.Plumbing, "%s interface %s", ctx, p.MAC)
		}
		if ok {
			return nil, nil, false, apierr.New(apierr.Conflict,
				"%s interface %s: link '%s' exists but virtswitch has no state for this domain, so it cannot tell which device the link uses",
				ctx, p.MAC, p.Target)
		}
	}
	status, changed, err = s.prepareLocked(doc, d, uuid)
	return status, changed, err == nil, err
}

// claimLocked counts the allocations a state file records (idempotent per
// interface).
func (s *Switch) claimLocked(uuid string, status []byte) ([]string, error) {
	d, acts, err := xmlrewrite.ParseStatus(status)
	if err != nil {
		return nil, apierr.Wrap(err, apierr.InvalidXML, "state of domain %s", uuid)
	}
	ctx := domainCtx(d.Name, uuid)
	var changed []string
	for _, p := range d.Ports {
		n := s.nets[p.Network]
		if n == nil {
			return changed, apierr.New(apierr.NotFound, "%s interface %s: network '%s' is not defined", ctx, p.MAC, p.Network)
		}
		a := acts[p.Target]
		before := n.pool.Connections()
		if err := n.pool.Claim(portKey(uuid, p.MAC), a.Dev, exclusive(p.Network, a)); err != nil {
			return changed, apierr.Wrap(err, apierr.Conflict, "%s interface %s", ctx, p.MAC)
		}
		if n.pool.Connections() != before {
			changed = append(changed, p.Network)
		}
	}
	return changed, nil
}

// exclusive tells whether a recorded allocation holds its device alone.
// The rule lives in resolve; it is asked about a network that has exactly
// what the allocation got (its mode, its device, the merged port as
// recorded), which is independent of later redefinitions.
func exclusive(network string, a xmlrewrite.Actual) bool {
	if a.Type != resolve.ActualDirect {
		return false
	}
	n := &netdef.Network{Name: network, Mode: a.Mode, Devices: []string{a.Dev}}
	res, err := resolve.Resolve(n, "", a.VirtualPort)
	if err != nil {
		// A recorded port always resolves against itself; if it does
		// not, the safe answer keeps others off the device.
		return true
	}
	return res.Exclusive
}

// RewriteIncoming is for migrate and restore: Form A interfaces naming
// networks defined here become Form B, and every virtswitch port is checked
// against this host (network, portgroup, virtualport merge, and room in the
// pool) without allocating anything. It returns nil when the document needs
// no change.
func (s *Switch) RewriteIncoming(doc []byte) ([]byte, error) {
	// Exclusive: the trial allocations below must not be visible to, or
	// race with, real ones.
	s.defs.Lock()
	defer s.defs.Unlock()
	out, changed, err := xmlrewrite.Encode(doc, func(name string) bool { return s.nets[name] != nil })
	if err != nil {
		return nil, withKind(err, apierr.InvalidXML)
	}
	d, uuid, err := inspect(out)
	if err != nil {
		return nil, err
	}
	ctx := domainCtx(d.Name, uuid)
	type trial struct {
		n   *network
		key string
	}
	var trials []trial
	defer func() {
		for _, t := range trials {
			t.n.pool.Release(t.key)
		}
	}()
	for _, p := range d.Ports {
		pctx := ctx + " interface " + p.MAC
		n, res, err := s.resolvePort(pctx, p)
		if err != nil {
			return nil, err
		}
		if n.pool.Has(portKey(uuid, p.MAC)) {
			continue // reserved for this domain (Reserve): its room is held
		}
		key := "dry-run/" + portKey(uuid, p.MAC)
		if _, err := n.pool.Allocate(key, res.Exclusive); err != nil {
			return nil, apierr.Wrap(err, apierr.PoolExhausted, "%s", pctx)
		}
		trials = append(trials, trial{n, key})
	}
	if len(d.Ports) > 0 {
		s.markIncoming(uuid)
	}
	if !changed {
		return nil, nil
	}
	return out, nil
}

// DomainStatus returns the state file of domain uuid; NotFound if there is
// none.
func (s *Switch) DomainStatus(uuid string) ([]byte, error) {
	uuid, err := statedir.Canonical(uuid)
	if err != nil {
		return nil, err
	}
	b, err := s.state.Read(uuid)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apierr.New(apierr.NotFound, "domain %s has no virtswitch state (not running, or not on a virtswitch network)", uuid)
	}
	if err != nil {
		return nil, apierr.Wrap(err, apierr.Plumbing, "domain %s", uuid)
	}
	return b, nil
}

func (s *Switch) setPending(uuid string) {
	s.pendMu.Lock()
	s.pending[uuid] = time.Now()
	s.pendMu.Unlock()
}

func (s *Switch) clearPending(uuid string) {
	s.pendMu.Lock()
	delete(s.pending, uuid)
	s.pendMu.Unlock()
}

// isPending: prepared by this daemon recently enough that QEMU may not have
// written its pid file yet.
func (s *Switch) isPending(uuid string) bool {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	t, ok := s.pending[uuid]
	return ok && time.Since(t) < s.grace
}
