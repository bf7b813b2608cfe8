// Command virtswitch-hook is virtswitch's libvirt qemu hook (SPEC §7),
// installed as /etc/libvirt/hooks/qemu.d/virtswitch. libvirt runs it as
//
//	virtswitch-hook DOMAIN OP SUBOP EXTRA  < domain.xml
//
// It is a thin client: each hook operation maps to at most one D-Bus call to
// virtswitchd, and every rule lives in the daemon. Guests with nothing of
// virtswitch's are let through without contacting the daemon at all.
//
// Environment (libvirt starts hooks with a cleared environment, so on a real
// host the defaults apply; the variables are for tests and demos):
//
//	DBUS_SYSTEM_BUS_ADDRESS  the bus (default: the system bus)
//	VIRTSWITCH_TIMEOUT       bound on the whole run: seconds ("10", "2.5") or a Go duration ("500ms"); default 10 s
//	VIRTSWITCH_CONFIG_DIR    network definitions (default netname.DefaultDir, /etc/virtswitch/networks)
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/busname"
	"github.com/virtswitch/virtswitch/buswire"
	"github.com/virtswitch/virtswitch/clientenv"
	"github.com/virtswitch/virtswitch/netname"
)

const defaultTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// hook is one invocation.
type hook struct {
	domain    string
	doc       []byte
	configDir string
	timeout   time.Duration
	deadline  time.Time // start + timeout: the bus call ends by then too
	getenv    func(string) string
	stdout    io.Writer
	stderr    io.Writer

	// mu guards done: the watchdog and the normal path race to finish, and
	// whichever comes second must not write or change the exit code.
	mu   sync.Mutex
	done bool
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) < 3 {
		fmt.Fprintln(stderr, "usage: virtswitch-hook DOMAIN OP SUBOP [EXTRA] < domain.xml (run by libvirt)")
		return 2
	}
	start := time.Now()
	h := &hook{domain: args[0], stdout: stdout, stderr: stderr, configDir: netname.DefaultDir, getenv: getenv}
	if d := getenv("VIRTSWITCH_CONFIG_DIR"); d != "" {
		h.configDir = d
	}
	var err error
	if h.timeout, err = clientenv.Timeout(getenv, defaultTimeout); err != nil {
		h.warnf("%v; using %s", err, h.timeout)
	}
	h.deadline = start.Add(h.timeout)

	var act func() int
	var onTimeout int // exit code when the watchdog fires
	switch args[1] + " " + args[2] {
	case "prepare begin":
		act, onTimeout = h.prepare, 1
	case "release end":
		act, onTimeout = h.release, 0
	case "reconnect begin", "attach begin":
		act, onTimeout = h.reconnect, 0
	case "migrate begin", "restore begin":
		act, onTimeout = h.rewrite, 1
	default:
		// Other operations (start, started, stopped, ...) are not ours; the
		// XML on stdin is left unread, as libvirt allows.
		return 0
	}

	// One bound on the whole run, stdin included: busapi bounds each call,
	// but libvirt holds the domain while we run, so the total counts.
	watchdog := time.AfterFunc(h.timeout, func() {
		h.mu.Lock()
		if h.done {
			h.mu.Unlock()
			return
		}
		h.done = true
		if onTimeout == 0 {
			h.warnf("%s %s: gave up after %s; virtswitchd's recovery will catch up", args[1], args[2], h.timeout)
		} else {
			h.errorf("%s %s: gave up after %s (reading the domain XML, or waiting for virtswitchd)", args[1], args[2], h.timeout)
		}
		os.Exit(onTimeout)
	})
	defer watchdog.Stop()

	doc, err := io.ReadAll(stdin)
	if err != nil {
		return h.finish(func() int {
			if onTimeout == 0 {
				h.warnf("cannot read the domain XML from stdin: %v", err)
			} else {
				h.errorf("cannot read the domain XML from stdin: %v", err)
			}
			return onTimeout
		})
	}
	h.doc = doc
	return act()
}

// finish runs the final output step unless the watchdog already ended the run.
func (h *hook) finish(fn func() int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		select {} // the watchdog is exiting the process
	}
	h.done = true
	return fn()
}

// prepare: Form B ports → PrepareDomain; a Form A interface naming one of our
// networks → refuse with the way out; nothing of ours → 0, daemon untouched.
func (h *hook) prepare() int {
	f, err := scan(h.doc)
	if err != nil {
		return h.finish(func() int { h.errorf("%v", err); return 1 })
	}
	for _, i := range f.FormA {
		if ours(h.configDir, i.Network) {
			return h.finish(func() int {
				h.errorf("%s names virtswitch network '%s' in portable form (type='network'), which libvirt cannot start. "+
					"A persistent domain is redefined in Form B by virtswitchd right after its definition (adoption): "+
					"if this start raced that, start it again. If adoption is off (virtswitchd --adopt=false) or virtswitchd "+
					"was not running, redefine it encoded: virsh dumpxml --inactive %s > %s.xml && virtswitchctl define %s.xml. "+
					"A transient domain is never adopted: start it with virtswitchctl create FILE (or virtswitchctl domain-encode before virsh create)",
					macPart(i.MAC), i.Network, h.domain, h.domain, h.domain)
				return 1
			})
		}
	}
	if !f.Ports {
		return h.finish(func() int { return 0 })
	}
	_, err = h.call("PrepareDomain", string(h.doc))
	return h.finish(func() int {
		if err != nil {
			h.errorf("%v", err)
			return 1
		}
		return 0
	})
}

