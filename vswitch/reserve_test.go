package vswitch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

func passGuest(t *testing.T, f *fixture, i int) *guest {
	return newGuest(t, f, fmt.Sprintf("p%d", i), fmt.Sprintf("00000000-0000-4000-8000-0000000001%02x", i),
		testenv.FormAInterface("red-pass", "", fmt.Sprintf("52:54:00:cc:00:%02x", i), ""))
}

func reservationFiles(t *testing.T, f *fixture) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(f.stateDir, "reservations"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func devOf(t *testing.T, status []byte) string {
	t.Helper()
	_, acts, err := xmlrewrite.ParseStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		return a.Dev
	}
	return ""
}

// A reservation holds an exclusive device against everyone else, the
// domain's own prepare gets it and consumes the reservation.
func TestReserveHoldsAndPrepareConsumes(t *testing.T) {
	f := newFixture(t)
	g0 := passGuest(t, f, 0)
	tok, err := f.sw.Reserve([]byte(g0.formA), 600) // Form A is accepted
	if err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); got != "red-bridge=0 red-pass=1[eth20:1] red-vepa=0" {
		t.Fatalf("after Reserve: %s", got)
	}
	if files := reservationFiles(t, f); len(files) != 1 || files[0] != tok {
		t.Fatalf("reservation files %v, want [%s]", files, tok)
	}
	// Others get the other 7, then PoolExhausted.
	for i := 1; i <= 7; i++ {
		st, err := f.sw.Prepare(passGuest(t, f, i).formB)
		if err != nil {
			t.Fatal(err)
		}
		if d := devOf(t, st); d == "eth20" {
			t.Fatalf("p%d got the reserved device", i)
		}
	}
	if _, err := f.sw.Prepare(passGuest(t, f, 8).formB); apierr.KindOf(err) != apierr.PoolExhausted {
		t.Fatalf("9th guest: %v", err)
	}
	// The pool is full, yet the reserved guest fits (Check) and arrives
	// (RewriteIncoming) and prepares.
	if c, err := f.sw.Check(g0.formB); err != nil || !c.Fits() || c.Ports[0].Device != "eth20" {
		t.Fatalf("Check of the reserved guest: %+v %v", c, err)
	}
	if _, err := f.sw.RewriteIncoming([]byte(g0.formA)); err != nil {
		t.Fatalf("RewriteIncoming of the reserved guest: %v", err)
	}
	st, err := f.sw.Prepare(g0.formB)
	if err != nil || devOf(t, st) != "eth20" {
		t.Fatalf("Prepare of the reserved guest: %v (dev %q)", err, devOf(t, st))
	}
	if got := counts(f.sw); !strings.Contains(got, "red-pass=8[") {
		t.Fatalf("counted twice? %s", got)
	}
	if err := f.sw.CancelReservation(tok); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("Cancel after consumption: %v", err)
	}
	if files := reservationFiles(t, f); len(files) != 0 {
		t.Fatalf("record left after consumption: %v", files)
	}
	if f.sw.ReservationCount() != 0 {
		t.Fatal("reservation still held")
	}
	// Releasing the guest frees eth20 for good.
	if err := f.sw.Release(g0.uuid); err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); !strings.Contains(got, "red-pass=7[") {
		t.Fatalf("after release: %s", got)
	}
}

// A shared device's count includes reservations; cancel gives it back.
func TestReserveSharedAndCancel(t *testing.T) {
	f := newFixture(t)
	gs := seedGuests(t, f)
	tok, err := f.sw.Reserve(gs[0].formB, 60)
	if err != nil {
		t.Fatal(err)
	}
	held := counts(f.sw)
	if held == "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("nothing counted: %s", held)
	}
	if err := f.sw.CancelReservation(tok); err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("after cancel: %s", got)
	}
	if err := f.sw.CancelReservation(tok); apierr.KindOf(err) != apierr.NotFound ||
		!strings.Contains(err.Error(), tok) {
		t.Fatalf("second cancel: %v", err)
	}
}

