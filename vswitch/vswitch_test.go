package vswitch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/vport"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

const instanceID = "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"

// seedGuests are testenv.SeedDomains, encoded.
func seedGuests(t *testing.T, f *fixture) []*guest {
	var out []*guest
	for _, d := range testenv.SeedDomains {
		out = append(out, newGuest(t, f, d.Name, d.UUID, d.Ifaces...))
	}
	return out
}

const seedCounts = "red-bridge=1 red-pass=2[eth20:1 eth21:1] red-vepa=3[eth10:2 eth11:1]"

func prepareAll(t *testing.T, f *fixture, gs []*guest) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, g := range gs {
		st, err := f.sw.Prepare(g.formB)
		if err != nil {
			t.Fatalf("Prepare(%s): %v", g.name, err)
		}
		out[g.uuid] = st
	}
	return out
}

func qbg(mgr, typ, ver, inst string) *vport.VirtualPort {
	return &vport.VirtualPort{Type: vport.Qbg, Params: &vport.Params{ManagerID: mgr, TypeID: typ, TypeIDVersion: ver, InstanceID: inst}}
}

// Seed case 1: three domains on the seed's networks get the devices,
// modes and merged virtualports SPEC §3 predicts; GetXMLDesc(1) and the
// state files show them.
func TestSeedPrepareRelease(t *testing.T) {
	f := newFixture(t)
	before := f.ns.Snapshot(t)
	gs := seedGuests(t, f)
	statuses := prepareAll(t, f, gs)

	if got := counts(f.sw); got != seedCounts {
		t.Fatalf("counts = %s\nwant     %s", got, seedCounts)
	}
	x, err := f.sw.NetworkXML("red-vepa", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<network connections='3'>", "<interface dev='eth10' connections='2'/>", "<interface dev='eth11' connections='1'/>"} {
		if !strings.Contains(x, want) {
			t.Errorf("status XML lacks %s:\n%s", want, x)
		}
	}
	if x, _ := f.sw.NetworkXML("red-vepa", false); strings.Contains(x, "connections") {
		t.Errorf("config XML shows connections:\n%s", x)
	}

	// What each interface actually got, read back from the state files.
	want := map[string]map[string]xmlrewrite.Actual{
		gs[0].uuid: {
			"vswdeadbeefcafe": {Type: "direct", Dev: "eth10", Mode: "vepa", VirtualPort: qbg("11", "33", "2", instanceID)},
			"vsw525400000101": {Type: "direct", Dev: "eth20", Mode: "passthrough", SavedMAC: "02:00:00:00:20:00"},
		},
		gs[1].uuid: {
			"vsw525400000201": {Type: "direct", Dev: "eth11", Mode: "vepa", VirtualPort: qbg("11", "22", "2", "2b3c4d5e-0000-4000-8000-000000000002")},
			"vsw525400000202": {Type: "direct", Dev: "eth21", Mode: "passthrough", SavedMAC: "02:00:00:00:20:01"},
		},
		gs[2].uuid: {
			"vsw525400000301": {Type: "bridge", Bridge: "br0"},
			"vsw525400000302": {Type: "direct", Dev: "eth10", Mode: "vepa", VirtualPort: qbg("11", "33", "2", "2b3c4d5e-0000-4000-8000-000000000003")},
		},
	}
	for _, g := range gs {
		file, err := os.ReadFile(filepath.Join(f.stateDir, "domains", g.uuid+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(file, statuses[g.uuid]) {
			t.Errorf("%s: state file differs from the status Prepare returned", g.name)
		}
		fi, _ := os.Stat(filepath.Join(f.stateDir, "domains", g.uuid+".xml"))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: state file mode %v", g.name, fi.Mode())
		}
		d, acts, err := xmlrewrite.ParseStatus(file)
		if err != nil {
			t.Fatalf("%s: ParseStatus: %v", g.name, err)
		}
		if d.UUID != g.uuid || d.Name != g.name {
			t.Errorf("state names %s %s", d.Name, d.UUID)
		}
		if !reflect.DeepEqual(acts, want[g.uuid]) {
			t.Errorf("%s: actual =\n%+v\nwant\n%+v", g.name, acts, want[g.uuid])
		}
		if !bytes.Contains(file, []byte("<actual type=")) || bytes.Contains(file, []byte("type='ethernet'")) {
			t.Errorf("%s: state file is not Form A with <actual>:\n%s", g.name, file)
		}
	}

	// The links, as the kernel has them.
	snap := f.ns.Snapshot(t)
	for _, c := range []struct{ link, kind, parent, master, mode, mac string }{
		{"vswdeadbeefcafe", "macvtap", "eth10", "", "vepa", "de:ad:be:ef:ca:fe"},
		{"vsw525400000302", "macvtap", "eth10", "", "vepa", "52:54:00:00:03:02"},
		{"vsw525400000201", "macvtap", "eth11", "", "vepa", "52:54:00:00:02:01"},
		{"vsw525400000101", "macvtap", "eth20", "", "passthru", "52:54:00:00:01:01"},
		{"vsw525400000202", "macvtap", "eth21", "", "passthru", "52:54:00:00:02:02"},
		{"vsw525400000301", "tuntap", "", "br0", "", "fe:54:00:00:03:01"},
	} {
		l, ok := snap[c.link]
		if !ok {
			t.Errorf("link %s missing", c.link)
			continue
		}
		if l.Kind != c.kind || l.Parent != c.parent || l.Master != c.master || l.Mode != c.mode || l.MAC != c.mac || !l.Up {
			t.Errorf("link %s = %+v", c.link, l)
		}
	}
	if snap["eth20"].MAC != "52:54:00:00:01:01" {
		t.Errorf("passthrough device eth20 has MAC %s, want the guest's", snap["eth20"].MAC)
	}

	// Guest vm2 released: its counts drop, its links go, eth21 gets its MAC back.
	if err := f.sw.Release(gs[1].uuid); err != nil {
		t.Fatal(err)
	}
	if got, want := counts(f.sw), "red-bridge=1 red-pass=1[eth20:1] red-vepa=2[eth10:2]"; got != want {
		t.Errorf("after releasing vm2: %s, want %s", got, want)
	}
	snap = f.ns.Snapshot(t)
	for _, l := range []string{"vsw525400000201", "vsw525400000202"} {
		if _, ok := snap[l]; ok {
			t.Errorf("link %s still there after release", l)
		}
	}
	if snap["eth21"].MAC != "02:00:00:00:20:01" {
		t.Errorf("eth21 MAC %s not restored", snap["eth21"].MAC)
	}
	if _, err := f.sw.DomainStatus(gs[1].uuid); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("DomainStatus after release: %v", err)
	}
	// Released twice, or never known: success, nothing changes.
	if err := f.sw.Release(gs[1].uuid); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if err := f.sw.Release("99999999-9999-9999-9999-999999999999"); err != nil {
		t.Errorf("Release of an unknown UUID: %v", err)
	}
	for _, g := range []*guest{gs[0], gs[2]} {
		if err := f.sw.Release(strings.ToUpper(g.uuid)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := counts(f.sw), "red-bridge=0 red-pass=0 red-vepa=0"; got != want {
		t.Errorf("after releasing all: %s", got)
	}
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Errorf("links differ from before the guests:\n%s", d)
	}
	if files := testenv.StateFiles(t, f.stateDir); len(files) != 0 {
		t.Errorf("state files left: %v", files)
	}
	f.obs.mu.Lock()
	defer f.obs.mu.Unlock()
	if len(f.obs.prepared) != 3 || len(f.obs.released) != 3 {
		t.Errorf("observer saw prepared %v released %v", f.obs.prepared, f.obs.released)
	}
}

func TestPrepareIsIdempotent(t *testing.T) {
	f := newFixture(t)
	g := seedGuests(t, f)[0]
	first, err := f.sw.Prepare(g.formB)
	if err != nil {
		t.Fatal(err)
	}
	c := counts(f.sw)
	for range 3 {
		again, err := f.sw.Prepare(g.formB)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("repeated Prepare returned another status")
		}
	}
	if got := counts(f.sw); got != c {
		t.Fatalf("repeated Prepare changed counts: %s -> %s", c, got)
	}
	// The state left by a run that ended unreleased (not ours, no QEMU) is
	// cleaned up and the domain prepared afresh, counted once.
	f.restart(t) // recovery releases it: nothing runs
	if got := counts(f.sw); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("after restart with nothing running: %s", got)
	}
	if _, err := f.sw.Prepare(g.formB); err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); got != c {
		t.Fatalf("prepare after restart: %s, want %s", got, c)
	}
}

