//go:build bench

package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/bench/rig"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/libvirtconn"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// BenchmarkAdoptionWindow (issue 15 point 2): the time from libvirt's
// define of a Form A domain to its adopted (Form B) definition, over
// BENCH_ITER defines (200), one at a time, against a real libvirtd (a
// private one: testenv.StartLibvirtd). Two figures per define:
//   - window: from DefineXML's return (the domain is defined, a start may
//     race) to DomainAdopted on the bus (libvirt holds Form B);
//   - define→adopted: from the DefineXML call to DomainAdopted.
//
// `make bench-adopt`.
func BenchmarkAdoptionWindow(b *testing.B) {
	lv := testenv.StartLibvirtd(b)
	r := rig.New(b, rig.Options{NICs: 2, Tmpfs: true})
	r.Define("bench", rig.PoolNetwork("bench", "vepa", "eth", 2))
	r.Start("--libvirt-socket", lv.Socket, "--libvirt-uri", testenv.LibvirtURI)
	conn, err := r.Bus.Connect()
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := conn.AddMatchSignal(dbus.WithMatchSender(busapi.BusName), dbus.WithMatchMember("DomainAdopted")); err != nil {
		b.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 16)
	conn.Signal(sigs)
	c, err := libvirtconn.Dial(libvirtconn.Config{Sockets: []string{lv.Socket}, URI: testenv.LibvirtURI})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	var window, total []time.Duration
	for i := range iterations {
		uuid := rig.UUID(0xad0, uint64(i))
		doc := testenv.TCGDomainXML(fmt.Sprintf("adopt%04d", i), uuid,
			testenv.FormAInterface("bench", "", rig.MAC(0xad, uint32(i)), ""))
		t0 := time.Now()
		if _, err := c.DefineXML([]byte(doc), false); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := waitSignal(sigs, uuid, 30*time.Second); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		window = append(window, t2.Sub(t1))
		total = append(total, t2.Sub(t0))
	}
	// Every domain is in Form B now.
	doms, err := c.ListPersistent()
	if err != nil {
		b.Fatal(err)
	}
	adopted := 0
	for _, d := range doms {
		x, err := c.InactiveXML(d.UUID)
		if err != nil {
			b.Fatal(err)
		}
		if dd, err := xmlrewrite.Inspect(x); err == nil && len(dd.Ports) == 1 && len(dd.FormA) == 0 {
			adopted++
		}
	}
	if adopted != iterations {
		b.Fatalf("%d of %d domains are in Form B", adopted, iterations)
	}
	b.ReportMetric(rig.Ms(rig.Percentile(window, 50)), "window-p50-ms")
	b.ReportMetric(rig.Ms(rig.Percentile(window, 99)), "window-p99-ms")
	b.ReportMetric(rig.Ms(rig.Percentile(window, 100)), "window-max-ms")
	b.ReportMetric(rig.Ms(rig.Percentile(total, 50)), "define-to-adopted-p50-ms")
	b.ReportMetric(rig.Ms(rig.Percentile(total, 99)), "define-to-adopted-p99-ms")
	b.Logf("%d defines: window p50 %.2f ms, p99 %.2f ms, max %.2f ms; define→adopted p50 %.2f ms, p99 %.2f ms",
		iterations, rig.Ms(rig.Percentile(window, 50)), rig.Ms(rig.Percentile(window, 99)), rig.Ms(rig.Percentile(window, 100)),
		rig.Ms(rig.Percentile(total, 50)), rig.Ms(rig.Percentile(total, 99)))
}

func waitSignal(sigs chan *dbus.Signal, uuid string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case s := <-sigs:
			if strings.HasSuffix(s.Name, ".DomainAdopted") && len(s.Body) == 2 && s.Body[0] == uuid {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no DomainAdopted for %s within %v", uuid, timeout)
		}
	}
}
