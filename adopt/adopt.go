// Package adopt holds the adoption rule (issue 15): a persistent libvirt
// domain whose definition has a Form A interface naming a virtswitch
// network is redefined in Form B, so a guest defined with plain
// `virsh define` (or virt-install, virt-manager, a management agent) starts.
//
//	a := &adopt.Adopter{Ours: sw.HasNetwork, Adopted: emit, Logger: log}
//	a.Domain(client, uuid, name) // on every DEFINED event
//	a.All(client)                // after every (re)connect to libvirt
//
// What it does to one domain, in order:
//  1. reads the persistent (inactive) definition, passwords included — for
//     a running domain that is its next boot's configuration; live XML is
//     never read or written;
//  2. nothing to do unless a Form A interface names a network Ours accepts;
//  3. if libvirt's own network driver defines a network of such a name,
//     libvirt's wins: the domain is not adopted, and a warning names it;
//  4. encodes with xmlrewrite.Encode (byte-preserving: only those
//     interfaces and <metadata> change);
//  5. reads the definition again right before defining: if the domain is
//     gone, no longer persistent, or was redefined meanwhile, it does
//     nothing (a redefinition brings its own DEFINED event; a define now
//     would resurrect a vanished domain or overwrite a newer one);
//  6. defines the result (libvirt's define is all-or-nothing: a refusal
//     leaves the original in place), logs one line and calls Adopted.
//
// Errors are logged, one line per domain, and never stop the caller.
package adopt

import (
	"bytes"
	"log/slog"
	"slices"

	"github.com/virtswitch/virtswitch/libvirtconn"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// Libvirt is what adoption needs from libvirt (a *libvirtconn.Client).
type Libvirt interface {
	ListPersistent() ([]libvirtconn.Domain, error)
	InactiveXML(uuid string) ([]byte, error)
	Persistent(uuid string) (bool, error)
	DefineXML(doc []byte, validate bool) (libvirtconn.Domain, error)
	NetworkDefined(name string) (bool, error)
}

// Adopter applies the rule. Ours and Logger are required; Adopted may be
// nil. Its methods are not meant to run concurrently (the daemon calls
// them from libvirtconn's one event goroutine).
type Adopter struct {
	Ours    func(network string) bool // is it a virtswitch network here
	Adopted func(uuid, name string)   // after a successful redefinition
	Logger  *slog.Logger
}

// Result says what Domain did.
type Result int

const (
	Untouched Result = iota // nothing of ours in Form A (or an error, logged)
	Adopted                 // redefined in Form B
	Conflict                // libvirt has a network of the same name: left alone
	Skipped                 // vanished, made transient or redefined meanwhile
	Failed                  // an error (logged): the original stays
)

// Domain adopts one domain if the rule says so.
func (a *Adopter) Domain(c Libvirt, uuid, name string) Result {
	log := a.Logger.With("domain", name, "uuid", uuid)
	doc, err := c.InactiveXML(uuid)
	if libvirtconn.IsNotFound(err) {
		return Skipped
	}
	if err != nil {
		log.Warn("adoption: reading the definition", "err", err)
		return Failed
	}
	d, err := xmlrewrite.Inspect(doc)
	if err != nil {
		log.Warn("adoption: not adopted, the definition does not parse", "err", err)
		return Failed
	}
	var nets []string
	for _, n := range d.FormA {
		if a.Ours(n) && !slices.Contains(nets, n) {
			nets = append(nets, n)
		}
	}
	if len(nets) == 0 {
		return Untouched
	}
	for _, n := range nets {
		has, err := c.NetworkDefined(n)
		if err != nil {
			log.Warn("adoption: not adopted", "err", err)
			return Failed
		}
		if has {
			log.Warn("adoption: not adopted: libvirt also defines network '"+n+"', and libvirt's network wins", "network", n)
			return Conflict
		}
	}
	out, changed, err := xmlrewrite.Encode(doc, a.Ours)
	if err != nil {
		log.Warn("adoption: not adopted, encoding failed", "err", err)
		return Failed
	}
	if !changed {
		return Untouched
	}
	if r, ok := a.unchanged(c, uuid, doc, log); !ok {
		return r
	}
	if _, err := c.DefineXML(out, false); err != nil {
		log.Warn("adoption: not adopted, libvirt refused the Form B definition; the original stays", "err", err)
		return Failed
	}
	log.Info("adopted: persistent definition redefined in Form B", "networks", nets)
	if a.Adopted != nil {
		a.Adopted(uuid, name)
	}
	return Adopted
}

// unchanged checks, right before the define, that the domain is still
// persistent with the definition that was encoded.
func (a *Adopter) unchanged(c Libvirt, uuid string, doc []byte, log *slog.Logger) (Result, bool) {
	p, err := c.Persistent(uuid)
	if libvirtconn.IsNotFound(err) || (err == nil && !p) {
		log.Info("adoption: skipped, the domain vanished or became transient meanwhile")
		return Skipped, false
	}
	if err != nil {
		log.Warn("adoption: re-reading the definition", "err", err)
		return Failed, false
	}
	again, err := c.InactiveXML(uuid)
	if libvirtconn.IsNotFound(err) {
		log.Info("adoption: skipped, the domain vanished meanwhile")
		return Skipped, false
	}
	if err != nil {
		log.Warn("adoption: re-reading the definition", "err", err)
		return Failed, false
	}
	if !bytes.Equal(again, doc) {
		log.Info("adoption: skipped, the domain was redefined meanwhile (its own event follows)")
		return Skipped, false
	}
	return 0, true
}

// All applies Domain to every persistent domain (at daemon start and after
// each reconnect, since events are not replayed). It returns how many were
// adopted.
func (a *Adopter) All(c Libvirt) int {
	doms, err := c.ListPersistent()
	if err != nil {
		a.Logger.Warn("adoption: listing domains", "err", err)
		return 0
	}
	n := 0
	for _, d := range doms {
		if a.Domain(c, d.UUID, d.Name) == Adopted {
			n++
		}
	}
	return n
}
