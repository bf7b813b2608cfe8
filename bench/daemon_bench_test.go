//go:build bench

// Package bench holds virtswitch's end-to-end performance benchmarks
// (BENCHMARKS.md, "Issue 8"). They build the real virtswitchd and
// virtswitch-hook, run them on a private dbus-daemon with the shipped
// policy and plumb real links in a test network namespace. They are behind
// the "bench" build tag so `make test` never runs them: `make bench`.
package bench

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/virtswitch/virtswitch/bench/rig"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/buswire"
	"github.com/virtswitch/virtswitch/testenv"
)

// Knobs (environment, so `make bench` can pass them through).
var (
	iterations = rig.EnvInt("BENCH_ITER", 200)   // guest lives per hook kind and mode, per run
	runs       = rig.EnvInt("BENCH_RUNS", 5)     // runs; figures are medians over runs
	live       = rig.EnvInt("BENCH_LIVE", 10000) // allocations kept live in the daemon
	perQEMU    = rig.EnvInt("BENCH_PER_QEMU", 100)
	onDisk     = os.Getenv("BENCH_STATE") == "disk"
)

const nics = 16

// world is a daemon holding `live` running guests.
type world struct {
	r      *rig.Rig
	c      *busapi.Client
	guests []*rig.Guest
}

// populate prepares n guests (one vepa interface each) through the bus
// with a few parallel clients, then makes them run: fake QEMUs carrying
// perQEMU UUIDs each, with a pid file per guest.
func populate(b *testing.B, r *rig.Rig, n int) []*rig.Guest {
	b.Helper()
	guests := make([]*rig.Guest, n)
	for i := range n {
		g, err := rig.NewGuest(fmt.Sprintf("live%05d", i), rig.UUID(0x11fe, uint64(i)),
			rig.Iface{Network: "bench", MAC: rig.MAC(1, uint32(i))})
		if err != nil {
			b.Fatal(err)
		}
		guests[i] = g
	}
	const workers = 4
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		c := r.Dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				var st string
				if err := c.Call("PrepareDomain", []any{&st}, string(guests[i].FormB)); err != nil {
					errs <- fmt.Errorf("preparing %s: %v", guests[i].Name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	for i := 0; i < n; i += perQEMU {
		rig.StartQEMU(b, r.Libvirt, guests[i:min(i+perQEMU, n)]...)
	}
	return guests
}

func checkCounts(b *testing.B, c *busapi.Client, want uint) {
	b.Helper()
	got, err := rig.StatusCounts(c)
	if err != nil {
		b.Fatal(err)
	}
	if got["bench"].Connections != want {
		b.Fatalf("network bench has %d connections, want %d", got["bench"].Connections, want)
	}
}

// BenchmarkDaemon measures, on one daemon holding BENCH_LIVE running
// guests: hook latency (virtswitch-hook vs a bash hook), daemon RSS, and
// restart recovery (kill -9, restart to READY=1). Run with -benchtime 1x;
// iterations and runs are BENCH_ITER and BENCH_RUNS.
func BenchmarkDaemon(b *testing.B) {
	r, hook, bash := hookRig(b)
	report("machine: %s", machine())
	report("state dir on %s; %d live guests; %d iterations x %d runs", map[bool]string{true: "ext4 (disk)", false: "tmpfs"}[onDisk], live, iterations, runs)

	r.Start()
	time.Sleep(2 * time.Second)
	idle := r.RSS()
	c := r.Dial()

	// The same measurement with no other guest first, for scale.
	report("--- hook latency with no other guest")
	hookLatency(b, r, hook, bash)

	t0 := time.Now()
	guests := populate(b, r, live)
	report("prepared %d guests through the bus in %s", live, time.Since(t0).Round(time.Millisecond))
	checkCounts(b, c, uint(live))
	time.Sleep(2 * time.Second)
	prepared := r.RSS()

	report("--- hook latency with %d running guests", live)
	hooks := hookLatency(b, r, hook, bash)

	// Restart recovery: kill -9, start, time to READY=1; the counts must
	// come back exactly.
	var rec rig.Series
	for run := range runs {
		r.Kill()
		d := r.Start()
		c = r.Dial()
		checkCounts(b, c, uint(live))
		rec.Add("restart-to-READY ms", rig.Ms(d))
		rec.Add("of which Recover() ms", recoveryMs(b, r.D))
		if run == 0 {
			time.Sleep(2 * time.Second)
			rec.Add("RSS after recovery KiB", float64(r.RSS()))
		}
	}
	var mem rig.Series
	mem.Add("RSS idle KiB", float64(idle))
	mem.Add(fmt.Sprintf("RSS after %d prepares KiB", live), float64(prepared))
	report("memory:\n%s", mem.Table())
	report("recovery of %d running guests:\n%s", len(guests), rec.Table())
	b.ReportMetric(float64(idle), "idle-RSS-KiB")
	b.ReportMetric(float64(prepared), "live-RSS-KiB")
	b.ReportMetric(rec.Median("restart-to-READY ms"), "recovery-ms")
	for _, m := range []struct{ name, unit string }{
		{"ours prepare p50", "prepare-p50-ms"},
		{"ours prepare p99", "prepare-p99-ms"},
		{"ours release-nokdel p50", "release-nokdel-p50-ms"},
		{"ours release-nokdel p99", "release-nokdel-p99-ms"},
		{"ratio ours/bash life-nokdel p50", "vs-bash-nokdel"},
		{"ratio ours/bash life p50", "vs-bash"},
	} {
		b.ReportMetric(hooks.Median(m.name), m.unit)
	}
}

// hookRig is a daemon's world with the vepa network bench on the NICs, the
// real hook built, and the bash hook's path.
func hookRig(b *testing.B) (r *rig.Rig, hook, bash string) {
	r = rig.New(b, rig.Options{NICs: nics, Tmpfs: !onDisk})
	hook = rig.Build(b, "./hookbin", "virtswitch-hook", false)
	root, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	r.Define("bench", rig.PoolNetwork("bench", "vepa", "eth", nics))
	return r, hook, filepath.Join(root, "bash-hook.sh")
}

// hookLatency runs guest lives through virtswitch-hook and the bash hook,
// interleaved so both see the same machine load, in two modes:
//
//   - with kernel deletion: prepare, then release (the release deletes
//     the link);
//   - without: prepare, the benchmark deletes the link itself (timed: the
//     kernel's deletion), then release (which finds the link gone).
func hookLatency(b *testing.B, r *rig.Rig, hook, bash string) *rig.Series {
	probe, err := rig.NewGuest("probe", "feedface-0000-4000-8000-000000000001",
		rig.Iface{Network: "bench", MAC: "52:54:ff:00:00:01"})
	if err != nil {
		b.Fatal(err)
	}
	target := probe.Ports[0].Target
	h := r.NS.Handle()
	oursEnv := r.HookEnv()
	bashEnv := r.HookEnv("VSW_NETNS="+r.NS.Name, "VSW_DEV=eth0")
	prep := []string{"probe", "prepare", "begin", "-"}
	rel := []string{"probe", "release", "end", "-"}

	var s rig.Series
	for run := range runs {
		var (
			prepO, prepB   []time.Duration // prepare, both modes
			relO, relB     []time.Duration // release incl. kernel deletion
			relON, relBN   []time.Duration // release, link already deleted
			lifeO, lifeB   []time.Duration // prepare + release
			lifeON, lifeBN []time.Duration // prepare + release, no kernel deletion
			kdel           []time.Duration // the kernel's deletion
			kcreate        []time.Duration // the kernel's creation (add + up)
		)
		life := func(bin string, env []string, withKdel bool) (p, rl, kd time.Duration) {
			p = mustHook(b, bin, env, probe.FormB, prep)
			if !withKdel {
				kd = deleteLink(b, h, target)
			}
			rl = mustHook(b, bin, env, probe.FormB, rel)
			return p, rl, kd
		}
		for range iterations {
			kc, kd0 := kernelLife(b, h)
			kcreate, kdel = append(kcreate, kc), append(kdel, kd0)
			p, rl, _ := life(hook, oursEnv, true)
			prepO, relO, lifeO = append(prepO, p), append(relO, rl), append(lifeO, p+rl)
			p, rl, _ = life(bash, bashEnv, true)
			prepB, relB, lifeB = append(prepB, p), append(relB, rl), append(lifeB, p+rl)
			p, rl, kd := life(hook, oursEnv, false)
			prepO, relON, lifeON, kdel = append(prepO, p), append(relON, rl), append(lifeON, p+rl), append(kdel, kd)
			p, rl, kd = life(bash, bashEnv, false)
			prepB, relBN, lifeBN, kdel = append(prepB, p), append(relBN, rl), append(lifeBN, p+rl), append(kdel, kd)
		}
		// Where the time goes: the hook process alone (an op it ignores),
		// the bus's share (buswire.Do of the bus's own GetId: connect,
		// authenticate, Hello and one call, as the hook does them), and the
		// daemon's share through a connection kept open (prepare; release
		// of an already deleted link).
		var startO, startB, dial, callP, callR []time.Duration
		noop := []string{"probe", "started", "begin", "-"}
		for range iterations {
			startO = append(startO, mustHook(b, hook, oursEnv, probe.FormB, noop))
			startB = append(startB, mustHook(b, bash, bashEnv, probe.FormB, noop))
			t0 := time.Now()
			if _, err := buswire.Do(r.Bus.Address, time.Now().Add(10*time.Second), buswire.Call{
				Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
				Interface: "org.freedesktop.DBus", Member: "GetId",
			}); err != nil {
				b.Fatal(err)
			}
			dial = append(dial, time.Since(t0))
			c, err := busapi.Dial(10 * time.Second)
			if err != nil {
				b.Fatal(err)
			}
			var st string
			t0 = time.Now()
			if err := c.Call("PrepareDomain", []any{&st}, string(probe.FormB)); err != nil {
				b.Fatal(err)
			}
			callP = append(callP, time.Since(t0))
			deleteLink(b, h, target)
			t0 = time.Now()
			if err := c.Call("ReleaseDomain", nil, probe.UUID); err != nil {
				b.Fatal(err)
			}
			callR = append(callR, time.Since(t0))
			c.Close()
		}
		if exists(b, h, target) {
			b.Fatalf("run %d: link %s left behind", run, target)
		}
		add := func(name string, xs []time.Duration) {
			s.Add(name+" p50", rig.Ms(rig.Percentile(xs, 50)))
			s.Add(name+" p99", rig.Ms(rig.Percentile(xs, 99)))
		}
		add("ours prepare", prepO)
		add("bash prepare", prepB)
		add("ours release", relO)
		add("bash release", relB)
		add("ours release-nokdel", relON)
		add("bash release-nokdel", relBN)
		add("kernel link deletion", kdel)
		add("kernel link creation (add + up)", kcreate)
		add("ours hook process, ignored op", startO)
		add("bash hook process, ignored op", startB)
		add("bus set-up + one call (buswire.Do of GetId)", dial)
		add("daemon PrepareDomain on an open connection", callP)
		add("daemon ReleaseDomain-nokdel on an open connection", callR)
		add("ours life", lifeO)
		add("bash life", lifeB)
		add("ours life-nokdel", lifeON)
		add("bash life-nokdel", lifeBN)
		// The hooks' own cost: what they take beyond the kernel's work
		// (median minus the kernel's median; an estimate — the samples are
		// not paired, so a p99 difference would mean nothing).
		for _, q := range []string{"p50"} {
			kc := rig.Percentile(kcreate, pct(q))
			s.Add("ours prepare minus kernel creation "+q, rig.Ms(rig.Percentile(prepO, pct(q))-kc))
			s.Add("bash prepare minus kernel creation "+q, rig.Ms(rig.Percentile(prepB, pct(q))-kc))
			s.Add("ours life minus kernel creation+deletion "+q, rig.Ms(rig.Percentile(lifeON, pct(q))-kc))
			s.Add("bash life minus kernel creation+deletion "+q, rig.Ms(rig.Percentile(lifeBN, pct(q))-kc))
		}
		for _, q := range []string{"p50", "p99"} {
			s.Add("ratio ours/bash life "+q, rig.Ms(rig.Percentile(lifeO, pct(q)))/rig.Ms(rig.Percentile(lifeB, pct(q))))
			s.Add("ratio ours/bash life-nokdel "+q, rig.Ms(rig.Percentile(lifeON, pct(q)))/rig.Ms(rig.Percentile(lifeBN, pct(q))))
		}
	}
	report("hook latency, ms (%d guest lives per hook and mode per run; prepare has twice as many samples):\n%s", iterations, s.Table())
	return &s
}

// report prints a figure block to stdout (b.Log truncates long output)
// and appends it to $BENCH_OUT when set.
func report(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Print(msg)
	if p := os.Getenv("BENCH_OUT"); p != "" {
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.WriteString(msg)
			f.Close()
		}
	}
}

func pct(q string) float64 {
	if q == "p50" {
		return 50
	}
	return 99
}

func mustHook(b *testing.B, bin string, env []string, stdin []byte, args []string) time.Duration {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil || stderr.Len() > 0 {
		b.Fatalf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return d
}

// kernelLife is the kernel's part of a guest link's life, measured bare:
// a vepa macvtap created and brought up with netlink (no checks), then
// deleted. Its name is not a guest target's, so the daemon never sweeps it.
func kernelLife(b *testing.B, h *netlink.Handle) (create, del time.Duration) {
	b.Helper()
	mac, _ := net.ParseMAC("52:54:fe:00:00:01")
	parent, err := h.LinkByName("eth1")
	if err != nil {
		b.Fatal(err)
	}
	m := &netlink.Macvtap{Macvlan: netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: "kbase0", ParentIndex: parent.Attrs().Index, HardwareAddr: mac},
		Mode:      netlink.MACVLAN_MODE_VEPA}}
	t0 := time.Now()
	if err := h.LinkAdd(m); err != nil {
		b.Fatalf("kernel baseline: %v", err)
	}
	if err := h.LinkSetUp(m); err != nil {
		b.Fatalf("kernel baseline: %v", err)
	}
	create = time.Since(t0)
	t0 = time.Now()
	if err := h.LinkDel(m); err != nil {
		b.Fatalf("kernel baseline: %v", err)
	}
	return create, time.Since(t0)
}

