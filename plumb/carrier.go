package plumb

import (
	"context"
	"time"

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

// resubscribePause is how long WatchCarrier waits before subscribing again
// after the kernel ended a subscription (a receive error, e.g. ENOBUFS when
// events came faster than they were read).
const resubscribePause = time.Second

// WatchCarrier follows the carrier of every link in the namespace from
// rtnetlink events (no polling). It subscribes, then reports every existing
// link once (so nothing that changes in between is missed: an event queued
// before the dump is applied after it, and the events after it bring the
// state back to the truth), and returns; fn then runs, on one goroutine,
// for every later change until ctx ends. fn(name, false) is also called for
// a link that is deleted (unknown again). If the subscription ends (the
// kernel dropped events), it subscribes and reads every link again. fn must
// not block for long: events queue in the kernel meanwhile.
func (p *Plumber) WatchCarrier(ctx context.Context, fn func(dev string, down bool)) error {
	ch, done, err := p.subscribeCarrier(fn)
	if err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				close(done)
				return
			case u, ok := <-ch:
				if ok {
					carrierEvent(u, fn)
					continue
				}
				close(done)
				for {
					select {
					case <-ctx.Done():
						return
					case <-time.After(resubscribePause):
					}
					if ch, done, err = p.subscribeCarrier(fn); err == nil {
						break
					}
				}
			}
		}
	}()
	return nil
}

// subscribeCarrier subscribes to link events, then reports every link.
func (p *Plumber) subscribeCarrier(fn func(dev string, down bool)) (chan netlink.LinkUpdate, chan struct{}, error) {
	ch := make(chan netlink.LinkUpdate, 1024)
	done := make(chan struct{})
	opts := netlink.LinkSubscribeOptions{
		// A receive error ends the subscription (the library closes ch);
		// WatchCarrier then subscribes again.
		ErrorCallback: func(error) {},
	}
	if p.ns.IsOpen() {
		ns := p.ns
		opts.Namespace = &ns
	}
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		close(done)
		return nil, nil, plumbErr("cannot follow link state%s: %v", p.where(), errText(err))
	}
	links, err := p.linkList()
	if err != nil {
		close(done)
		return nil, nil, plumbErr("cannot list links%s: %v", p.where(), errText(err))
	}
	for _, l := range links {
		fn(l.Attrs().Name, CarrierDown(l.Attrs().RawFlags))
	}
	return ch, done, nil
}

func carrierEvent(u netlink.LinkUpdate, fn func(dev string, down bool)) {
	if u.Link == nil {
		return
	}
	name := u.Link.Attrs().Name
	if u.Header.Type == unix.RTM_DELLINK {
		fn(name, false)
		return
	}
	fn(name, CarrierDown(u.IfInfomsg.Flags))
}