// A stale state file (its domain gone without a release, found by Prepare
// before any recovery ran) does not make Prepare count twice.
func TestPrepareOverStaleState(t *testing.T) {
	f := newFixture(t)
	g := seedGuests(t, f)[1]
	if _, err := f.sw.Prepare(g.formB); err != nil {
		t.Fatal(err)
	}
	c := counts(f.sw)
	f.sw = f.open(t) // restarted, no recovery yet: the file is stale
	if _, err := f.sw.Prepare(g.formB); err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); got != c {
		t.Fatalf("counts %s, want %s", got, c)
	}
	if err := f.sw.Release(g.uuid); err != nil {
		t.Fatal(err)
	}
	if snap := f.ns.Snapshot(t); snap["eth20"].MAC != "02:00:00:00:20:00" {
		t.Fatalf("eth20 MAC %s not restored after stale re-prepare", snap["eth20"].MAC)
	}
}

// Seed cases 3a, 3b and 2: daemon restarts with guests running, guests that
// died meanwhile, and a host reboot (empty state dir).
func TestRecovery(t *testing.T) {
	f := newFixture(t)
	before := f.ns.Snapshot(t)
	gs := seedGuests(t, f)
	prepareAll(t, f, gs)
	stops := map[string]func(){}
	for _, g := range gs {
		stops[g.name] = f.run(t, g)
	}
	linksBefore := f.ns.Snapshot(t)

	// 3a: restart while all run: identical counts, links untouched.
	f.restart(t)
	if got := counts(f.sw); got != seedCounts {
		t.Fatalf("3a: counts after restart = %s, want %s", got, seedCounts)
	}
	if d := testenv.Diff(linksBefore, f.ns.Snapshot(t)); d != "" {
		t.Fatalf("3a: links changed:\n%s", d)
	}
	// Recovering again changes nothing either.
	if err := f.sw.Recover(); err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); got != seedCounts {
		t.Fatalf("3a: counts after second recovery = %s", got)
	}

	// 3b: vm2 dies while the daemon is down: freed, links gone, MAC back.
	stops["vm2"]()
	f.restart(t)
	if got, want := counts(f.sw), "red-bridge=1 red-pass=1[eth20:1] red-vepa=2[eth10:2]"; got != want {
		t.Fatalf("3b: counts = %s, want %s", got, want)
	}
	snap := f.ns.Snapshot(t)
	for _, l := range []string{"vsw525400000201", "vsw525400000202"} {
		if _, ok := snap[l]; ok {
			t.Errorf("3b: link %s of the dead guest still there", l)
		}
	}
	if snap["eth21"].MAC != "02:00:00:00:20:01" {
		t.Errorf("3b: eth21 MAC %s not restored", snap["eth21"].MAC)
	}
	if _, err := os.Stat(filepath.Join(f.stateDir, "domains", gs[1].uuid+".xml")); !os.IsNotExist(err) {
		t.Errorf("3b: state file of the dead guest still there (%v)", err)
	}
	f.obs.mu.Lock()
	if !reflect.DeepEqual(f.obs.released, []string{gs[1].uuid}) {
		t.Errorf("3b: observer released %v", f.obs.released)
	}
	f.obs.mu.Unlock()

	// A pid file whose process does not carry the UUID (pid reuse) is not
	// the domain: vm3 is released even though "its" pid is alive.
	stops["vm3"]()
	testenv.StartFakeQEMU(t, f.libvirt, "vm3", "44444444-4444-4444-4444-444444444444")
	f.restart(t)
	if got, want := counts(f.sw), "red-bridge=0 red-pass=1[eth20:1] red-vepa=1[eth10:1]"; got != want {
		t.Fatalf("pid reuse: counts = %s, want %s", got, want)
	}

	// A vsw* link no state file accounts for is deleted.
	if _, err := f.plumber.CreateMacvtap("vswaabbccddeeff", "eth11", "vepa", "aa:bb:cc:dd:ee:ff"); err != nil {
		t.Fatal(err)
	}
	if err := f.sw.Recover(); err != nil {
		t.Fatal(err)
	}
	if f.ns.HasLink(t, "vswaabbccddeeff") {
		t.Errorf("orphan link survived recovery")
	}
	if got, want := counts(f.sw), "red-bridge=0 red-pass=1[eth20:1] red-vepa=1[eth10:1]"; got != want {
		t.Fatalf("after orphan sweep: %s, want %s", got, want)
	}

	// 2: host reboot: the state dir (tmpfs) is empty. Whatever links are
	// still around are swept; all counts are 0.
	if err := os.RemoveAll(f.stateDir); err != nil {
		t.Fatal(err)
	}
	f.restart(t)
	if got := counts(f.sw); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("2: counts after reboot = %s", got)
	}
	for name := range f.ns.Snapshot(t) {
		if strings.HasPrefix(name, "vsw") {
			t.Errorf("2: link %s survived", name)
		}
	}
	// The passthrough device's MAC is lost with the state, as on a real
	// reboot where the NIC comes back with its own; everything else is
	// as before the guests.
	after := f.ns.Snapshot(t)
	delete(after, "eth20")
	b := testenv.Snapshot{}
	for k, v := range before {
		if k != "eth20" {
			b[k] = v
		}
	}
	if d := testenv.Diff(b, after); d != "" {
		t.Errorf("2: links differ:\n%s", d)
	}
}

