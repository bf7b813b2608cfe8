// Package vswitch is virtswitchd's core without D-Bus: the defined networks
// with their pools, the running domains' allocations and plumbing, and
// restart recovery (SPEC §1, §3, §4, §5).
//
// Concurrency. libvirt runs hooks for different guests at once and godbus
// runs every call in its own goroutine, so:
//   - calls for different domains run in parallel; calls for one domain UUID
//     are serialised (a per-UUID lock);
//   - every domain operation holds the definitions lock shared, so network
//     (re)definitions, Reload and recovery, which hold it exclusively, never
//     see a half-done Prepare (links made, state file not yet written);
//   - counts live in pool.Pool, which is itself safe for concurrent use.
package vswitch

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/netdef"
	"github.com/virtswitch/virtswitch/netname"
	"github.com/virtswitch/virtswitch/plumb"
	"github.com/virtswitch/virtswitch/pool"
	"github.com/virtswitch/virtswitch/statedir"
	"github.com/virtswitch/virtswitch/vport"
)

// Defaults for Config fields left zero.
const (
	DefaultLibvirtStateDir = "/run/libvirt/qemu"
	DefaultStateDir        = "/run/virtswitch"
	// DefaultPendingGrace is how long a domain prepared by this daemon
	// counts as running before its QEMU pid file appears: libvirt runs the
	// prepare hook before it launches QEMU.
	DefaultPendingGrace = 10 * time.Minute
)

// Observer learns about changes, e.g. to emit D-Bus signals. Its methods are
// called after the change, outside the Switch's locks, and must not block.
type Observer interface {
	// NetworksChanged: the definition or the counts of these networks
	// changed (or they were defined or undefined).
	NetworksChanged(names []string)
	DomainPrepared(uuid, name string)
	DomainReleased(uuid string)
}

// Config says where things live.
type Config struct {
	ConfigDir       string // network definitions (netdef.Store)
	StateDir        string // per-domain state (statedir)
	LibvirtStateDir string // where libvirt keeps NAME.pid of running domains
	Plumber         *plumb.Plumber
	OVS             *plumb.OVS    // Open vSwitch access; nil: ovs-vsctl's defaults
	Observer        Observer      // nil: nobody listens
	Logger          *slog.Logger  // nil: slog.Default()
	PendingGrace    time.Duration // 0: DefaultPendingGrace
	DrainFile       string        // drained pool devices; "": DefaultDrainFile
	// IncomingHeldDown, if set, reports whether LinksUp will be called
	// when a guest's CPUs start on this host (virtswitchd: while it
	// follows libvirt's domain events). Only then does the prepare of an
	// incoming migration or restore leave the links down (incoming.go).
	IncomingHeldDown func() bool
}

// Switch is the daemon's state. Create it with Open.
type Switch struct {
	store      netdef.Store
	state      *statedir.Dir
	plumb      *plumb.Plumber
	ovs        *plumb.OVS
	libvirtDir string
	obs        Observer
	log        *slog.Logger
	grace      time.Duration

	// defs guards nets (the map and each entry's def and pool pointer).
	// Domain operations hold it shared; Define, Undefine, Reload, Recover
	// and RewriteIncoming's dry run hold it exclusively.
	defs sync.RWMutex
	nets map[string]*network

	domains keyedMutex

	// Uplink health (health.go).
	health       sync.Mutex
	down         map[string]bool            // host device → carrier down
	carrierQueue map[string]bool            // devices whose carrier the pools have not seen yet
	drained      map[string]map[string]bool // network → drained devices (the drain file)
	drainFile    string

	resv reservations // reserve.go

	pendMu   sync.Mutex
	pending  map[string]time.Time // UUID → when this daemon prepared it
	incoming map[string]time.Time // UUID → when RewriteIncoming accepted it (links to stay down)
	held     map[string]bool      // UUIDs whose links were made down and not brought up yet
	holdDown func() bool
}

type network struct {
	def  *netdef.Network
	pool *pool.Pool
}