// release: ReleaseDomain(uuid); never fails libvirt.
func (h *hook) release() int {
	f, err := scan(h.doc)
	if err != nil || !f.Ports {
		// A domain whose live XML has no port was never prepared by us.
		return h.finish(func() int { return 0 })
	}
	if f.UUID == "" {
		return h.finish(func() int { h.warnf("release: the domain XML has no <uuid>; nothing released"); return 0 })
	}
	_, err = h.call("ReleaseDomain", f.UUID)
	return h.finish(func() int {
		if err != nil {
			h.warnf("could not release domain %s (%s): %v; virtswitchd's recovery will free it", h.domain, f.UUID, err)
		}
		return 0
	})
}

// reconnect: ReconnectDomain. A non-zero exit makes libvirt kill the guest,
// so only an answer from the daemon refusing the domain does that; an
// unreachable daemon is not a conflict (it rebuilds its counts from the state
// dir when it comes back).
func (h *hook) reconnect() int {
	f, err := scan(h.doc)
	if err != nil || !f.Ports {
		return h.finish(func() int { return 0 })
	}
	_, err = h.call("ReconnectDomain", string(h.doc))
	return h.finish(func() int {
		switch {
		case err == nil:
			return 0
		case apierr.KindOf(err) != "":
			h.errorf("%v", err)
			return 1
		default:
			h.warnf("could not reconnect domain %s: %v; virtswitchd's recovery will count it", h.domain, err)
			return 0
		}
	})
}

// rewrite: migrate/restore. RewriteIncoming turns Form A into Form B (and
// checks this host can serve the ports); its result, if any, is printed for
// libvirt to use instead of the incoming XML.
func (h *hook) rewrite() int {
	f, err := scan(h.doc)
	if err != nil {
		return h.finish(func() int { h.errorf("%v", err); return 1 })
	}
	need := f.Ports
	for _, i := range f.FormA {
		need = need || ours(h.configDir, i.Network)
	}
	if !need {
		return h.finish(func() int { return 0 })
	}
	out, err := h.call("RewriteIncoming", string(h.doc))
	return h.finish(func() int {
		if err != nil {
			h.errorf("%v", err)
			return 1
		}
		if out != "" {
			io.WriteString(h.stdout, out)
		}
		return 0
	})
}

// call makes one Manager call on a connection of its own (buswire: the
// whole set-up and the call in one round trip to the bus) and returns the
// reply's first string, if any. Everything ends by the run's deadline.
func (h *hook) call(method string, arg string) (string, error) {
	out, err := buswire.Do(buswire.SystemBusAddress(h.getenv), h.deadline, buswire.Call{
		Destination: busname.BusName, Path: busname.RootPath,
		Interface: busname.ManagerInterface, Member: method, Args: []string{arg},
	})
	var ce *buswire.ConnectError
	var re *buswire.Error
	switch {
	case err == nil:
		if len(out) == 0 {
			return "", nil
		}
		return out[0], nil
	case errors.As(err, &ce):
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return "", fmt.Errorf("virtswitchd is unreachable: cannot reach the system bus: timed out after %s", h.timeout)
		}
		return "", fmt.Errorf("virtswitchd is unreachable: cannot reach the system bus: %v", err)
	case errors.As(err, &re):
		if e := apierr.FromDBus(re.Name, re.Message); e != nil {
			return "", e
		}
		if e := busname.NotRunning(re.Name); e != nil {
			return "", e
		}
		return "", re
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "", fmt.Errorf("virtswitchd did not answer %s in time", method)
	default:
		return "", fmt.Errorf("%s: %v", method, err)
	}
}

func macPart(mac string) string {
	if mac == "" {
		return "an interface"
	}
	return "interface " + mac
}

// Messages go to stderr, one line each; libvirt appends stderr to its error
// when the hook fails, so virsh shows them to the user.
func (h *hook) errorf(format string, a ...any) {
	fmt.Fprintf(h.stderr, "virtswitch: %s\n", oneLine(fmt.Sprintf(format, a...)))
}

func (h *hook) warnf(format string, a ...any) {
	fmt.Fprintf(h.stderr, "virtswitch: warning: %s\n", oneLine(fmt.Sprintf(format, a...)))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