// A domain this daemon just prepared, whose QEMU has not written its pid
// file yet, survives a periodic recovery.
func TestRecoveryKeepsFreshlyPrepared(t *testing.T) {
	f := newFixture(t)
	gs := seedGuests(t, f)
	prepareAll(t, f, gs)
	if err := f.sw.Recover(); err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); got != seedCounts {
		t.Fatalf("counts = %s", got)
	}
	if n := len(testenv.StateFiles(t, f.stateDir)); n != 3 {
		t.Fatalf("%d state files", n)
	}
}

func TestReconnect(t *testing.T) {
	f := newFixture(t)
	gs := seedGuests(t, f)
	statuses := prepareAll(t, f, gs)
	for _, g := range gs {
		f.run(t, g)
	}
	f.restart(t)
	// libvirtd restarted too and reconnects every guest: nothing counted twice.
	for _, g := range gs {
		st, err := f.sw.Reconnect(g.formB)
		if err != nil {
			t.Fatalf("Reconnect(%s): %v", g.name, err)
		}
		if !bytes.Equal(st, statuses[g.uuid]) {
			t.Errorf("Reconnect(%s) returned another status", g.name)
		}
	}
	if got := counts(f.sw); got != seedCounts {
		t.Fatalf("after reconnect: %s, want %s", got, seedCounts)
	}

	// No state and no links: adopted as a fresh prepare.
	g4 := newGuest(t, f, "vm4", "44444444-4444-4444-4444-444444444444", testenv.FormAInterface("red-bridge", "", "52:54:00:00:04:01", ""))
	if _, err := f.sw.Reconnect(g4.formB); err != nil {
		t.Fatal(err)
	}
	if got := counts(f.sw); !strings.HasPrefix(got, "red-bridge=2 ") {
		t.Fatalf("after adopting vm4: %s", got)
	}
	// No state but a link of that name exists: we cannot know what it
	// uses, a real conflict.
	g5 := newGuest(t, f, "vm5", "55555555-5555-5555-5555-555555555555", testenv.FormAInterface("red-vepa", "", "52:54:00:00:05:01", "2b3c4d5e-0000-4000-8000-000000000005"))
	if _, err := f.plumber.CreateMacvtap("vsw525400000501", "eth11", "vepa", "52:54:00:00:05:01"); err != nil {
		t.Fatal(err)
	}
	c := counts(f.sw)
	_, err := f.sw.Reconnect(g5.formB)
	if apierr.KindOf(err) != apierr.Conflict || !strings.Contains(err.Error(), "vsw525400000501") {
		t.Fatalf("Reconnect with an unaccounted link: %v", err)
	}
	if got := counts(f.sw); got != c {
		t.Fatalf("failed Reconnect changed counts: %s -> %s", c, got)
	}
}