// Open opens the state dir and loads the network definitions. A bad
// definition file is logged and skipped. It does not recover: call Recover
// before serving requests.
func Open(cfg Config) (*Switch, error) {
	if cfg.Plumber == nil {
		return nil, errors.New("vswitch: no plumber")
	}
	if cfg.ConfigDir == "" {
		cfg.ConfigDir = netname.DefaultDir
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.LibvirtStateDir == "" {
		cfg.LibvirtStateDir = DefaultLibvirtStateDir
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PendingGrace <= 0 {
		cfg.PendingGrace = DefaultPendingGrace
	}
	if cfg.DrainFile == "" {
		cfg.DrainFile = DefaultDrainFile
	}
	st, err := statedir.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Switch{
		store:      netdef.Store{Dir: cfg.ConfigDir},
		state:      st,
		plumb:      cfg.Plumber,
		ovs:        cfg.OVS,
		libvirtDir: cfg.LibvirtStateDir,
		obs:        cfg.Observer,
		log:        cfg.Logger,
		grace:      cfg.PendingGrace,
		nets:       map[string]*network{},
		pending:    map[string]time.Time{},
		down:       map[string]bool{},
		drainFile:  cfg.DrainFile,
		incoming:   map[string]time.Time{},
		held:       map[string]bool{},
		holdDown:   cfg.IncomingHeldDown,
	}
	if s.drained, err = readDrained(cfg.DrainFile); err != nil {
		s.log.Error("reading the drained devices", "err", err)
	}
	s.loadReservations()
	s.defs.Lock()
	changed, err := s.loadLocked()
	s.defs.Unlock()
	if err != nil {
		s.log.Error("loading network definitions", "err", err)
	}
	s.networksChanged(changed)
	return s, nil
}

// NetworkInfo is a network's definition summary and live counts.
type NetworkInfo struct {
	Name, UUID, Mode string
	Bridge           string // host bridge, "" for pool networks
	Portgroups       []string
	Connections      uint
	Devices          []pool.DeviceCount // pool order; nil for host-bridge networks
	Free             uint               // usable devices with no connection (what exclusive requests can get)
}

func (n *network) info() NetworkInfo {
	pgs := make([]string, 0, len(n.def.Portgroups))
	for _, pg := range n.def.Portgroups {
		pgs = append(pgs, pg.Name)
	}
	return NetworkInfo{
		Name:        n.def.Name,
		UUID:        n.def.UUID,
		Mode:        n.def.Mode,
		Bridge:      n.def.Bridge,
		Portgroups:  pgs,
		Connections: n.pool.Connections(),
		Devices:     n.pool.Devices(),
		Free:        n.pool.Free(),
	}
}

// Networks returns every defined network, sorted by name.
func (s *Switch) Networks() []NetworkInfo {
	s.defs.RLock()
	defer s.defs.RUnlock()
	out := make([]NetworkInfo, 0, len(s.nets))
	for _, n := range s.nets {
		out = append(out, n.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Network returns one network; NotFound if it is not defined.
func (s *Switch) Network(name string) (NetworkInfo, error) {
	s.defs.RLock()
	defer s.defs.RUnlock()
	n, err := s.lookup(name)
	if err != nil {
		return NetworkInfo{}, err
	}
	return n.info(), nil
}

// HasNetwork reports whether name is a defined network (Encode's "ours").
func (s *Switch) HasNetwork(name string) bool {
	s.defs.RLock()
	defer s.defs.RUnlock()
	return s.nets[name] != nil
}

// NetworkXML is the network's XML: the config view, or with status the
// status view with connection counts (GetXMLDesc flags 0 and 1).
func (s *Switch) NetworkXML(name string, status bool) (string, error) {
	s.defs.RLock()
	defer s.defs.RUnlock()
	n, err := s.lookup(name)
	if err != nil {
		return "", err
	}
	if !status {
		return n.def.Format(nil), nil
	}
	st := &netdef.Status{Connections: n.pool.Connections(), Devices: map[string]uint{}}
	for _, d := range n.pool.Devices() {
		st.Devices[d.Device] = d.Connections
	}
	return n.def.Format(st), nil
}

func (s *Switch) lookup(name string) (*network, error) {
	n := s.nets[name]
	if n == nil {
		return nil, apierr.New(apierr.NotFound, "network '%s' is not defined", name)
	}
	return n, nil
}

// Define validates and persists a network definition and (re)defines it.
// A new network gets a UUID unless it names one; a redefinition keeps the
// UUID. Redefinition may not change the mode while the network has
// connections or drop a pool device in use (InUse).
func (s *Switch) Define(doc []byte) (NetworkInfo, error) {
	n, err := netdef.Parse(doc)
	if err != nil {
		return NetworkInfo{}, withKind(err, apierr.InvalidXML)
	}
	s.defs.Lock()
	info, err := s.defineLocked(n, true)
	s.defs.Unlock()
	if err != nil {
		return NetworkInfo{}, err
	}
	s.networksChanged([]string{n.Name})
	return info, nil
}

// defineLocked applies n (from Parse) over the current definitions. With
// save it writes NAME.xml; without (Reload) it writes only to record a
// newly assigned UUID.
func (s *Switch) defineLocked(n *netdef.Network, save bool) (NetworkInfo, error) {
	if n.UUID != "" {
		u, err := vport.ParseUUID(n.UUID)
		if err != nil {
			return NetworkInfo{}, apierr.New(apierr.InvalidXML, "network '%s': invalid <uuid> '%s'", n.Name, n.UUID)
		}
		n.UUID = u
		for name, other := range s.nets {
			if name != n.Name && other.def.UUID == u {
				return NetworkInfo{}, apierr.New(apierr.Conflict,
					"network '%s': UUID %s is already used by network '%s'", n.Name, u, name)
			}
		}
	}
	old := s.nets[n.Name]
	if old == nil {
		assigned := n.UUID == ""
		if assigned {
			n.UUID = vport.NewUUID()
		}
		if save || assigned {
			if err := s.store.Save(n); err != nil {
				return NetworkInfo{}, withKind(err, apierr.Plumbing)
			}
		}
		nw := &network{def: n, pool: pool.New(n.Name, n.Devices)}
		s.applyHealth(n.Name, nw.pool)
		s.nets[n.Name] = nw
		return nw.info(), nil
	}

	assigned := false
	switch {
	case n.UUID == "":
		n.UUID, assigned = old.def.UUID, true
	case n.UUID != old.def.UUID:
		return NetworkInfo{}, apierr.New(apierr.Conflict,
			"network '%s' already exists with UUID %s, not %s", n.Name, old.def.UUID, n.UUID)
	}
	if c := old.pool.Connections(); c > 0 && n.Mode != old.def.Mode {
		return NetworkInfo{}, apierr.New(apierr.InUse,
			"network '%s' has %d connection(s): cannot change its forward mode from '%s' to '%s'", n.Name, c, old.def.Mode, n.Mode)
	}
	oldDevs := old.def.Devices
	if err := old.pool.SetDevices(n.Devices); err != nil {
		return NetworkInfo{}, err
	}
	s.applyHealth(n.Name, old.pool) // devices new to the pool
	if save || assigned {
		if err := s.store.Save(n); err != nil {
			// The devices that went had no connections, so going back
			// cannot fail.
			if rerr := old.pool.SetDevices(oldDevs); rerr != nil {
				s.log.Error("restoring pool after a failed save", "network", n.Name, "err", rerr)
			}
			return NetworkInfo{}, withKind(err, apierr.Plumbing)
		}
	}
	old.def = n
	return old.info(), nil
}

// Undefine removes a network; InUse while it has connections, NotFound if
// it is not defined.
func (s *Switch) Undefine(name string) error {
	s.defs.Lock()
	err := s.undefineLocked(name)
	s.defs.Unlock()
	if err != nil {
		return err
	}
	s.networksChanged([]string{name})
	return nil
}

func (s *Switch) undefineLocked(name string) error {
	n, err := s.lookup(name)
	if err != nil {
		return err
	}
	if c := n.pool.Connections(); c > 0 {
		return apierr.New(apierr.InUse, "network '%s' is in use by %d interface(s): cannot undefine it", name, c)
	}
	if err := s.store.Remove(name); err != nil {
		return withKind(err, apierr.Plumbing)
	}
	delete(s.nets, name)
	return nil
}

// Reload re-reads the config dir and recovers (SPEC §4). Good files are
// applied; a bad file, or a change the InUse rules refuse, keeps the
// previous definition of that network, and all such problems come back as
// one error.
func (s *Switch) Reload() error {
	s.defs.Lock()
	changed, lerr := s.loadLocked()
	rchanged, released, rerr := s.recoverLocked()
	s.defs.Unlock()
	s.networksChanged(append(changed, rchanged...))
	s.domainsReleased(released)
	return joinErrors(lerr, rerr)
}

// loadLocked makes the config dir's networks the defined set.
func (s *Switch) loadLocked() (changed []string, err error) {
	nets, errs := s.store.Load()
	seen := map[string]bool{}
	for _, n := range nets {
		seen[n.Name] = true
		if _, err := s.defineLocked(n, false); err != nil {
			errs = append(errs, err)
			continue
		}
		changed = append(changed, n.Name)
	}
	for name, n := range s.nets {
		if seen[name] {
			continue
		}
		if s.store.Has(name) {
			// The file is there but bad (its error is in errs): keep the
			// definition we have rather than drop a working network.
			continue
		}
		if c := n.pool.Connections(); c > 0 {
			errs = append(errs, apierr.New(apierr.InUse,
				"network '%s' has %d connection(s) but its definition file is gone: kept until they end", name, c))
			continue
		}
		delete(s.nets, name)
		changed = append(changed, name)
	}
	var all []error
	for _, e := range errs {
		s.log.Warn("network definition", "err", e)
		all = append(all, e)
	}
	return changed, joinErrors(all...)
}

// withKind gives err the kind k unless it has one; for errors whose
// message already names their subject (netdef, xmlrewrite, the store).
func withKind(err error, k apierr.Kind) error {
	if err == nil || apierr.KindOf(err) != "" {
		return err
	}
	return apierr.New(k, "%s", err.Error())
}

// joinErrors folds errors into one one-line error; the Kind is that of the
// first error that has one.
func joinErrors(errs ...error) error {
	var msgs []string
	var kind apierr.Kind
	for _, e := range errs {
		if e == nil {
			continue
		}
		msgs = append(msgs, e.Error())
		if kind == "" {
			kind = apierr.KindOf(e)
		}
	}
	switch {
	case len(msgs) == 0:
		return nil
	case kind == "":
		return errors.New(strings.Join(msgs, "; "))
	}
	return apierr.New(kind, "%s", strings.Join(msgs, "; "))
}

func (s *Switch) networksChanged(names []string) {
	if s.obs == nil || len(names) == 0 {
		return
	}
	seen := map[string]bool{}
	uniq := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			uniq = append(uniq, n)
		}
	}
	s.obs.NetworksChanged(uniq)
}

// Ping takes and releases the definitions lock: the watchdog uses it to
// check that the core is not wedged.
func (s *Switch) Ping() {
	s.defs.RLock()
	s.defs.RUnlock()
}

// Drain waits until every operation that has started has finished (it
// takes the definitions lock exclusively once). Used at shutdown, after the
// bus name is released, so replies go out before the connection closes.
func (s *Switch) Drain() {
	s.defs.Lock()
	s.defs.Unlock()
}

// keyedMutex serialises work per key (domain UUID); entries live only
// while someone holds or waits for them.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

func domainCtx(name, uuid string) string {
	if name != "" {
		return fmt.Sprintf("domain '%s'", name)
	}
	return fmt.Sprintf("domain %s", uuid)
}