func deleteLink(b *testing.B, h *netlink.Handle, name string) time.Duration {
	b.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		b.Fatalf("link %s after prepare: %v", name, err)
	}
	t0 := time.Now()
	if err := h.LinkDel(l); err != nil {
		b.Fatalf("deleting %s: %v", name, err)
	}
	return time.Since(t0)
}

func exists(b *testing.B, h *netlink.Handle, name string) bool {
	_, err := h.LinkByName(name)
	return err == nil
}

func machine() string {
	var parts []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				parts = append(parts, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":")))
				break
			}
		}
	}
	if out, err := exec.Command("nproc").Output(); err == nil {
		parts = append(parts, strings.TrimSpace(string(out))+" cores")
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		parts = append(parts, "kernel "+strings.TrimSpace(string(out)))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		parts = append(parts, "loadavg "+strings.Join(strings.Fields(string(b))[:3], " "))
	}
	return strings.Join(parts, ", ")
}

// recoveryMs is the start-up Recover() time the daemon logged ("recovery=")
// on its "virtswitchd ready" line, which follows READY=1 by a moment.
func recoveryMs(b *testing.B, d *testenv.Daemon) float64 {
	b.Helper()
	var log string
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if log = d.Log(); strings.Contains(log, "virtswitchd ready") || time.Now().After(end) {
			break
		}
	}
	i := strings.LastIndex(log, "virtswitchd ready")
	if i < 0 {
		b.Fatalf("daemon log has no ready line:\n%s", log)
	}
	line, _, _ := strings.Cut(log[i:], "\n")
	_, v, ok := strings.Cut(line, " recovery=")
	if !ok {
		b.Fatalf("ready line without recovery=: %s", line)
	}
	v, _, _ = strings.Cut(v, " ")
	dur, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("ready line: recovery=%s: %v", v, err)
	}
	return rig.Ms(dur)
}
