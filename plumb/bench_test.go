package plumb

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// BenchmarkCreateDelete measures one guest link's life per kind: create
// (with everything CreateMacvtap/CreateTap do: checks, link, MAC, up) and
// Delete, plus RestoreMAC for passthrough. Each phase is reported on its own
// as create-µs/op, delete-µs/op, restore-µs/op; ns/op is the whole cycle.
//
//	CGO_ENABLED=1 go test -run '^$' -bench CreateDelete -benchtime 300x ./plumb/
func BenchmarkCreateDelete(b *testing.B) {
	for _, others := range []int{0, 500} {
		for _, k := range []struct {
			name, mode string
			queues     int
		}{
			{"macvtap-vepa", "vepa", 0},
			{"macvtap-private", "private", 0},
			{"macvtap-bridge", "bridge", 0},
			{"macvtap-passthrough", "passthrough", 0},
			{"tap-bridge", "", 1},
			{"tap-bridge-mq4", "", 4},
		} {
			b.Run(fmt.Sprintf("%s/links=%d", k.name, others), func(b *testing.B) {
				f := newFixture(b)
				// Other links in the namespace, as on a host with many
				// NICs or SR-IOV VFs (veth pairs stand in for them): the
				// checks and name lookups must not grow with them.
				for i := range others / 2 {
					v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("vf%d", i)}, PeerName: fmt.Sprintf("vfp%d", i)}
					if err := f.ns.Handle().LinkAdd(v); err != nil {
						b.Fatal(err)
					}
				}
				var create, del, restore time.Duration
				n := 0
				for b.Loop() {
					t0 := time.Now()
					var saved string
					var err error
					if k.mode == "" {
						err = f.p.CreateTap(target, "br0", guest, k.queues)
					} else {
						saved, err = f.p.CreateMacvtap(target, "eth0", k.mode, guest)
					}
					if err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if err := f.p.Delete(target); err != nil {
						b.Fatal(err)
					}
					t2 := time.Now()
					if saved != "" {
						if err := f.p.RestoreMAC("eth0", saved); err != nil {
							b.Fatal(err)
						}
					}
					create += t1.Sub(t0)
					del += t2.Sub(t1)
					restore += time.Since(t2)
					n++
				}
				us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
				b.ReportMetric(us(create), "create-µs/op")
				b.ReportMetric(us(del), "delete-µs/op")
				if k.mode == "passthrough" {
					b.ReportMetric(us(restore), "restore-µs/op")
				}
			})
		}
	}
}

// BenchmarkKernelBaseline is the bare kernel cost of what CreateMacvtap and
// Delete do for a vepa macvtap — one RTM_NEWLINK, one set-up, one
// RTM_DELLINK, no checks — to tell plumb's overhead from the kernel's.
//
//	CGO_ENABLED=1 go test -run '^$' -bench KernelBaseline -benchtime 300x ./plumb/
func BenchmarkKernelBaseline(b *testing.B) {
	f := newFixture(b)
	h := f.ns.Handle()
	eth0 := f.ns.Link(b, "eth0")
	hw, _ := net.ParseMAC(guest)
	var create, del time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		mv := &netlink.Macvtap{Macvlan: netlink.Macvlan{
			LinkAttrs: netlink.LinkAttrs{Name: target, ParentIndex: eth0.Attrs().Index, HardwareAddr: hw},
			Mode:      netlink.MACVLAN_MODE_VEPA,
		}}
		if err := h.LinkAdd(mv); err != nil {
			b.Fatal(err)
		}
		if err := h.LinkSetUp(mv); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := h.LinkDel(mv); err != nil {
			b.Fatal(err)
		}
		create += t1.Sub(t0)
		del += time.Since(t1)
		n++
	}
	b.ReportMetric(float64(create.Microseconds())/float64(n), "create-µs/op")
	b.ReportMetric(float64(del.Microseconds())/float64(n), "delete-µs/op")
}
