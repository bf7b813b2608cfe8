package plumb

import (
	"context"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// CarrierDown is the carrier rule for pool devices: a link that is
// administratively up but whose lower layer is not (IFF_UP without
// IFF_LOWER_UP: cable out, switch port off, the veth peer down). A link an
// admin keeps down has no carrier state at all (the kernel answers EINVAL
// for /sys/class/net/DEV/carrier), and CreateMacvtap brings it up, so it
// does not count as down.
func CarrierDown(rawFlags uint32) bool {
	return rawFlags&unix.IFF_UP != 0 && rawFlags&unix.IFF_LOWER_UP == 0
}

// WatchCarrier follows the carrier of every link in the namespace from
// rtnetlink events (no polling). It subscribes, then reports every existing
// link once (so nothing that changes in between is missed: an event queued
// before the dump is applied after it, and the events after it bring the
// state back to the truth), and returns; fn then runs, on one goroutine,
// for every later change until ctx ends. fn(name, false) is also called for
// a link that is deleted (unknown again). An error means nothing is
// followed.
func (p *Plumber) WatchCarrier(ctx context.Context, fn func(dev string, down bool)) error {
	ch := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	opts := netlink.LinkSubscribeOptions{
		// A receive error ends the subscription (the library closes ch);
		// the caller's fn simply stops being called.
		ErrorCallback: func(error) {},
	}
	if p.ns.IsOpen() {
		ns := p.ns
		opts.Namespace = &ns
	}
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		close(done)
		return plumbErr("cannot follow link state%s: %v", p.where(), errText(err))
	}
	links, err := p.linkList()
	if err != nil {
		close(done)
		return plumbErr("cannot list links%s: %v", p.where(), errText(err))
	}
	for _, l := range links {
		fn(l.Attrs().Name, CarrierDown(l.Attrs().RawFlags))
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-ch:
				if !ok {
					return
				}
				if u.Link == nil {
					continue
				}
				a := u.Link.Attrs()
				if u.Header.Type == unix.RTM_DELLINK {
					fn(a.Name, false)
					continue
				}
				fn(a.Name, CarrierDown(u.IfInfomsg.Flags))
			}
		}
	}()
	return nil
}
