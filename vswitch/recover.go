package vswitch

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/pool"
	"github.com/virtswitch/virtswitch/vport"
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

// scanned is one state file as recovery's parallel pass found it.
type scanned struct {
	uuid    string
	readErr error // the file could not be read
	bad     error // the file could not be parsed
	live    bool  // pending, or its QEMU runs
	name    string
	// A live domain keeps only what counting it needs; thousands of parsed
	// documents held until the end would make recovery's heap, and so the
	// daemon's resident memory, several times larger.
	ports []livePort
	// A domain to tear down keeps its file and parse.
	data []byte
	dom  *xmlrewrite.Domain
}

// livePort is one interface of a running domain, as counting needs it.
type livePort struct {
	target, mac, network, dev string
	exclusive                 bool
}

// scanState reads, parses and checks the liveness of every state file.
// This is the per-domain part of recovery (a file read, an XML parse, a pid
// file and a /proc/PID/cmdline read), so it runs on every CPU: recovery
// after a restart with thousands of guests is on the path to READY=1, and
// libvirtd waits for that. Results come back in uuids' order.
func (s *Switch) scanState(uuids []string) []scanned {
	out := make([]scanned, len(uuids))
	workers := min(runtime.GOMAXPROCS(0), len(uuids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 8<<10)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(uuids) {
					return
				}
				buf = s.scanOne(&out[i], uuids[i], buf)
			}
		}()
	}
	wg.Wait()
	return out
}

func (s *Switch) scanOne(r *scanned, uuid string, buf []byte) []byte {
	r.uuid = uuid
	data, err := s.state.Read(uuid)
	if err != nil {
		r.readErr = err
		return buf
	}
	d, acts, err := xmlrewrite.ParseStatus(data)
	if err != nil {
		r.bad = err
		return buf
	}
	r.name = d.Name
	r.live = s.isPending(uuid)
	if !r.live {
		r.live, buf = s.running(d.Name, uuid, buf)
	}
	if !r.live {
		r.data, r.dom = data, d
		return buf
	}
	r.ports = make([]livePort, len(d.Ports))
	for k, p := range d.Ports {
		a := acts[p.Target]
		r.ports[k] = livePort{target: p.Target, mac: p.MAC, network: p.Network, dev: a.Dev, exclusive: exclusive(p.Network, a)}
	}
	return buf
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
	// One name-only dump of the guest links answers "does this link
	// exist" for every interface and feeds the orphan sweep. With defs held
	// exclusively no prepare or release is half-way, so only this function
	// changes the guest links until it returns, and it keeps the set up to
	// date. If the dump fails, links are looked up one by one and the sweep
	// waits for the next recovery.
	present := map[string]bool{}
	names, lerr := s.plumb.Names(linkPrefix)
	if lerr != nil {
		problems = append(problems, apierr.Wrap(lerr, apierr.Plumbing, "recovery: listing links"))
		present = nil
	}
	for _, n := range names {
		present[n] = true
	}
	scan := s.scanState(uuids)
	accounted := map[string]bool{} // link names some state file still records
	for i := range scan {
		r := &scan[i]
		uuid := r.uuid
		switch {
		case r.readErr != nil:
			problems = append(problems, r.readErr)
			continue
		case r.bad != nil:
			// Unreadable: nothing can be undone from it; its links are
			// swept below as unaccounted for.
			s.log.Error("recovery: removing unreadable state file", "domain", uuid, "err", r.bad)
			if err := s.state.Remove(uuid); err != nil {
				problems = append(problems, err)
			}
			continue
		case r.live:
			for _, p := range r.ports {
				accounted[p.target] = true
			}
			continue
		}
		s.log.Info("recovery: domain no longer runs, releasing it", "domain", uuid, "name", r.name)
		_, err := s.teardownLocked(uuid, r.data, false)
		for _, p := range r.dom.Ports {
			if err != nil {
				// Keep its links accounted for; the next recovery retries.
				accounted[p.Target] = true
			} else if present != nil {
				delete(present, p.Target)
			}
		}
		r.data, r.dom = nil, nil
		if err != nil {
			problems = append(problems, err)
			continue
		}
		released = append(released, uuid)
	}

	// Fresh pools: counts come from the running domains' files only.
	fresh := make(map[string]*pool.Pool, len(s.nets))
	for name, n := range s.nets {
		fresh[name] = pool.New(name, n.def.Devices)
		s.applyHealth(name, fresh[name])
	}
	for i := range scan {
		r := &scan[i]
		if !r.live {
			continue
		}
		ctx := domainCtx(r.name, r.uuid)
		for _, p := range r.ports {
			pl := fresh[p.network]
			if pl == nil {
				problems = append(problems, apierr.New(apierr.NotFound,
					"recovery: %s interface %s uses network '%s', which is not defined: not counted", ctx, p.mac, p.network))
				continue
			}
			if err := pl.Claim(portKey(r.uuid, p.mac), p.dev, p.exclusive); err != nil {
				problems = append(problems, apierr.Wrap(err, apierr.Conflict, "recovery: %s interface %s", ctx, p.mac))
			}
			ok := present[p.target]
			if present == nil {
				var err error
				if ok, err = s.plumb.Exists(p.target); err != nil {
					problems = append(problems, apierr.Wrap(err, apierr.Plumbing, "recovery: %s interface %s", ctx, p.mac))
					continue
				}
			}
			if !ok {
				s.log.Warn("recovery: a running domain's link is missing", "domain", r.uuid, "name", r.name, "link", p.target)
			}
		}
	}
	hasState := make(map[string]bool, len(scan))
	for i := range scan {
		if scan[i].readErr != nil || scan[i].live {
			hasState[scan[i].uuid] = true
		}
	}
	problems = append(problems, s.claimReservationsLocked(fresh, hasState)...)
	for name, n := range s.nets {
		if !sameCounts(n.pool, fresh[name]) {
			changed = append(changed, name)
		}
		n.pool = fresh[name]
	}

	for _, l := range names {
		if !present[l] || accounted[l] || !xmlrewrite.IsTarget(l) {
			continue
		}
		s.log.Info("recovery: deleting a link no state file accounts for", "link", l)
		if err := s.plumb.Delete(l); err != nil {
			problems = append(problems, err)
		}
	}

	// Open vSwitch ports of ours that no state file accounts for (their
	// taps were swept above, or deleted by hand). Asked only when a
	// network is on Open vSwitch: a host without it has no ovs-vsctl.
	if s.usesOVS() {
		ports, err := s.ovs.Ports(linkPrefix)
		if err != nil {
			problems = append(problems, apierr.Wrap(err, apierr.Plumbing, "recovery"))
		}
		for _, port := range ports {
			if accounted[port] || !xmlrewrite.IsTarget(port) {
				continue
			}
			s.log.Info("recovery: removing an Open vSwitch port no state file accounts for", "port", port)
			if err := s.ovs.DeletePort(port); err != nil {
				problems = append(problems, err)
			}
		}
	}

	// IFBs whose link is gone (a crash between deleting the two).
	if gone, err := s.plumb.DeleteStrayIFBs(); err != nil {
		problems = append(problems, err)
	} else if len(gone) > 0 {
		s.log.Info("recovery: deleted IFBs whose link is gone", "ifbs", gone)
	}

	for _, p := range problems {
		s.log.Warn("recovery", "err", p)
	}
	return changed, released, joinErrors(problems...)
}

