package apierr

import (
	"errors"
	"fmt"
	"testing"
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
