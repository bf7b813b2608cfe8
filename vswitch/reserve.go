package vswitch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/pool"
	"github.com/virtswitch/virtswitch/resolve"
	"github.com/virtswitch/virtswitch/statedir"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// Reservations hold, for a domain about to start or to arrive by
// migration, what its Prepare would take: each interface is counted in its
// pool under the very key the Prepare uses (domain UUID/MAC), so an
// exclusive device is given to nobody else and a shared device's count
// includes it. The domain's own Prepare finds its keys already counted
// (pool.Allocate is idempotent per key) and consumes the reservation;
// RewriteIncoming counts the reserved keys as room. CancelReservation or
// the TTL drops it. Each reservation is a file in the state dir (written
// before Reserve answers), so it survives a daemon restart; its expiry is
// wall-clock time, so it also expires across one.

// TTL bounds of Reserve.
const (
	MinReservationTTL = 1 * time.Second
	MaxReservationTTL = 24 * time.Hour
)

// CheckTTL is the rule for Reserve's ttlSeconds.
func CheckTTL(seconds uint32) error {
	d := time.Duration(seconds) * time.Second
	if d < MinReservationTTL || d > MaxReservationTTL {
		return fmt.Errorf("reservation TTL %d s is out of range: it must be from %d to %d seconds (24 hours)",
			seconds, int(MinReservationTTL.Seconds()), int(MaxReservationTTL.Seconds()))
	}
	return nil
}

type reservations struct {
	mu      sync.Mutex
	byToken map[string]*reservation
	byUUID  map[string]*reservation
}

// reservation is one held domain; its JSON is the state-dir record.
type reservation struct {
	Token   string      `json:"-"`
	UUID    string      `json:"uuid"`
	Name    string      `json:"name,omitempty"`
	Expires time.Time   `json:"expires"`
	Ports   []resvPort  `json:"ports"`
	timer   *time.Timer `json:"-"`
}

type resvPort struct {
	Network   string `json:"network"`
	MAC       string `json:"mac"`
	Device    string `json:"device,omitempty"`
	Exclusive bool   `json:"exclusive,omitempty"`
}

func (r *reservations) init() {
	if r.byToken == nil {
		r.byToken = map[string]*reservation{}
		r.byUUID = map[string]*reservation{}
	}
}

func (r *reservations) get(uuid string) *reservation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byUUID[uuid]
}

func (r *reservations) add(v *reservation) {
	r.mu.Lock()
	r.init()
	r.byToken[v.Token], r.byUUID[v.UUID] = v, v
	r.mu.Unlock()
}

func (r *reservations) drop(v *reservation) {
	r.mu.Lock()
	if r.byToken[v.Token] == v {
		delete(r.byToken, v.Token)
		delete(r.byUUID, v.UUID)
	}
	r.mu.Unlock()
	if v.timer != nil {
		v.timer.Stop()
	}
}

// holds tells whether v counts key on network.
func (v *reservation) holds(network, key string) bool {
	if v == nil {
		return false
	}
	for _, p := range v.Ports {
		if p.Network == network && portKey(v.UUID, p.MAC) == key {
			return true
		}
	}
	return false
}

// ReservationCount is the number of reservations held.
func (s *Switch) ReservationCount() int {
	s.resv.mu.Lock()
	defer s.resv.mu.Unlock()
	return len(s.resv.byToken)
}

// Reserve holds what a Prepare of the domain (Form A or Form B) would take,
// for ttl, and returns the reservation's token. It fails, holding nothing,
// with the error the Prepare would give; with Conflict when the domain is
// already prepared here or already holds a reservation.
func (s *Switch) Reserve(doc []byte, ttlSeconds uint32) (string, error) {
	if err := CheckTTL(ttlSeconds); err != nil {
		return "", err
	}
	ttl := time.Duration(ttlSeconds) * time.Second
	s.defs.RLock()
	_, d, uuid, err := s.encodeIncoming(doc)
	s.defs.RUnlock()
	if err != nil {
		return "", err
	}
	unlock := s.domains.lock(uuid)
	defer unlock()
	s.defs.RLock()
	token, changed, err := s.reserveLocked(d, uuid, ttl)
	s.defs.RUnlock()
	s.networksChanged(changed)
	return token, err
}

