package plumb

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetns runs fn on an OS thread that is inside ns, and returns fn's error.
//
// A network namespace belongs to a thread, not to the process, so the work
// runs in a goroutine of its own locked to its thread. Afterwards the thread
// is switched back to the namespace it came from. If that fails, the
// goroutine exits while still locked: the Go runtime then destroys the
// thread instead of handing a thread in the wrong namespace to unrelated
// goroutines (which would silently make them, e.g., open sockets there).
//
// If ns is not open, fn runs on a locked thread of the current namespace.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if !ns.IsOpen() {
			err := fn()
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("reading the thread's network namespace: %w", err)
			return
		}
		defer origin.Close()
		if err := netns.Set(ns); err != nil {
			// setns(2) changes nothing when it fails: the thread is clean.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(origin); err != nil {
			// Deliberately still locked: the thread dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("leaving the network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// onCheckedThread runs fn on a locked thread of its own and afterwards makes
// sure the thread is back in the namespace it started in. It is for code
// that switches namespaces by itself — netlink.NewHandleAt enters the target
// namespace to open its socket, and switches back ignoring any error. If the
// thread cannot be moved back it is left locked and so destroyed.
func onCheckedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("reading the thread's network namespace: %w", err)
			return
		}
		defer origin.Close()
		ferr := fn()
		cur, err := netns.Get()
		if err == nil {
			same := cur.Equal(origin)
			cur.Close()
			if same {
				runtime.UnlockOSThread()
				errc <- ferr
				return
			}
		}
		if err := netns.Set(origin); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("returning the thread to its network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