// Seed case 3 at the core: 64 concurrent prepares on the 8-device
// passthrough pool.
func TestConcurrentPrepareExclusivePool(t *testing.T) {
	f := newFixture(t)
	before := f.ns.Snapshot(t)
	const n = 64
	gs := make([]*guest, n)
	for i := range gs {
		gs[i] = newGuest(t, f, fmt.Sprintf("c%d", i), fmt.Sprintf("00000000-0000-0000-0000-0000000000%02x", i),
			testenv.FormAInterface("red-pass", "", fmt.Sprintf("52:54:00:aa:00:%02x", i), ""))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	sts := make([][]byte, n)
	for i := range gs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sts[i], errs[i] = f.sw.Prepare(gs[i].formB)
		}(i)
	}
	wg.Wait()
	ok, exhausted := 0, 0
	devs := map[string]string{}
	for i, err := range errs {
		switch apierr.KindOf(err) {
		case "":
			if err != nil {
				t.Fatalf("c%d: %v", i, err)
			}
			ok++
			_, acts, perr := xmlrewrite.ParseStatus(sts[i])
			if perr != nil {
				t.Fatal(perr)
			}
			for _, a := range acts {
				if other, dup := devs[a.Dev]; dup {
					t.Errorf("device %s given to c%d and %s", a.Dev, i, other)
				}
				devs[a.Dev] = fmt.Sprintf("c%d", i)
			}
		case apierr.PoolExhausted:
			exhausted++
			if !strings.Contains(err.Error(), "red-pass") {
				t.Errorf("message does not name the network: %v", err)
			}
		default:
			t.Errorf("c%d: %v", i, err)
		}
	}
	if ok != 8 || exhausted != 56 {
		t.Fatalf("%d prepared, %d exhausted; want 8 and 56", ok, exhausted)
	}
	if got := counts(f.sw); !strings.Contains(got, "red-pass=8[eth20:1 eth21:1 eth22:1 eth23:1 eth24:1 eth25:1 eth26:1 eth27:1]") {
		t.Fatalf("counts = %s", got)
	}
	parents := map[string]bool{}
	for name, l := range f.ns.Snapshot(t) {
		if strings.HasPrefix(name, "vsw") {
			if parents[l.Parent] {
				t.Errorf("two links on %s", l.Parent)
			}
			parents[l.Parent] = true
		}
	}
	if len(parents) != 8 || len(testenv.StateFiles(t, f.stateDir)) != 8 {
		t.Fatalf("%d links, %d state files", len(parents), len(testenv.StateFiles(t, f.stateDir)))
	}
	for i := range gs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := f.sw.Release(gs[i].uuid); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if got := counts(f.sw); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("after release: %s", got)
	}
	if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
		t.Fatalf("links differ:\n%s", d)
	}
}

