package main

import (
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/testenv"
)

// Round trips through dbus-daemon to a real virtswitchd (built with the
// test flags, so with -race when the benchmark runs with it).
func BenchmarkBus(b *testing.B) {
	e := newEnv(b, testenv.BusOptions{})
	e.start(b)
	c := dial(b)
	defineSeed(b, c)
	g := encode(b, c, "bench", "dddddddd-dddd-dddd-dddd-dddddddddddd",
		testenv.FormAInterface("red-vepa", "engineering", "52:54:00:dd:00:01", "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"))

	// An "anyone" call with no plumbing: the bus and export overhead.
	b.Run("ListNetworks", func(b *testing.B) {
		var out []any
		for b.Loop() {
			if err := c.Call("ListNetworks", []any{&out}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A root call: adds the uid check (one more bus round trip) and the
	// core's idempotent path.
	var st string
	if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
		b.Fatal(err)
	}
	b.Run("PrepareDomain-repeat", func(b *testing.B) {
		for b.Loop() {
			if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := c.Call("ReleaseDomain", nil, g.uuid); err != nil {
		b.Fatal(err)
	}
	// A root call whose core work is one failed file open: the uid check
	// and the bus.
	b.Run("ReleaseDomain-unknown", func(b *testing.B) {
		for b.Loop() {
			if err := c.Call("ReleaseDomain", nil, "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Release alone, its link deleted beforehand (the kernel's deletion
	// is ~18 ms and would hide the rest): uid check, bus, state file,
	// counts, signals.
	target := "vsw525400dd0001"
	b.Run("ReleaseDomain-nokdel", func(b *testing.B) {
		var rel time.Duration
		for b.Loop() {
			if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
				b.Fatal(err)
			}
			if err := e.ns.Handle().LinkDel(e.ns.Link(b, target)); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			if err := c.Call("ReleaseDomain", nil, g.uuid); err != nil {
				b.Fatal(err)
			}
			rel += time.Since(t0)
		}
		b.ReportMetric(float64(rel.Microseconds())/float64(b.N), "release-µs/op")
	})
	// A guest's whole life as the hook drives it: prepare, release.
	b.Run("PrepareDomain+ReleaseDomain", func(b *testing.B) {
		for b.Loop() {
			if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
				b.Fatal(err)
			}
			if err := c.Call("ReleaseDomain", nil, g.uuid); err != nil {
				b.Fatal(err)
			}
		}
	})
}