// Bad input: a clear error and nothing held.
func TestReserveBadInput(t *testing.T) {
	f := newFixture(t)
	g := passGuest(t, f, 0)
	for _, ttl := range []uint32{0, 86401, 1 << 31} {
		_, err := f.sw.Reserve(g.formB, ttl)
		if err == nil || !strings.Contains(err.Error(), "from 1 to 86400 seconds") {
			t.Fatalf("TTL %d: %v", ttl, err)
		}
	}
	for _, tok := range []string{"", "nope", strings.Repeat("a", 31), strings.Repeat("g", 32), "../../etc/passwd"} {
		if err := f.sw.CancelReservation(tok); apierr.KindOf(err) != apierr.NotFound {
			t.Fatalf("Cancel(%q): %v", tok, err)
		}
	}
	if err := f.sw.CancelReservation(strings.Repeat("ab", 16)); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("unknown token: %v", err)
	}
	// Not a domain; no interfaces; a network not defined.
	if _, err := f.sw.Reserve([]byte("<domain"), 60); apierr.KindOf(err) != apierr.InvalidXML {
		t.Fatalf("bad XML: %v", err)
	}
	if _, err := f.sw.Reserve([]byte(testenv.DomainXML("x", "00000000-0000-4000-8000-00000000aaaa")), 60); apierr.KindOf(err) != apierr.InvalidXML {
		t.Fatalf("no interfaces: %v", err)
	}
	// Two interfaces, the second not fitting: the first is not held.
	two := newGuest(t, f, "two", "00000000-0000-4000-8000-00000000bbbb",
		testenv.FormAInterface("red-vepa", "", "52:54:00:dd:00:01", ""),
		testenv.FormAInterface("red-vepa", "nosuch", "52:54:00:dd:00:02", ""))
	if _, err := f.sw.Reserve(two.formB, 60); apierr.KindOf(err) != apierr.NotFound || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("bad portgroup: %v", err)
	}
	if got := counts(f.sw); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("a refused Reserve held something: %s", got)
	}
	if files := reservationFiles(t, f); len(files) != 0 {
		t.Fatalf("records of refused reservations: %v", files)
	}
	// Twice for one domain; for a domain already prepared.
	if _, err := f.sw.Reserve(g.formB, 60); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sw.Reserve(g.formB, 60); apierr.KindOf(err) != apierr.Conflict {
		t.Fatalf("second reservation: %v", err)
	}
	h := passGuest(t, f, 1)
	if _, err := f.sw.Prepare(h.formB); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sw.Reserve(h.formB, 60); apierr.KindOf(err) != apierr.Conflict {
		t.Fatalf("reserving a prepared domain: %v", err)
	}
}

// A prepare that fails leaves the reservation as it was.
func TestFailedPrepareKeepsReservation(t *testing.T) {
	f := newFixture(t)
	g := passGuest(t, f, 0)
	tok, err := f.sw.Reserve(g.formB, 60)
	if err != nil {
		t.Fatal(err)
	}
	more := newGuest(t, f, g.name, g.uuid,
		testenv.FormAInterface("red-pass", "", "52:54:00:cc:00:00", ""),
		testenv.FormAInterface("red-vepa", "sales", "52:54:00:cc:00:99", ""))
	if _, err := f.sw.Prepare(more.formB); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("Prepare: %v", err)
	}
	if got := counts(f.sw); got != "red-bridge=0 red-pass=1[eth20:1] red-vepa=0" {
		t.Fatalf("after the failed prepare: %s", got)
	}
	if err := f.sw.CancelReservation(tok); err != nil {
		t.Fatalf("the reservation should still be held: %v", err)
	}
}

// The TTL ends a reservation, and a reservation survives a restart and
// expires correctly across it.
func TestReservationExpiryAndRestart(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sw.Reserve(passGuest(t, f, 0).formB, 1); err != nil {
		t.Fatal(err)
	}
	long, err := f.sw.Reserve(passGuest(t, f, 1).formB, 3600)
	if err != nil {
		t.Fatal(err)
	}
	short, err := f.sw.Reserve(passGuest(t, f, 2).formB, 3)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the 1 s reservation to expire", func() bool {
		return counts(f.sw) == "red-bridge=0 red-pass=2[eth21:1 eth22:1] red-vepa=0"
	})
	// Restart (records stay, timers of the old daemon stop).
	f.sw.Close()
	f.restart(t)
	if got := counts(f.sw); got != "red-bridge=0 red-pass=2[eth21:1 eth22:1] red-vepa=0" {
		t.Fatalf("after restart: %s", got)
	}
	// The short one expires at its original time, after the restart.
	waitFor(t, 6*time.Second, "the 3 s reservation to expire after the restart", func() bool {
		return counts(f.sw) == "red-bridge=0 red-pass=1[eth21:1] red-vepa=0"
	})
	if err := f.sw.CancelReservation(short); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("expired token: %v", err)
	}
	// Periodic recovery keeps counting a held reservation.
	if err := f.sw.Recover(); err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); got != "red-bridge=0 red-pass=1[eth21:1] red-vepa=0" {
		t.Fatalf("after Recover: %s", got)
	}
	// Expired while stopped: gone at the next start.
	f.sw.Close()
	rec := filepath.Join(f.stateDir, "reservations", long)
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	past := strings.Replace(string(b), `"expires":"`, `"expires":"2001-01-01T00:00:00Z","was":"`, 1)
	if err := os.WriteFile(rec, []byte(past), 0o600); err != nil {
		t.Fatal(err)
	}
	f.restart(t)
	if got := counts(f.sw); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("a reservation that expired while stopped is counted: %s", got)
	}
	if files := reservationFiles(t, f); len(files) != 0 {
		t.Fatalf("expired record kept: %v", files)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