// Bad input: a named error, and nothing changed — no count, no link, no
// state file, no changed MAC.
func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	// One running domain, so "nothing changed" covers existing state too.
	if _, err := f.sw.Prepare(seedGuests(t, f)[0].formB); err != nil {
		t.Fatal(err)
	}
	encodeAny := func(doc string) []byte {
		out, _, err := xmlrewrite.Encode([]byte(doc), func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	domain := func(uuid string, ifaces ...string) string {
		return fmt.Sprintf("<domain type='kvm'>\n  <name>bad</name>\n  <uuid>%s</uuid>\n  <devices>\n%s\n  </devices>\n</domain>\n",
			uuid, strings.Join(ifaces, "\n"))
	}
	const u = "66666666-6666-6666-6666-666666666666"
	nine := []string{}
	for i := range 9 {
		nine = append(nine, testenv.FormAInterface("red-pass", "", fmt.Sprintf("52:54:00:bb:00:%02x", i), ""))
	}
	// A second, bridge-mode network whose bridge is missing: plumbing fails
	// after the first interface was plumbed.
	if _, err := f.sw.Define([]byte("<network><name>no-bridge</name><forward mode='bridge'/><bridge name='brmissing'/></network>")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		kind apierr.Kind
		says string
	}{
		{"malformed XML", []byte("<domain><name>x</name><uuid>" + u + "</uuid><devices><interface"), apierr.InvalidXML, "malformed"},
		{"unknown network", encodeAny(domain(u, testenv.FormAInterface("blue-network", "", "52:54:00:bb:00:01", ""))), apierr.NotFound, "blue-network"},
		{"missing portgroup", encodeAny(domain(u, testenv.FormAInterface("red-vepa", "sales", "52:54:00:bb:00:01", instanceID))), apierr.NotFound, "portgroup 'sales'"},
		{"conflicting virtualport", encodeAny(domain(u, testenv.FormAInterfaceRaw("red-vepa", "engineering", "52:54:00:bb:00:01", `
      <virtualport type='802.1Qbg'>
        <parameters typeid='99'/>
      </virtualport>`))), apierr.Conflict, "mismatched typeids"},
		{"virtualport type mismatch", encodeAny(domain(u, testenv.FormAInterfaceRaw("red-vepa", "", "52:54:00:bb:00:01", `
      <virtualport type='802.1Qbh'>
        <parameters profileid='x'/>
      </virtualport>`))), apierr.Conflict, "mismatched types"},
		{"path in UUID", encodeAny(domain("../../etc/x", testenv.FormAInterface("red-bridge", "", "52:54:00:bb:00:01", ""))), apierr.InvalidXML, "../../etc/x"},
		{"Form A naming our network", []byte(domain(u, testenv.FormAInterface("red-bridge", "", "52:54:00:bb:00:01", ""))), apierr.InvalidXML, "domain-encode"},
		{"pool exhausted half-way", encodeAny(domain(u, nine...)), apierr.PoolExhausted, "red-pass"},
		{"plumbing fails after a success", encodeAny(domain(u,
			testenv.FormAInterface("red-pass", "", "52:54:00:bb:00:01", ""),
			testenv.FormAInterface("red-vepa", "", "52:54:00:bb:00:02", instanceID),
			testenv.FormAInterface("no-bridge", "", "52:54:00:bb:00:03", ""))), apierr.Plumbing, "brmissing"},
		{"same MAC as a running guest", encodeAny(domain(u, testenv.FormAInterface("red-bridge", "", "de:ad:be:ef:ca:fe", ""))), apierr.Plumbing, "vswdeadbeefcafe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			links := f.ns.Snapshot(t)
			c := counts(f.sw)
			files := testenv.StateFiles(t, f.stateDir)
			_, err := f.sw.Prepare(tc.doc)
			if err == nil {
				t.Fatal("Prepare succeeded")
			}
			if apierr.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error = %v (kind %q), want kind %s mentioning %q", err, apierr.KindOf(err), tc.kind, tc.says)
			}
			if got := counts(f.sw); got != c {
				t.Errorf("counts changed: %s -> %s", c, got)
			}
			if d := testenv.Diff(links, f.ns.Snapshot(t)); d != "" {
				t.Errorf("links changed:\n%s", d)
			}
			if got := testenv.StateFiles(t, f.stateDir); !reflect.DeepEqual(got, files) {
				t.Errorf("state files changed: %v -> %v", files, got)
			}
		})
	}
	for _, bad := range []string{"../../etc/x", "", "11111111-1111-1111-1111-11111111111/"} {
		if err := f.sw.Release(bad); apierr.KindOf(err) != apierr.InvalidXML {
			t.Errorf("Release(%q) = %v", bad, err)
		}
		if _, err := f.sw.DomainStatus(bad); apierr.KindOf(err) != apierr.InvalidXML {
			t.Errorf("DomainStatus(%q) = %v", bad, err)
		}
	}
}

