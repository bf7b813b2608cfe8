package vswitch

import (
	"errors"
	"io/fs"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/statedir"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// Incoming migrations keep their links down until the guest runs here.
//
// While a guest migrates, it runs on the source and its links exist on both
// hosts. A destination link that is up makes the physical switch learn the
// guest's MAC on the destination's port too (the macvtap sends as soon as it
// is up: IPv6 neighbour discovery), so frames for the still-running source
// guest go astray. libvirt keeps the macvtaps it manages down until the
// guest's CPUs start; with Form B the links are virtswitch's, so virtswitch
// does the same:
//
//   - RewriteIncoming (the hook's `migrate begin` and `restore begin`)
//     marks the domain as incoming when something will bring the links up
//     later (Config.IncomingHeldDown; virtswitchd: it follows libvirt's
//     events);
//   - the domain's next Prepare consumes the mark and creates its links
//     down;
//   - LinksUp brings them up; virtswitchd calls it when libvirt reports the
//     domain running (its CPUs started: a migration finished, a restore
//     resumed, `virsh resume` of a `migrate --suspend`).
//
// Nothing of this is kept across a daemon restart: the links' own state
// is the record, and LinksUp is idempotent, so virtswitchd calls it for
// every running domain whenever it (re)connects to libvirt.

// incomingWindow bounds how long a mark waits for its Prepare: libvirt runs
// `prepare begin` right after `migrate begin`; a mark of a migration that
// never got that far must not hold a later, ordinary start's links down.
const incomingWindow = 2 * time.Minute

func (s *Switch) markIncoming(uuid string) {
	if s.holdDown == nil || !s.holdDown() {
		return
	}
	s.pendMu.Lock()
	s.incoming[uuid] = time.Now()
	s.pendMu.Unlock()
}

// heldDown records that domain uuid's links were made down (LinksUp and
// teardown forget it); HeldDown lists them for a sweep that catches what
// an event did not (dbusd/libvirt.go).
func (s *Switch) setHeldDown(uuid string, down bool) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if down {
		s.held[uuid] = true
	} else {
		delete(s.held, uuid)
	}
}

// HeldDown lists the domains whose links this daemon made down and has not
// brought up yet.
func (s *Switch) HeldDown() []string {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	out := make([]string, 0, len(s.held))
	for u := range s.held {
		out = append(out, u)
	}
	return out
}

// takeIncoming removes domain uuid's mark and reports whether it was there
// and fresh.
func (s *Switch) takeIncoming(uuid string) bool {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	t, ok := s.incoming[uuid]
	delete(s.incoming, uuid)
	return ok && time.Since(t) < incomingWindow
}

// LinksUp brings up every link of domain uuid (those its state file
// records) and returns how many were down. A domain without virtswitch state
// here is success with 0: the event that triggers this comes for every
// domain of the host. A link that is missing is a Plumbing error naming the
// domain and the link; the others are still brought up.
func (s *Switch) LinksUp(uuid string) (int, error) {
	uuid, err := statedir.Canonical(uuid)
	if err != nil {
		return 0, err
	}
	unlock := s.domains.lock(uuid)
	defer unlock()
	b, err := s.state.Read(uuid)
	if errors.Is(err, fs.ErrNotExist) {
		s.setHeldDown(uuid, false)
		return 0, nil
	}
	if err != nil {
		return 0, apierr.Wrap(err, apierr.Plumbing, "domain %s", uuid)
	}
	d, _, err := xmlrewrite.ParseStatus(b)
	if err != nil {
		return 0, apierr.Wrap(err, apierr.InvalidXML, "state of domain %s", uuid)
	}
	ctx := domainCtx(d.Name, uuid)
	var n int
	var errs []error
	for _, p := range d.Ports {
		up, err := s.plumb.IsUp(p.Target)
		if err == nil && !up {
			if err = s.plumb.SetUp(p.Target); err == nil {
				n++
			}
		}
		if err != nil {
			errs = append(errs, apierr.Wrap(err, apierr.Plumbing, "%s interface %s", ctx, p.MAC))
		}
	}
	if n > 0 {
		s.log.Info("links up: the guest runs here", "domain", uuid, "name", d.Name, "links", n)
	}
	if len(errs) == 0 {
		s.setHeldDown(uuid, false)
	}
	return n, joinErrors(errs...)
}

// HasDomainState reports whether domain uuid has a state file here (a
// stat: the cheap test before asking libvirt about the domain).
func (s *Switch) HasDomainState(uuid string) bool { return s.state.Has(uuid) }
