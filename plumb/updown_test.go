package plumb

import (
	"net"
	"strings"
	"testing"
)

// Down() leaves macvtaps (every mode) and taps down; SetUp brings them up,
// twice is fine; IsUp follows.
func TestCreateDownThenSetUp(t *testing.T) {
	kinds := append([]string{"tap"}, Modes...)
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			var err error
			if kind == "tap" {
				err = f.p.CreateTap(target, "br0", guest, 0, Down())
			} else {
				_, err = f.p.CreateMacvtap(target, "eth0", kind, guest, Down())
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.ns.Link(t, target).Attrs().Flags&net.FlagUp != 0 {
				t.Fatalf("%s is up after a create with Down()", target)
			}
			if up, err := f.p.IsUp(target); err != nil || up {
				t.Errorf("IsUp = %v, %v; want false", up, err)
			}
			if kind == "tap" {
				if m := f.ns.Link(t, target).Attrs().MasterIndex; m != f.ns.Link(t, "br0").Attrs().Index {
					t.Errorf("down tap's master index %d, want br0's", m)
				}
			}
			for i := 0; i < 2; i++ {
				if err := f.p.SetUp(target); err != nil {
					t.Fatalf("SetUp #%d: %v", i+1, err)
				}
			}
			if f.ns.Link(t, target).Attrs().Flags&net.FlagUp == 0 {
				t.Fatalf("%s is down after SetUp", target)
			}
			if up, err := f.p.IsUp(target); err != nil || !up {
				t.Errorf("IsUp = %v, %v; want true", up, err)
			}
			if err := f.p.Delete(target); err != nil {
				t.Fatal(err)
			}
			if kind == "passthrough" {
				// The saved MAC goes back as after any passthrough create.
				if err := f.p.RestoreMAC("eth0", nicMAC); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestSetUpErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, want string }{
		{"vswnothere0000", "cannot bring up link 'vswnothere0000': it does not exist in network namespace"},
		{"eth0", "cannot bring up link 'eth0': it is a veth, not a link virtswitch creates"},
		{"bad/name", "link name 'bad/name' contains"},
	} {
		before := f.ns.Snapshot(t)
		err := f.p.SetUp(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetUp(%q) = %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("SetUp(%q): error is not one line: %q", tc.name, err)
		}
		if after := f.ns.Snapshot(t); after["eth0"] != before["eth0"] {
			t.Errorf("SetUp(%q) changed eth0: %+v -> %+v", tc.name, before["eth0"], after["eth0"])
		}
	}
}