func TestDefineRules(t *testing.T) {
	f := newFixture(t)
	info, err := f.sw.Network("red-pass")
	if err != nil {
		t.Fatal(err)
	}
	uuid := info.UUID
	if _, err := vport.ParseUUID(uuid); err != nil {
		t.Fatalf("assigned UUID %q: %v", uuid, err)
	}
	// Redefinition without a <uuid> keeps it, in memory and on disk.
	shrunk := strings.Replace(testenv.SeedPassthrough, "    <interface dev='eth27'/>\n", "", 1)
	if info, err = f.sw.Define([]byte(shrunk)); err != nil || info.UUID != uuid || len(info.Devices) != 7 {
		t.Fatalf("redefine: %+v %v", info, err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.configDir, "red-pass.xml")); !bytes.Contains(b, []byte(uuid)) {
		t.Fatalf("saved definition lacks the UUID:\n%s", b)
	}
	// Another UUID for the same name: Conflict; a UUID another network has: Conflict.
	withUUID := func(doc, u string) []byte {
		return []byte(strings.Replace(doc, "</name>", "</name>\n  <uuid>"+u+"</uuid>", 1))
	}
	if _, err := f.sw.Define(withUUID(testenv.SeedPassthrough, "12345678-1234-1234-1234-123456789abc")); apierr.KindOf(err) != apierr.Conflict {
		t.Errorf("redefine with another UUID: %v", err)
	}
	if _, err := f.sw.Define(withUUID("<network><name>other</name><forward mode='bridge'/><bridge name='br0'/></network>", uuid)); apierr.KindOf(err) != apierr.Conflict {
		t.Errorf("define with a used UUID: %v", err)
	}
	if f.sw.HasNetwork("other") {
		t.Errorf("refused network got defined")
	}

	g := newGuest(t, f, "vm", "77777777-7777-7777-7777-777777777777", testenv.FormAInterface("red-pass", "", "52:54:00:00:07:01", ""))
	if _, err := f.sw.Prepare(g.formB); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(filepath.Join(f.configDir, "red-pass.xml"))
	for _, tc := range []struct {
		name string
		doc  string
		kind apierr.Kind
	}{
		{"mode change in use", strings.Replace(shrunk, "passthrough", "vepa", 1), apierr.InUse},
		{"in-use device removed", strings.Replace(shrunk, "    <interface dev='eth20'/>\n", "", 1), apierr.InUse},
		{"invalid XML", "<network><name>red-pass</name>", apierr.InvalidXML},
		{"route mode", "<network><name>red-pass</name><forward mode='route'/></network>", apierr.Unsupported},
	} {
		if _, err := f.sw.Define([]byte(tc.doc)); apierr.KindOf(err) != tc.kind {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.kind)
		}
		if b, _ := os.ReadFile(filepath.Join(f.configDir, "red-pass.xml")); !bytes.Equal(b, saved) {
			t.Errorf("%s: definition file changed", tc.name)
		}
		if info, _ := f.sw.Network("red-pass"); info.Mode != "passthrough" || len(info.Devices) != 7 || info.Connections != 1 {
			t.Errorf("%s: network changed: %+v", tc.name, info)
		}
	}
	// An unused device may go.
	if _, err := f.sw.Define([]byte(strings.Replace(shrunk, "    <interface dev='eth26'/>\n", "", 1))); err != nil {
		t.Errorf("removing an unused device: %v", err)
	}
	if err := f.sw.Undefine("red-pass"); apierr.KindOf(err) != apierr.InUse {
		t.Errorf("Undefine in use: %v", err)
	}
	if err := f.sw.Undefine("nosuch"); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("Undefine unknown: %v", err)
	}
	if err := f.sw.Release(g.uuid); err != nil {
		t.Fatal(err)
	}
	if err := f.sw.Undefine("red-pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.configDir, "red-pass.xml")); !os.IsNotExist(err) {
		t.Errorf("definition file still there: %v", err)
	}
	if _, err := f.sw.Network("red-pass"); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("Network after Undefine: %v", err)
	}
}

