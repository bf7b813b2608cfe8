package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

func inactiveXML(t *testing.T, lv *testenv.Libvirtd, name string) string {
	t.Helper()
	x, err := lv.Virsh("dumpxml", "--inactive", name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func isFormB(x string) bool {
	d, err := xmlrewrite.Inspect([]byte(x))
	return err == nil && len(d.Ports) > 0 && len(d.FormA) == 0
}

// waitAdopted waits for DomainAdopted(uuid, name).
func waitAdopted(t *testing.T, sigs chan *dbus.Signal, uuid, name string) time.Duration {
	t.Helper()
	t0 := time.Now()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case s := <-sigs:
			if s.Name == busapi.ManagerInterface+".DomainAdopted" && len(s.Body) == 2 && s.Body[0] == uuid && s.Body[1] == name {
				return time.Since(t0)
			}
		case <-deadline:
			t.Fatalf("no DomainAdopted(%s, %s) within 30 s", uuid, name)
		}
	}
}

func waitLog(t *testing.T, d *testenv.Daemon, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(d.Log(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not log %q (%d times) within 30 s", want, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 15 point 1, against a real libvirtd: adoption off leaves Form A;
// at start, on define, for a running domain's persistent definition, and
// after libvirtd restarts.
func TestAdoptionFollowsLibvirt(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	lv := testenv.StartLibvirtd(t)
	lvArgs := []string{"--libvirt-socket", filepath.Join(lv.Dir, "none-sock") + "," + lv.Socket, "--libvirt-uri", testenv.LibvirtURI}
	sigs := watch(t, e.bus)
	const (
		u1 = "7d3e9a52-8f0b-4c55-9b1e-00000000a001"
		u2 = "7d3e9a52-8f0b-4c55-9b1e-00000000a002"
		u3 = "7d3e9a52-8f0b-4c55-9b1e-00000000a003"
		u4 = "7d3e9a52-8f0b-4c55-9b1e-00000000a004"
	)

	// Adoption off: a Form A define stays as it is.
	d := e.start(t, append(lvArgs, "--adopt=false")...)
	c := dial(t)
	defineSeed(t, c)
	waitLog(t, d, "following libvirt's domain events", 1)
	lv.Define(t, testenv.TCGDomainXML("ad-g1", u1, testenv.FormAInterface("red-vepa", "", "52:54:00:ad:a0:01", "")))
	time.Sleep(time.Second)
	if x := inactiveXML(t, lv, "ad-g1"); isFormB(x) {
		t.Fatalf("adoption off, yet the domain was redefined:\n%s", x)
	}
	if err := d.Term(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Adoption on: the domain defined before the daemon started is adopted.
	d = e.start(t, lvArgs...)
	c = dial(t)
	waitAdopted(t, sigs, u1, "ad-g1")
	if x := inactiveXML(t, lv, "ad-g1"); !isFormB(x) {
		t.Fatalf("not Form B after adoption at start:\n%s", x)
	}
	if !strings.Contains(d.Log(), "adopted: persistent definition redefined in Form B") {
		t.Error("adoption not logged")
	}

	// A define while it runs is adopted.
	lv.Define(t, testenv.TCGDomainXML("ad-g2", u2, testenv.FormAInterface("red-bridge", "", "52:54:00:ad:a0:02", "")))
	waitAdopted(t, sigs, u2, "ad-g2")
	if x := inactiveXML(t, lv, "ad-g2"); !isFormB(x) {
		t.Fatalf("ad-g2 not Form B:\n%s", x)
	}

	// A running domain gets a Form A persistent definition (what an incoming
	// `virsh migrate --persistent` does): only the persistent definition is
	// redefined; the live XML is not touched.
	lv.Define(t, testenv.TCGDomainXML("ad-g3", u3))
	if _, err := lv.Virsh("start", "ad-g3"); err != nil {
		t.Fatal(err)
	}
	defer lv.Virsh("destroy", "ad-g3")
	live, err := lv.Virsh("dumpxml", "ad-g3")
	if err != nil {
		t.Fatal(err)
	}
	lv.Define(t, testenv.TCGDomainXML("ad-g3", u3, testenv.FormAInterface("red-vepa", "", "52:54:00:ad:a0:03", "")))
	waitAdopted(t, sigs, u3, "ad-g3")
	if x := inactiveXML(t, lv, "ad-g3"); !isFormB(x) {
		t.Fatalf("ad-g3's persistent definition not Form B:\n%s", x)
	}
	if after, _ := lv.Virsh("dumpxml", "ad-g3"); after != live {
		t.Errorf("the running domain's live XML changed:\n--- before\n%s\n--- after\n%s", live, after)
	}

	// libvirtd restarts: D-Bus answers while it is away; events resume.
	lv.Stop()
	waitLog(t, d, "lost the connection to libvirt", 1)
	t0 := time.Now()
	var paths []dbus.ObjectPath
	if err := c.Call("ListNetworks", []any{&paths}); err != nil || len(paths) != 3 {
		t.Fatalf("ListNetworks while libvirt is away: %v %v", paths, err)
	}
	if dt := time.Since(t0); dt > 5*time.Second {
		t.Errorf("a D-Bus call took %v while libvirt was away", dt)
	}
	if err := lv.Start(); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "following libvirt's domain events", 2)
	lv.Define(t, testenv.TCGDomainXML("ad-g4", u4, testenv.FormAInterface("red-vepa", "", "52:54:00:ad:a0:04", "")))
	waitAdopted(t, sigs, u4, "ad-g4")
	if x := inactiveXML(t, lv, "ad-g4"); !isFormB(x) {
		t.Fatalf("ad-g4 not Form B after the restart:\n%s", x)
	}
}
