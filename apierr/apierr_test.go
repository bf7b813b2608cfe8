package apierr

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"golang.org/x/sys/unix"
)

func TestKindsRoundTripThroughDBusNames(t *testing.T) {
	for _, k := range Kinds {
		if got := FromDBusName(k.DBusName()); got != k {
			t.Errorf("FromDBusName(%q) = %q, want %q", k.DBusName(), got, k)
		}
		if e := FromDBus(k.DBusName(), "m"); e == nil || e.Kind != k || e.Msg != "m" {
			t.Errorf("FromDBus(%q, m) = %#v", k.DBusName(), e)
		}
	}
	for _, name := range []string{"org.freedesktop.DBus.Error.AccessDenied", "io.github.virtswitch1.Error.Bogus", ""} {
		if got := FromDBusName(name); got != "" {
			t.Errorf("FromDBusName(%q) = %q, want none", name, got)
		}
		if e := FromDBus(name, "m"); e != nil {
			t.Errorf("FromDBus(%q, m) = %#v, want nil", name, e)
		}
	}
}

func TestNewIsOneLine(t *testing.T) {
	e := New(InvalidXML, "network '%s':\n  bad\t<forward>", "red")
	if e.Error() != "network 'red': bad <forward>" {
		t.Fatalf("message %q", e.Error())
	}
}

func TestWrapKeepsKind(t *testing.T) {
	inner := New(PoolExhausted, "none free")
	w := Wrap(fmt.Errorf("ctx: %w", inner), Plumbing, "domain '%s'", "vm1")
	if KindOf(w) != PoolExhausted || w.Error() != "domain 'vm1': ctx: none free" {
		t.Fatalf("wrapped: %q %q", KindOf(w), w)
	}
	if KindOf(Wrap(errors.New("eperm"), Plumbing, "link 'x'")) != Plumbing {
		t.Fatal("fallback kind not used")
	}
	if Wrap(nil, Plumbing, "x") != nil {
		t.Fatal("Wrap(nil) not nil")
	}
	if KindOf(errors.New("plain")) != "" {
		t.Fatal("plain error has a kind")
	}
}

// TestCauseIsReachable: errors.Is/As see the cause through New (%w) and Wrap,
// while the message stays one line and starts with its subject.
func TestCauseIsReachable(t *testing.T) {
	inner := New(PoolExhausted, "network 'red': no free device")
	errno := unix.EBUSY
	cases := []struct {
		name     string
		err      error
		kind     Kind
		msg      string
		is       []error // errors.Is must hold for each
		isNot    []error // and must not for these
		wantErrn bool    // errors.As finds a unix.Errno (EBUSY)
	}{
		{
			name: "New without cause",
			err:  New(NotFound, "network '%s' is not defined", "red"),
			kind: NotFound, msg: "network 'red' is not defined",
			isNot: []error{fs.ErrNotExist, unix.EBUSY},
		},
		{
			name: "New with %w",
			err:  New(NotFound, "network '%s': %w", "red", fmt.Errorf("open /etc/virtswitch/red.xml:\n%w", fs.ErrNotExist)),
			kind: NotFound, msg: "network 'red': open /etc/virtswitch/red.xml: file does not exist",
			is: []error{fs.ErrNotExist}, isNot: []error{unix.EBUSY},
		},
		{
			name: "New with two %w",
			err:  New(Plumbing, "device '%s': %w; undo: %w", "eth1", unix.EBUSY, fs.ErrPermission),
			kind: Plumbing, msg: "device 'eth1': device or resource busy; undo: permission denied",
			is: []error{unix.EBUSY, fs.ErrPermission}, wantErrn: true,
		},
		{
			name: "Wrap of an errno",
			err:  Wrap(fmt.Errorf("link 'vsw0' up: %w", errno), Plumbing, "domain '%s'", "vm1"),
			kind: Plumbing, msg: "domain 'vm1': link 'vsw0' up: device or resource busy",
			is: []error{unix.EBUSY}, isNot: []error{unix.EEXIST}, wantErrn: true,
		},
		{
			name: "Wrap of an *Error keeps it",
			err:  Wrap(inner, Plumbing, "domain '%s' interface %s", "vm1", "52:54:00:00:00:01"),
			kind: PoolExhausted, msg: "domain 'vm1' interface 52:54:00:00:00:01: network 'red': no free device",
			is: []error{inner}, isNot: []error{New(PoolExhausted, "network 'red': no free device")},
		},
		{
			name: "Wrap of a Wrap",
			err:  Wrap(Wrap(fs.ErrNotExist, NotFound, "portgroup 'web'"), Plumbing, "network 'red'"),
			kind: NotFound, msg: "network 'red': portgroup 'web': file does not exist",
			is: []error{fs.ErrNotExist},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.msg {
				t.Errorf("message %q, want %q", got, c.msg)
			}
			if KindOf(c.err) != c.kind {
				t.Errorf("kind %q, want %q", KindOf(c.err), c.kind)
			}
			var e *Error
			if !errors.As(c.err, &e) || e != c.err {
				t.Errorf("errors.As(*Error) does not find the outer error")
			}
			for _, target := range c.is {
				if !errors.Is(c.err, target) {
					t.Errorf("errors.Is(%v) = false", target)
				}
			}
			for _, target := range c.isNot {
				if errors.Is(c.err, target) {
					t.Errorf("errors.Is(%v) = true", target)
				}
			}
			var en unix.Errno
			if got := errors.As(c.err, &en); got != c.wantErrn || (got && en != unix.EBUSY) {
				t.Errorf("errors.As(unix.Errno) = %v (%v), want %v", got, en, c.wantErrn)
			}
			if (c.is == nil) != (errors.Unwrap(c.err) == nil) {
				t.Errorf("Unwrap = %v", errors.Unwrap(c.err))
			}
		})
	}
}
