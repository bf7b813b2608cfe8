package plumb

import (
	"net"
)

// CreateOption changes how CreateMacvtap and CreateTap leave the new link.
type CreateOption func(*createOpts)

type createOpts struct {
	down bool
}

// Down leaves the new link administratively down. An incoming migration
// needs this: the source guest still runs, and a destination link that is
// up would make the physical switch learn the guest's MAC on a second port
// (libvirt keeps its own macvtaps down until the guest's CPUs start, for the
// same reason). SetUp brings it up later.
func Down() CreateOption { return func(o *createOpts) { o.down = true } }

func createOptions(opts []CreateOption) createOpts {
	var o createOpts
	for _, f := range opts {
		f(&o)
	}
	return o
}

// SetUp brings link name up (already up: nothing to do). Only links
// virtswitch creates (macvtap, tun) are touched; a missing link is an error
// naming it.
func (p *Plumber) SetUp(name string) error {
	if err := checkName("link", name); err != nil {
		return err
	}
	l, found, err := p.linkByName(name)
	if err != nil {
		return plumbErr("cannot bring up link '%s': %v", name, errText(err))
	}
	if !found {
		return plumbErr("cannot bring up link '%s': it does not exist%s", name, p.where())
	}
	if t := l.Type(); t != "macvtap" && t != "tuntap" {
		return plumbErr("cannot bring up link '%s': it is a %s, not a link virtswitch creates", name, t)
	}
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := p.h.LinkSetUp(l); err != nil {
		return plumbErr("cannot bring up link '%s': %v", name, errText(err))
	}
	return nil
}

// IsUp reports whether link name exists and is administratively up.
func (p *Plumber) IsUp(name string) (bool, error) {
	l, found, err := p.linkByName(name)
	if err != nil {
		return false, plumbErr("looking up link '%s': %v", name, errText(err))
	}
	return found && l.Attrs().Flags&net.FlagUp != 0, nil
}
