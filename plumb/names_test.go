package plumb

import (
	"fmt"
	"reflect"
	"testing"
)

// Names must list exactly what List lists, for any prefix, including when
// the dump spans many messages (hundreds of links).
func TestNamesMatchesList(t *testing.T) {
	f := newFixture(t)
	for i := range 150 {
		f.ns.AddVeth(t, fmt.Sprintf("vsw%012x", i), fmt.Sprintf("peer%d", i))
	}
	if _, err := f.p.CreateMacvtap(target, "eth0", "vepa", guest); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "vsw", "vswdead", "peer1", "eth", "nothing"} {
		want, err := f.p.List(prefix)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.p.Names(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Names(%q) = %d names %v, List = %d names %v", prefix, len(got), got, len(want), want)
		}
	}
	if got, _ := f.p.Names("nothing"); got == nil || len(got) != 0 {
		t.Errorf("Names of no link = %#v, want an empty, non-nil slice", got)
	}
}

func TestIfNameMalformed(t *testing.T) {
	for _, msg := range [][]byte{nil, make([]byte, 15), append(make([]byte, 16), 2, 0, 3, 0), append(make([]byte, 16), 200, 0, 3, 0, 'a')} {
		if n, ok := ifName(msg); ok {
			t.Errorf("ifName(%v) = %q, true; want no name", msg, n)
		}
	}
}

func TestMAC(t *testing.T) {
	f := newFixture(t)
	got, err := f.p.MAC("eth0")
	if err != nil || got != nicMAC {
		t.Fatalf("MAC(eth0) = %q, %v; want %s", got, err, nicMAC)
	}
	saved, err := f.p.CreateMacvtap(target, "eth0", "passthrough", guest)
	if err != nil {
		t.Fatal(err)
	}
	if saved != got {
		t.Errorf("CreateMacvtap saved %q, MAC read before %q", saved, got)
	}
	if now, _ := f.p.MAC("eth0"); now != guest {
		t.Errorf("MAC(eth0) with the passthrough macvtap = %q, want the guest's %s", now, guest)
	}
	for _, dev := range []string{"nosuch0", "", "a/b"} {
		if _, err := f.p.MAC(dev); err == nil {
			t.Errorf("MAC(%q): no error", dev)
		}
	}
	if err := f.p.Delete(target); err != nil {
		t.Fatal(err)
	}
	if err := f.p.RestoreMAC("eth0", saved); err != nil {
		t.Fatal(err)
	}
}
