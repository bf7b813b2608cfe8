package vswitch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/pool"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// linkPrefix starts every link virtswitch creates (the Form B target).
const linkPrefix = "vsw"

// Recover rebuilds every count from the state dir alone (SPEC §4): a domain
// that runs is counted again and its links checked; one that does not has
// its links deleted, its devices' MACs restored and its file removed; vsw*
// links that no state file accounts for are deleted. It runs at start, on
// Reload and periodically.
func (s *Switch) Recover() error {
	s.defs.Lock()
	changed, released, err := s.recoverLocked()
	s.defs.Unlock()
	s.networksChanged(changed)
	s.domainsReleased(released)
	return err
}

func (s *Switch) domainsReleased(uuids []string) {
	if s.obs == nil {
		return
	}
	for _, u := range uuids {
		s.obs.DomainReleased(u)
	}
}

// Run recovers every interval until ctx ends (interval ≤ 0: never).
func (s *Switch) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Recover(); err != nil {
				s.log.Warn("periodic recovery", "err", err)
			}
		}
	}
}

type recovered struct {
	uuid   string
	dom    *xmlrewrite.Domain
	actual map[string]xmlrewrite.Actual
}

// recoverLocked needs defs held exclusively. It returns the networks whose
// counts changed and the domains it released, for the Observer (told after
// the lock is dropped).
func (s *Switch) recoverLocked() (changed, released []string, err error) {
	uuids, err := s.state.List()
	if err != nil {
		return nil, nil, apierr.Wrap(err, apierr.Plumbing, "recovery")
	}
	var problems []error
	var live []recovered
	accounted := map[string]bool{} // link names some state file still records
	for _, uuid := range uuids {
		b, err := s.state.Read(uuid)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		d, acts, err := xmlrewrite.ParseStatus(b)
		if err != nil {
			// Unreadable: nothing can be undone from it; its links are
			// swept below as unaccounted for.
			s.log.Error("recovery: removing unreadable state file", "domain", uuid, "err", err)
			if err := s.state.Remove(uuid); err != nil {
				problems = append(problems, err)
			}
			continue
		}
		if s.isPending(uuid) || s.running(d.Name, uuid) {
			live = append(live, recovered{uuid, d, acts})
			for _, p := range d.Ports {
				accounted[p.Target] = true
			}
			continue
		}
		s.log.Info("recovery: domain no longer runs, releasing it", "domain", uuid, "name", d.Name)
		if _, err := s.teardownLocked(uuid, b, false); err != nil {
			// Keep its links accounted for; the next recovery retries.
			problems = append(problems, err)
			for _, p := range d.Ports {
				accounted[p.Target] = true
			}
			continue
		}
		released = append(released, uuid)
	}

	// Fresh pools: counts come from the running domains' files only.
	fresh := make(map[string]*pool.Pool, len(s.nets))
	for name, n := range s.nets {
		fresh[name] = pool.New(name, n.def.Devices)
	}
	for _, r := range live {
		ctx := domainCtx(r.dom.Name, r.uuid)
		for _, p := range r.dom.Ports {
			a := r.actual[p.Target]
			pl := fresh[p.Network]
			if pl == nil {
				problems = append(problems, apierr.New(apierr.NotFound,
					"recovery: %s interface %s uses network '%s', which is not defined: not counted", ctx, p.MAC, p.Network))
				continue
			}
			if err := pl.Claim(portKey(r.uuid, p.MAC), a.Dev, exclusive(p.Network, a)); err != nil {
				problems = append(problems, apierr.Wrap(err, apierr.Conflict, "recovery: %s interface %s", ctx, p.MAC))
			}
			if ok, err := s.plumb.Exists(p.Target); err != nil {
				problems = append(problems, apierr.Wrap(err, apierr.Plumbing, "recovery: %s interface %s", ctx, p.MAC))
			} else if !ok {
				s.log.Warn("recovery: a running domain's link is missing", "domain", r.uuid, "name", r.dom.Name, "link", p.Target)
			}
		}
	}
	for name, n := range s.nets {
		if !sameCounts(n.pool, fresh[name]) {
			changed = append(changed, name)
		}
		n.pool = fresh[name]
	}

	links, err := s.plumb.List(linkPrefix)
	if err != nil {
		problems = append(problems, apierr.Wrap(err, apierr.Plumbing, "recovery: listing links"))
	}
	for _, l := range links {
		if accounted[l] || !xmlrewrite.IsTarget(l) {
			continue
		}
		s.log.Info("recovery: deleting a link no state file accounts for", "link", l)
		if err := s.plumb.Delete(l); err != nil {
			problems = append(problems, err)
		}
	}

	for _, p := range problems {
		s.log.Warn("recovery", "err", p)
	}
	return changed, released, joinErrors(problems...)
}

func sameCounts(a, b *pool.Pool) bool {
	if a.Connections() != b.Connections() {
		return false
	}
	da, db := a.Devices(), b.Devices()
	if len(da) != len(db) {
		return false
	}
	for i := range da {
		if da[i] != db[i] {
			return false
		}
	}
	return true
}

// running reports whether libvirt runs domain name with this UUID: its
// LIBVIRT_STATE_DIR/NAME.pid names a live process whose command line carries
// the UUID (QEMU gets -uuid). A reused pid of another process, a zombie
// (empty command line) or a pid file of another domain of that name all
// read as not running.
func (s *Switch) running(name, uuid string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return false
	}
	b, err := os.ReadFile(filepath.Join(s.libvirtDir, name+".pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return bytes.Contains(bytes.ToLower(cmd), []byte(uuid))
}