func TestReload(t *testing.T) {
	f := newFixture(t)
	g := newGuest(t, f, "vm", "88888888-8888-8888-8888-888888888888", testenv.FormAInterface("red-bridge", "", "52:54:00:00:08:01", ""))
	if _, err := f.sw.Prepare(g.formB); err != nil {
		t.Fatal(err)
	}
	uuid := func(name string) string { i, _ := f.sw.Network(name); return i.UUID }
	vepaUUID := uuid("red-vepa")
	// An admin drops a new file (no UUID), breaks one file, removes another
	// that is in use, and removes one that is not.
	os.WriteFile(filepath.Join(f.configDir, "green.xml"), []byte("<network><name>green</name><forward mode='bridge'/><bridge name='br0'/></network>"), 0o644)
	os.WriteFile(filepath.Join(f.configDir, "red-vepa.xml"), []byte("<network><name>red-vepa</name>"), 0o644)
	os.Remove(filepath.Join(f.configDir, "red-bridge.xml"))
	os.Remove(filepath.Join(f.configDir, "red-pass.xml"))
	err := f.sw.Reload()
	if err == nil || !strings.Contains(err.Error(), "red-vepa.xml") || !strings.Contains(err.Error(), "red-bridge") {
		t.Fatalf("Reload error: %v", err)
	}
	var names []string
	for _, n := range f.sw.Networks() {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	if want := []string{"green", "red-bridge", "red-vepa"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("networks after Reload: %v, want %v", names, want)
	}
	if uuid("red-vepa") != vepaUUID {
		t.Errorf("bad file replaced the working definition")
	}
	gu := uuid("green")
	if _, err := vport.ParseUUID(gu); err != nil {
		t.Fatalf("green got no UUID: %q", gu)
	}
	f.restart(t)
	if uuid("green") != gu {
		t.Errorf("green's UUID changed across a restart: %s -> %s", gu, uuid("green"))
	}
}

func TestRewriteIncoming(t *testing.T) {
	f := newFixture(t)
	g := seedGuests(t, f)[1]
	out, err := f.sw.RewriteIncoming([]byte(g.formA))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, g.formB) {
		t.Fatalf("RewriteIncoming =\n%s\nwant the encoding\n%s", out, g.formB)
	}
	if got := counts(f.sw); got != "red-bridge=0 red-pass=0 red-vepa=0" {
		t.Fatalf("dry run counted: %s", got)
	}
	if out, err := f.sw.RewriteIncoming(g.formB); err != nil || out != nil {
		t.Fatalf("Form B in: %q, %v; want nil, nil", out, err)
	}
	foreign := strings.Replace(g.formA, "red-", "libvirt-", -1)
	if out, err := f.sw.RewriteIncoming([]byte(foreign)); err != nil || out != nil {
		t.Fatalf("no virtswitch network: %q, %v", out, err)
	}
	bad := strings.Replace(g.formA, "<source network='red-vepa'/>", "<source network='red-vepa' portgroup='sales'/>", 1)
	if _, err := f.sw.RewriteIncoming([]byte(bad)); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("missing portgroup: %v", err)
	}
	// Fill the passthrough pool; an incoming guest needing it is refused.
	for i := range 8 {
		h := newGuest(t, f, fmt.Sprintf("p%d", i), fmt.Sprintf("00000000-0000-0000-0000-0000000001%02x", i), testenv.FormAInterface("red-pass", "", fmt.Sprintf("52:54:00:cc:00:%02x", i), ""))
		if _, err := f.sw.Prepare(h.formB); err != nil {
			t.Fatal(err)
		}
	}
	c := counts(f.sw)
	if _, err := f.sw.RewriteIncoming([]byte(g.formA)); apierr.KindOf(err) != apierr.PoolExhausted {
		t.Fatalf("full pool: %v", err)
	}
	if got := counts(f.sw); got != c {
		t.Fatalf("refused dry run changed counts: %s -> %s", c, got)
	}
}