func (s *Switch) reserveLocked(d *xmlrewrite.Domain, uuid string, ttl time.Duration) (token string, changed []string, err error) {
	ctx := domainCtx(d.Name, uuid)
	if v := s.resv.get(uuid); v != nil {
		return "", nil, apierr.New(apierr.Conflict, "%s already holds reservation %s (until %s); cancel it first",
			ctx, v.Token, v.Expires.UTC().Format(time.RFC3339))
	}
	old, err := s.state.Read(uuid)
	switch {
	case err == nil:
		od, _, perr := xmlrewrite.ParseStatus(old)
		if perr == nil && (s.isPending(uuid) || s.isRunning(od.Name, uuid)) {
			return "", nil, apierr.New(apierr.Conflict, "%s is already prepared on this host: there is nothing to reserve", ctx)
		}
		// Left by a run that ended (as in Prepare).
		freed, terr := s.teardownLocked(uuid, old, true)
		changed = append(changed, freed...)
		if terr != nil {
			return "", changed, terr
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", nil, apierr.Wrap(err, apierr.Plumbing, "%s", ctx)
	}

	v := &reservation{Token: statedir.NewToken(), UUID: uuid, Name: d.Name, Expires: time.Now().Add(ttl)}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	for _, p := range d.Ports {
		pctx := ctx + " interface " + p.MAC
		n, res, err := s.resolvePort(pctx, p)
		if err != nil {
			return "", changed, err
		}
		key := portKey(uuid, p.MAC)
		dev, err := n.pool.Allocate(key, res.Exclusive)
		if err != nil {
			return "", changed, apierr.Wrap(err, apierr.PoolExhausted, "%s", pctx)
		}
		pl := n.pool
		undo = append(undo, func() { pl.Release(key) })
		v.Ports = append(v.Ports, resvPort{Network: p.Network, MAC: p.MAC, Device: dev, Exclusive: res.Exclusive && res.ActualType == resolve.ActualDirect})
		changed = append(changed, p.Network)
	}
	rec, err := json.Marshal(v)
	if err != nil {
		return "", changed, apierr.New(apierr.Plumbing, "%s: encoding the reservation: %v", ctx, err)
	}
	if err := s.state.WriteReservation(v.Token, rec); err != nil {
		return "", changed, apierr.Wrap(err, apierr.Plumbing, "%s", ctx)
	}
	s.resv.add(v)
	s.arm(v)
	s.log.Info("reserved", "domain", uuid, "name", d.Name, "token", v.Token, "ttl", ttl)
	return v.Token, changed, nil
}

// arm starts v's expiry timer.
func (s *Switch) arm(v *reservation) {
	v.timer = time.AfterFunc(time.Until(v.Expires), func() { s.expire(v) })
}

func (s *Switch) expire(v *reservation) {
	unlock := s.domains.lock(v.UUID)
	defer unlock()
	s.defs.RLock()
	changed, dropped := s.dropLocked(v)
	s.defs.RUnlock()
	if dropped {
		s.log.Info("reservation expired", "domain", v.UUID, "token", v.Token)
	}
	s.networksChanged(changed)
}

// dropLocked releases what v holds and removes its record, if v is still
// held. Needs defs held and the domain's lock (or defs exclusively).
func (s *Switch) dropLocked(v *reservation) (changed []string, dropped bool) {
	s.resv.mu.Lock()
	live := s.resv.byToken[v.Token] == v
	s.resv.mu.Unlock()
	if !live {
		return nil, false
	}
	for _, p := range v.Ports {
		if n := s.nets[p.Network]; n != nil && n.pool.Release(portKey(v.UUID, p.MAC)) {
			changed = append(changed, p.Network)
		}
	}
	s.forget(v)
	return changed, true
}

// forget removes v's record and entry, leaving the pools alone.
func (s *Switch) forget(v *reservation) {
	if err := s.state.RemoveReservation(v.Token); err != nil {
		s.log.Error("removing reservation record", "token", v.Token, "err", err)
	}
	s.resv.drop(v)
}

// CancelReservation drops a reservation; NotFound for a token that is not
// held (never was, expired, cancelled, or consumed by a prepare).
func (s *Switch) CancelReservation(token string) error {
	if !statedir.ValidToken(token) {
		return apierr.New(apierr.NotFound, "'%s' is not a reservation token (32 hex digits)", shorten(token))
	}
	s.resv.mu.Lock()
	v := s.resv.byToken[token]
	s.resv.mu.Unlock()
	if v == nil {
		return apierr.New(apierr.NotFound, "reservation %s does not exist (it expired, was cancelled, or a prepare consumed it)", token)
	}
	unlock := s.domains.lock(v.UUID)
	defer unlock()
	s.defs.RLock()
	changed, dropped := s.dropLocked(v)
	s.defs.RUnlock()
	s.networksChanged(changed)
	if !dropped {
		return apierr.New(apierr.NotFound, "reservation %s does not exist (it expired, was cancelled, or a prepare consumed it)", token)
	}
	s.log.Info("reservation cancelled", "domain", v.UUID, "token", token)
	return nil
}

func shorten(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// consumeLocked ends uuid's reservation after its Prepare succeeded: the
// keys the prepare used are the domain's now; reserved interfaces the
// prepared domain no longer has are released. Needs defs held and the
// domain's lock.
func (s *Switch) consumeLocked(uuid string, used map[string]bool) (changed []string) {
	v := s.resv.get(uuid)
	if v == nil {
		return nil
	}
	for _, p := range v.Ports {
		key := portKey(uuid, p.MAC)
		if used[p.Network+" "+key] {
			continue
		}
		if n := s.nets[p.Network]; n != nil && n.pool.Release(key) {
			changed = append(changed, p.Network)
		}
	}
	s.forget(v)
	s.log.Info("reservation consumed by prepare", "domain", uuid, "token", v.Token)
	return changed
}

// loadReservations reads the records at start-up: an expired one is
// removed, the others are held again (recovery counts them) and armed.
func (s *Switch) loadReservations() {
	recs, err := s.state.Reservations()
	if err != nil {
		s.log.Error("reading reservations", "err", err)
		return
	}
	now := time.Now()
	for token, b := range recs {
		v := &reservation{Token: token}
		if err := json.Unmarshal(b, v); err != nil || !statedir.ValidUUID(v.UUID) {
			s.log.Error("removing an unreadable reservation record", "token", token, "err", err)
			s.state.RemoveReservation(token)
			continue
		}
		if !v.Expires.After(now) {
			s.log.Info("reservation expired while the daemon was stopped", "domain", v.UUID, "token", token)
			s.state.RemoveReservation(token)
			continue
		}
		s.resv.add(v)
		s.arm(v)
	}
}

// claimReservationsLocked counts the held reservations in recovery's fresh
// pools. A reservation of a domain that has a state file was consumed by a
// prepare the daemon did not get to record: it is dropped, the domain's
// file rules. Needs defs held exclusively.
func (s *Switch) claimReservationsLocked(fresh map[string]*pool.Pool, hasState map[string]bool) (problems []error) {
	s.resv.mu.Lock()
	all := make([]*reservation, 0, len(s.resv.byToken))
	for _, v := range s.resv.byToken {
		all = append(all, v)
	}
	s.resv.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Token < all[j].Token })
	for _, v := range all {
		if hasState[v.UUID] {
			s.forget(v)
			continue
		}
		for _, p := range v.Ports {
			pl := fresh[p.Network]
			if pl == nil {
				problems = append(problems, apierr.New(apierr.NotFound,
					"recovery: reservation %s (domain %s) interface %s uses network '%s', which is not defined: not counted", v.Token, v.UUID, p.MAC, p.Network))
				continue
			}
			if err := pl.Claim(portKey(v.UUID, p.MAC), p.Device, p.Exclusive); err != nil {
				problems = append(problems, apierr.Wrap(err, apierr.Conflict, "recovery: reservation %s (domain %s) interface %s", v.Token, v.UUID, p.MAC))
			}
		}
	}
	return problems
}

// Close stops the reservations' timers (at shutdown; the records stay for
// the next start).
func (s *Switch) Close() {
	s.resv.mu.Lock()
	defer s.resv.mu.Unlock()
	for _, v := range s.resv.byToken {
		if v.timer != nil {
			v.timer.Stop()
		}
	}
}
