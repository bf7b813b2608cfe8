package vswitch

import (
	"errors"
	"io/fs"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/resolve"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// PortCheck is CheckDomain's answer for one virtswitch interface.
type PortCheck struct {
	MAC, Network, Portgroup string
	Device                  string      // what a prepare would get ("" on a host bridge, or when it does not fit)
	Kind                    apierr.Kind // "" when it fits
	Message                 string      // the prepare's one-line error, "" when it fits
}

// Fits tells whether this interface can be served now.
func (p PortCheck) Fits() bool { return p.Kind == "" }

// CheckResult is CheckDomain's answer for a domain.
type CheckResult struct {
	Name, UUID string
	Prepared   bool // already prepared here: the ports are what it has
	Ports      []PortCheck
}

// Fits tells whether every interface fits.
func (r CheckResult) Fits() bool {
	for _, p := range r.Ports {
		if !p.Fits() {
			return false
		}
	}
	return true
}

// encodeIncoming turns the Form A interfaces of a scheduler's document that
// name networks defined here into Form B, and reads it. Needs defs held.
func (s *Switch) encodeIncoming(doc []byte) ([]byte, *xmlrewrite.Domain, string, error) {
	out, _, err := xmlrewrite.Encode(doc, func(name string) bool { return s.nets[name] != nil })
	if err != nil {
		return nil, nil, "", withKind(err, apierr.InvalidXML)
	}
	d, uuid, err := inspect(out)
	if err != nil {
		return nil, nil, "", err
	}
	if len(d.Ports) == 0 {
		return nil, nil, "", apierr.New(apierr.InvalidXML, "%s has no virtswitch interfaces", domainCtx(d.Name, uuid))
	}
	return out, d, uuid, nil
}

// resolvePort finds a port's network and resolves what it gets: the one
// lookup and its errors for Prepare, RewriteIncoming, Check and Reserve
// (the agreement test holds Check to Prepare). Needs defs held.
func (s *Switch) resolvePort(pctx string, p xmlrewrite.Port) (*network, *resolve.Result, error) {
	n := s.nets[p.Network]
	if n == nil {
		return nil, nil, apierr.New(apierr.NotFound, "%s: network '%s' is not defined on this host", pctx, p.Network)
	}
	res, err := resolve.Resolve(n.def, p.Portgroup, p.VirtualPort)
	if err != nil {
		return nil, nil, apierr.Wrap(err, apierr.InvalidXML, "%s", pctx)
	}
	return n, res, nil
}

// Check answers, per virtswitch interface of a domain (Form A or Form B),
// whether this host can serve it now and, if not, the error a Prepare would
// give; and which device a Prepare would choose. It changes nothing: the
// choice is made by trial allocations under the exclusive definitions lock
// (so no other call sees them) and undone before it returns. Interfaces
// after a failing one are checked as if the failing one took nothing.
//
// It predicts what the definitions and pools decide (network, portgroup,
// virtualport, room, carrier, drain, reservations); a kernel failure while
// plumbing is not predicted.
func (s *Switch) Check(doc []byte) (CheckResult, error) {
	s.defs.Lock()
	defer s.defs.Unlock()
	_, d, uuid, err := s.encodeIncoming(doc)
	if err != nil {
		return CheckResult{}, err
	}
	r := CheckResult{Name: d.Name, UUID: uuid}
	if old, err := s.state.Read(uuid); err == nil {
		od, acts, perr := xmlrewrite.ParseStatus(old)
		if perr == nil && (s.isPending(uuid) || s.isRunning(od.Name, uuid)) {
			// A prepare would return this status and count nothing.
			r.Prepared = true
			for _, p := range od.Ports {
				r.Ports = append(r.Ports, PortCheck{MAC: p.MAC, Network: p.Network, Portgroup: p.Portgroup, Device: acts[p.Target].Dev})
			}
			return r, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return CheckResult{}, apierr.Wrap(err, apierr.Plumbing, "%s", domainCtx(d.Name, uuid))
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
		pc := PortCheck{MAC: p.MAC, Network: p.Network, Portgroup: p.Portgroup}
		dev, err := func() (string, error) {
			pctx := ctx + " interface " + p.MAC
			n, res, err := s.resolvePort(pctx, p)
			if err != nil {
				return "", err
			}
			if pc.Portgroup == "" {
				pc.Portgroup = res.Portgroup
			}
			key := portKey(uuid, p.MAC)
			if n.pool.Has(key) {
				// Reserved for this domain: a prepare gets that device.
				return n.pool.Peek(key, res.Exclusive)
			}
			dev, err := n.pool.Allocate("check/"+key, res.Exclusive)
			if err != nil {
				return "", apierr.Wrap(err, apierr.PoolExhausted, "%s", pctx)
			}
			trials = append(trials, trial{n, "check/" + key})
			return dev, nil
		}()
		if err != nil {
			pc.Kind, pc.Message = apierr.KindOf(err), err.Error()
		} else {
			pc.Device = dev
		}
		r.Ports = append(r.Ports, pc)
	}
	return r, nil
}
