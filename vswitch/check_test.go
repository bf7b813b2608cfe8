package vswitch

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// randomNetwork defines network name in a random mode over devs, with a
// random network-level virtualport and portgroups.
func randomNetwork(rng *rand.Rand, name string, devs []string) string {
	modes := []string{"vepa", "private", "bridge", "passthrough"}
	mode := modes[rng.IntN(len(modes))]
	var b strings.Builder
	fmt.Fprintf(&b, "<network>\n  <name>%s</name>\n  <forward mode='%s'>\n", name, mode)
	for _, d := range devs {
		fmt.Fprintf(&b, "    <interface dev='%s'/>\n", d)
	}
	b.WriteString("  </forward>\n")
	switch {
	case mode == "vepa" && rng.IntN(2) == 0:
		b.WriteString("  <virtualport type='802.1Qbg'>\n    <parameters managerid='11' typeid='1193047' typeidversion='2'/>\n  </virtualport>\n")
	case mode == "private" && rng.IntN(2) == 0:
		b.WriteString("  <virtualport type='802.1Qbh'>\n    <parameters profileid='gold'/>\n  </virtualport>\n")
	}
	if rng.IntN(2) == 0 {
		b.WriteString("  <portgroup name='pg1' default='yes'/>\n  <portgroup name='pg2'/>\n")
	}
	b.WriteString("</network>")
	return b.String()
}

// randomIface is a Form A interface on one of nets, with a random
// portgroup (sometimes one no network has) and virtualport (sometimes one
// that conflicts with the network's).
func randomIface(rng *rand.Rand, nets []string, mac string) string {
	net := nets[rng.IntN(len(nets))]
	pg := ""
	switch rng.IntN(12) {
	case 0, 1:
		pg = "pg2"
	case 2:
		pg = "nosuch"
	}
	vp := ""
	switch rng.IntN(10) {
	case 0:
		vp = "\n      <virtualport type='802.1Qbg'>\n        <parameters instanceid='" + instanceID + "'/>\n      </virtualport>"
	case 1:
		vp = "\n      <virtualport type='802.1Qbh'>\n        <parameters profileid='silver'/>\n      </virtualport>"
	}
	return testenv.FormAInterfaceRaw(net, pg, mac, vp)
}

