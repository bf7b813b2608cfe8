package main

// This file: virtswitchd's side of libvirt. libvirtconn follows libvirt's
// domain lifecycle events on its own goroutine (never in the way of a
// D-Bus call: no bus method waits for libvirt); domainEvent below is the
// one place they are dispatched.

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/virtswitch/virtswitch/adopt"
	"github.com/virtswitch/virtswitch/libvirtconn"
	"github.com/virtswitch/virtswitch/vswitch"
)

// libvirtSide holds the Follower and what reacts to its events.
type libvirtSide struct {
	f       *libvirtconn.Follower
	adopter *adopt.Adopter // nil: adoption off (--adopt=false)
	sw      *vswitch.Switch
	log     *slog.Logger
}

// connected: libvirt is followed now, so a guest's CPUs starting here will
// be seen (an incoming migration's links may stay down until then).
func (ls *libvirtSide) connected() bool { return ls.f.Client() != nil }

// parseSockets reads --libvirt-socket: a comma-separated list tried in
// order; "none" turns following libvirt off (nil).
func parseSockets(v string) []string {
	if v == "none" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newLibvirtSide is nil when --libvirt-socket is none.
func newLibvirtSide(o options, sw *vswitch.Switch, srv *server, log *slog.Logger) *libvirtSide {
	sockets := parseSockets(o.libvirtSockets)
	if len(sockets) == 0 {
		log.Info("not following libvirt (--libvirt-socket none): no adoption, no domain events")
		return nil
	}
	ls := &libvirtSide{
		f:   libvirtconn.NewFollower(libvirtconn.Config{Sockets: sockets, URI: o.libvirtURI, Logger: log}),
		sw:  sw,
		log: log,
	}
	if o.adopt {
		ls.adopter = &adopt.Adopter{Ours: sw.HasNetwork, Adopted: srv.DomainAdopted, Logger: log}
	}
	ls.f.OnConnect(ls.onConnect)
	ls.f.OnEvent(ls.domainEvent)
	return ls
}

// run follows libvirt until ctx ends (its own goroutine).
func (ls *libvirtSide) run(ctx context.Context) {
	go ls.sweepHeldDown(ctx, heldDownSweep)
	ls.f.Run(ctx)
}

// heldDownSweep: how often links still held down are checked against
// libvirt's state. The events bring them up at once; this catches an event
// that came before the CPUs ran (a restore queues STARTED/restored before
// it resumes the guest, and its resume sends no event of its own).
const heldDownSweep = 2 * time.Second

func (ls *libvirtSide) sweepHeldDown(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c := ls.f.Client()
		if c == nil {
			continue
		}
		for _, uuid := range ls.sw.HeldDown() {
			ls.linksUp(c, uuid, "")
		}
	}
}

// connected runs after every (re)connect: events missed while libvirt was
// away are not replayed, so adoption looks at every persistent domain.
func (ls *libvirtSide) onConnect(c *libvirtconn.Client) {
	ls.allLinksUp(c)
	if ls.adopter != nil {
		if n := ls.adopter.All(c); n > 0 {
			ls.log.Info("adoption: scan after connecting to libvirt", "adopted", n)
		}
	}
}

// domainEvent is where every libvirt domain lifecycle event reaches
// virtswitchd, in libvirt's order, one at a time. Add a reaction here as
// a case; slow work should be handed off (the next event waits).
func (ls *libvirtSide) domainEvent(c *libvirtconn.Client, ev libvirtconn.Event) {
	ls.log.Debug("libvirt event", "event", ev.String())
	switch ev.Type {
	case libvirtconn.Defined:
		// Every detail: added, updated, renamed, from-snapshot; also the
		// persistent definition an incoming `migrate --persistent` brings
		// (Form A from the source) while the guest runs in Form B.
		if ls.adopter != nil {
			ls.adopter.Domain(c, ev.UUID, ev.Name)
		}
	case libvirtconn.Started, libvirtconn.Resumed:
		// Maybe a guest's CPUs run on this host now: a live migration
		// finished here (resumed, migrated), a restore resumed, a
		// `migrate --suspend` guest was resumed. An incoming guest's links
		// were made down (vswitch/incoming.go); libvirt's state says whether
		// the CPUs run (STARTED/migrated comes while the copy has not even
		// begun).
		ls.linksUp(c, ev.UUID, ev.Name)
	}
}

// linksUp brings up a running domain's links (idempotent; a domain without
// virtswitch state is nothing to do).
func (ls *libvirtSide) linksUp(c *libvirtconn.Client, uuid, name string) {
	if !ls.sw.HasDomainState(uuid) {
		return
	}
	running, err := c.Running(uuid)
	if err != nil {
		ls.log.Warn("asking libvirt whether the guest runs", "domain", uuid, "name", name, "err", err)
		return
	}
	if !running {
		return
	}
	if _, err := ls.sw.LinksUp(uuid); err != nil {
		ls.log.Error("bringing up the links of a guest that runs here", "domain", uuid, "name", name, "err", err)
	}
}

// allLinksUp: after a (re)connect, events missed while libvirt (or this
// daemon) was away are not replayed, so every running domain's links are
// made sure to be up: a migration may have finished meanwhile.
func (ls *libvirtSide) allLinksUp(c *libvirtconn.Client) {
	doms, err := c.ListRunning()
	if err != nil {
		ls.log.Warn("listing running domains to bring their links up", "err", err)
		return
	}
	for _, d := range doms {
		if !ls.sw.HasDomainState(d.UUID) {
			continue
		}
		if _, err := ls.sw.LinksUp(d.UUID); err != nil {
			ls.log.Error("bringing up the links of a guest that runs here", "domain", d.UUID, "name", d.Name, "err", err)
		}
	}
}