// usesOVS tells whether a defined network can have Open vSwitch ports.
func (s *Switch) usesOVS() bool {
	ovs := func(vp *vport.VirtualPort) bool { return vp != nil && vp.Type == vport.OpenVSwitch }
	for _, n := range s.nets {
		if n.def.Bridge == "" {
			continue
		}
		if ovs(n.def.VirtualPort) {
			return true
		}
		for _, pg := range n.def.Portgroups {
			if ovs(pg.VirtualPort) {
				return true
			}
		}
	}
	return false
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
// read as not running. buf is scratch space, returned (grown if need be)
// for the caller's next call.
func (s *Switch) running(name, uuid string, buf []byte) (bool, []byte) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return false, buf
	}
	b, err := readSmall(filepath.Join(s.libvirtDir, name+".pid"), buf[:0])
	buf = b
	if err != nil {
		return false, buf
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false, buf
	}
	cmd, err := readSmall("/proc/"+strconv.Itoa(pid)+"/cmdline", buf[:0])
	if err != nil {
		return false, cmd
	}
	u := []byte(uuid)
	// QEMU's -uuid is libvirt's lower-case form; the case-folding search
	// (which copies the command line) is for anything else.
	return bytes.Contains(cmd, u) || bytes.Contains(bytes.ToLower(cmd), u), cmd
}

// isRunning is running with a buffer of its own.
func (s *Switch) isRunning(name, uuid string) bool {
	ok, _ := s.running(name, uuid, nil)
	return ok
}

// readSmall reads a small file (a pid file, /proc/PID/cmdline) into buf
// with plain system calls, as few as the buffer allows. Recovery does this
// twice per domain: os.ReadFile adds an fstat and a poller check per file
// and starts /proc reads with a 512-byte buffer, and each read(2) of
// /proc/PID/cmdline copies from the other process's memory again.
func readSmall(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return buf, err
	}
	defer unix.Close(fd)
	if cap(buf) < 4096 {
		buf = make([]byte, 0, 8192)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}
