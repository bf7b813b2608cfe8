package vswitch

import (
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// linkUp reads the link's state from the kernel (not through the Switch).
func linkUp(t *testing.T, f *fixture, name string) bool {
	t.Helper()
	return f.ns.Link(t, name).Attrs().Flags&net.FlagUp != 0
}

func targets(t *testing.T, g *guest) []string {
	t.Helper()
	d, err := xmlrewrite.Inspect(g.formB)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Ports {
		out = append(out, p.Target)
	}
	return out
}

// An incoming migration's links (macvtap and tap) stay down until LinksUp;
// an ordinary start's come up at prepare; without anything to call LinksUp
// (IncomingHeldDown false or unset) incoming links come up at prepare too.
func TestIncomingLinksHeldDown(t *testing.T) {
	f := newFixture(t)
	var follows atomic.Bool
	follows.Store(true)
	f.sw.holdDown = follows.Load
	gs := seedGuests(t, f)

	// g0 and g1 arrive by migration (the hook's migrate begin runs
	// RewriteIncoming first, on the Form B the source runs); g2 starts.
	for _, g := range gs[:2] {
		if _, err := f.sw.RewriteIncoming(g.formB); err != nil {
			t.Fatal(err)
		}
	}
	prepareAll(t, f, gs)
	for i, g := range gs {
		for _, tg := range targets(t, g) {
			if got, want := linkUp(t, f, tg), i == 2; got != want {
				t.Errorf("%s link %s up=%v after prepare, want %v", g.name, tg, got, want)
			}
		}
	}
	if got := strings.Join(sortedCopy(f.sw.HeldDown()), " "); got != gs[0].uuid+" "+gs[1].uuid {
		t.Errorf("HeldDown = %q, want the two incoming guests", got)
	}
	// A repeated prepare (libvirt retrying) changes nothing.
	prepareAll(t, f, gs[:1])
	for _, g := range gs[:2] {
		n, err := f.sw.LinksUp(g.uuid)
		if err != nil || n != len(targets(t, g)) {
			t.Fatalf("LinksUp(%s) = %d, %v; want %d, nil", g.name, n, err, len(targets(t, g)))
		}
		for _, tg := range targets(t, g) {
			if !linkUp(t, f, tg) {
				t.Errorf("%s link %s still down after LinksUp", g.name, tg)
			}
		}
		if n, err := f.sw.LinksUp(strings.ToUpper(g.uuid)); err != nil || n != 0 {
			t.Errorf("second LinksUp(%s) = %d, %v; want 0, nil", g.name, n, err)
		}
	}
	if got := counts(f.sw); got != seedCounts {
		t.Errorf("counts = %s, want %s", got, seedCounts)
	}
	if h := f.sw.HeldDown(); len(h) != 0 {
		t.Errorf("HeldDown after LinksUp = %v", h)
	}
	for _, g := range gs {
		if err := f.sw.Release(g.uuid); err != nil {
			t.Fatal(err)
		}
	}

	// Nobody follows libvirt: the incoming guest's links come up at once.
	follows.Store(false)
	if _, err := f.sw.RewriteIncoming(gs[0].formB); err != nil {
		t.Fatal(err)
	}
	prepareAll(t, f, gs[:1])
	for _, tg := range targets(t, gs[0]) {
		if !linkUp(t, f, tg) {
			t.Errorf("link %s down although nothing would bring it up", tg)
		}
	}
	f.sw.Release(gs[0].uuid)

	// A mark that a Release (the failed migration's release hook) ended
	// does not hold the next ordinary start's links down.
	follows.Store(true)
	if _, err := f.sw.RewriteIncoming(gs[0].formB); err != nil {
		t.Fatal(err)
	}
	f.sw.Release(gs[0].uuid)
	prepareAll(t, f, gs[:1])
	for _, tg := range targets(t, gs[0]) {
		if !linkUp(t, f, tg) {
			t.Errorf("link %s down: a released migration's mark was used by a later start", tg)
		}
	}
	f.sw.Release(gs[0].uuid)

	// A held-down domain released (failed migration) is no longer held.
	if _, err := f.sw.RewriteIncoming(gs[0].formB); err != nil {
		t.Fatal(err)
	}
	prepareAll(t, f, gs[:1])
	if h := f.sw.HeldDown(); len(h) != 1 || h[0] != gs[0].uuid {
		t.Errorf("HeldDown = %v, want [%s]", h, gs[0].uuid)
	}
	f.sw.Release(gs[0].uuid)
	if h := f.sw.HeldDown(); len(h) != 0 {
		t.Errorf("HeldDown after Release = %v", h)
	}
	f.sw.Release(gs[0].uuid)

	// A refused incoming migration leaves no mark either.
	bad := strings.Replace(gs[1].formA, "<source network='red-vepa'/>", "<source network='red-vepa' portgroup='sales'/>", 1)
	if _, err := f.sw.RewriteIncoming([]byte(bad)); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("missing portgroup: %v", err)
	}
	prepareAll(t, f, gs[1:2])
	for _, tg := range targets(t, gs[1]) {
		if !linkUp(t, f, tg) {
			t.Errorf("link %s down after a refused migration's RewriteIncoming", tg)
		}
	}
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

func TestLinksUpErrors(t *testing.T) {
	f := newFixture(t)
	if n, err := f.sw.LinksUp("0f0e0d0c-0000-4000-8000-000000000001"); err != nil || n != 0 {
		t.Errorf("unknown domain: %d, %v; want 0, nil", n, err)
	}
	if _, err := f.sw.LinksUp("../etc/passwd"); apierr.KindOf(err) != apierr.InvalidXML {
		t.Errorf("bad UUID: %v", err)
	}
	// A link deleted behind our back: the error names domain and link.
	g := seedGuests(t, f)[1]
	if _, err := f.sw.Prepare(g.formB); err != nil {
		t.Fatal(err)
	}
	tg := targets(t, g)[0]
	if err := f.plumber.Delete(tg); err != nil {
		t.Fatal(err)
	}
	_, err := f.sw.LinksUp(g.uuid)
	if apierr.KindOf(err) != apierr.Plumbing || !strings.Contains(err.Error(), tg) || !strings.Contains(err.Error(), g.name) {
		t.Errorf("missing link: %v; want a Plumbing error naming %s and %s", err, g.name, tg)
	}
}