// CheckDomain never disagrees with the PrepareDomain that follows it:
// random networks (modes, pool sizes, virtualports, portgroups, drained and
// carrier-down devices), random guests (1–3 interfaces, bad portgroups,
// virtualport conflicts, an undefined network), reservations held by other
// guests, and releases in between. When Check says every interface fits,
// Prepare succeeds with exactly the devices Check named; when it does not,
// Prepare fails with the message of the first interface Check refused.
func TestCheckAgreesWithPrepare(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(14, uint64(testSeed(t))))
	// 12 fresh NICs, shared by no two networks (plumbing outcomes are not
	// Check's business; pool outcomes are).
	var nics []string
	for i := range 12 {
		n := fmt.Sprintf("ck%d", i)
		f.ns.AddVeth(t, n, "w"+n)
		nics = append(nics, n)
	}
	nets := []string{"red-bridge", "gone"}
	for k, start := 0, 0; start < len(nics); k++ {
		size := 1 + rng.IntN(4)
		end := min(start+size, len(nics))
		name := fmt.Sprintf("rnd%d", k)
		if _, err := f.sw.Define([]byte(randomNetwork(rng, name, nics[start:end]))); err != nil {
			t.Fatal(err)
		}
		nets = append(nets, name)
		start = end
	}
	ours := func(n string) bool { return n == "gone" || f.sw.HasNetwork(n) }
	var live, reserved []string
	agreeFit, agreeRefuse := 0, 0
	for i := range 400 {
		// Churn: releases, reservations, cancels, drains, carrier.
		switch r := rng.IntN(10); {
		case r < 4 && len(live) > 0:
			j := rng.IntN(len(live))
			if err := f.sw.Release(live[j]); err != nil {
				t.Fatal(err)
			}
			live = append(live[:j], live[j+1:]...)
		case r == 4 && len(reserved) > 0:
			j := rng.IntN(len(reserved))
			if err := f.sw.CancelReservation(reserved[j]); err != nil {
				t.Fatal(err)
			}
			reserved = append(reserved[:j], reserved[j+1:]...)
		case r == 5:
			n := nets[2+rng.IntN(len(nets)-2)]
			info, _ := f.sw.Network(n)
			d := info.Devices[rng.IntN(len(info.Devices))]
			if err := f.sw.SetDrained(n, d.Device, !d.Drained); err != nil {
				t.Fatal(err)
			}
		case r == 6:
			d := nics[rng.IntN(len(nics))]
			f.sw.SetCarrier(d, rng.IntN(2) == 0)
		}

		uuid := fmt.Sprintf("00000000-0000-4000-8000-%012x", i)
		var ifaces []string
		for k := range 1 + rng.IntN(3) {
			ifaces = append(ifaces, randomIface(rng, nets, fmt.Sprintf("52:54:00:14:%02x:%02x", i%256, k)))
		}
		formA := testenv.DomainXML(fmt.Sprintf("g%d", i), uuid, ifaces...)
		formB, _, err := xmlrewrite.Encode([]byte(formA), ours)
		if err != nil {
			t.Fatal(err)
		}
		if rng.IntN(5) == 0 {
			// Someone else's reservation takes room first.
			ruuid := fmt.Sprintf("00000000-0000-4000-9000-%012x", i)
			rdoc := testenv.DomainXML(fmt.Sprintf("r%d", i), ruuid, randomIface(rng, nets[2:], fmt.Sprintf("52:54:00:15:%02x:00", i%256)))
			if tok, err := f.sw.Reserve([]byte(rdoc), 3600); err == nil {
				reserved = append(reserved, tok)
			}
		}
		in := formB
		if rng.IntN(2) == 0 && !strings.Contains(formA, "'gone'") {
			in = []byte(formA) // Check takes Form A too
		}
		before := counts(f.sw)
		c, cerr := f.sw.Check(in)
		if after := counts(f.sw); after != before {
			t.Fatalf("guest %d: Check changed counts: %s → %s", i, before, after)
		}
		if cerr != nil {
			t.Fatalf("guest %d: Check: %v", i, cerr)
		}
		st, perr := f.sw.Prepare(formB)
		switch {
		case c.Fits() && perr != nil:
			t.Fatalf("guest %d: Check says it fits (%+v), Prepare: %v", i, c.Ports, perr)
		case !c.Fits() && perr == nil:
			t.Fatalf("guest %d: Check refuses (%+v), Prepare succeeded", i, c.Ports)
		case perr != nil:
			first := ""
			for _, p := range c.Ports {
				if !p.Fits() {
					first = p.Message
					if p.Kind != apierr.KindOf(perr) {
						t.Fatalf("guest %d: Check kind %s, Prepare kind %s", i, p.Kind, apierr.KindOf(perr))
					}
					break
				}
			}
			if first != perr.Error() {
				t.Fatalf("guest %d: Check says %q, Prepare says %q", i, first, perr.Error())
			}
			agreeRefuse++
		default:
			d, acts, err := xmlrewrite.ParseStatus(st)
			if err != nil {
				t.Fatal(err)
			}
			for k, p := range d.Ports {
				if got := acts[p.Target].Dev; got != c.Ports[k].Device || p.MAC != c.Ports[k].MAC {
					t.Fatalf("guest %d interface %s: Prepare gave %q, Check named %q", i, p.MAC, got, c.Ports[k].Device)
				}
			}
			live = append(live, uuid)
			agreeFit++
		}
	}
	t.Logf("agreed on %d guests that fit and %d that did not", agreeFit, agreeRefuse)
	if agreeFit < 40 || agreeRefuse < 40 {
		t.Fatalf("the random mix is too one-sided to show agreement: %d fit, %d refused", agreeFit, agreeRefuse)
	}
}

// testSeed is the random seed, logged so a failure can be replayed
// (VSW_SEED=N).
func testSeed(t *testing.T) int64 {
	seed := int64(rand.Uint32())
	if v := testenvSeed(); v != 0 {
		seed = v
	}
	t.Logf("seed %d (VSW_SEED=%d to replay)", seed, seed)
	return seed
}

func testenvSeed() int64 {
	var n int64
	fmt.Sscan(os.Getenv("VSW_SEED"), &n)
	return n
}
