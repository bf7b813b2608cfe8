//go:build bench

package bench

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/bench/rig"
	"github.com/virtswitch/virtswitch/busapi"
)

// stormGuests is the start storm's size (issue 14: 64 guests' prepare hooks
// at once, as autostart does after a host reboot).
const stormGuests = 64

// BenchmarkDaemonScheduler is issue 14's figures (BENCHMARKS.md): the
// start storm through the real hook binary against the bash ip-link hook,
// then, with BENCH_LIVE running guests, CheckDomain and Reserve round trips
// over the bus and one scrape of /metrics. Run with -benchtime 1x (make
// bench-sched); BENCH_ITER samples per figure and run, BENCH_RUNS runs.
func BenchmarkDaemonScheduler(b *testing.B) {
	r, hook, bash := hookRig(b)
	report("machine: %s (shared with other engineers' work while measured)", machine())
	r.Start("--drain-file", filepath.Join(r.Root, "drained"), "--metrics-address", "127.0.0.1:0")
	m := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(r.D.Log())
	if m == nil {
		b.Fatalf("no metrics URL in the daemon's log:\n%s", r.D.Log())
	}
	metricsURL := m[1]
	c := r.Dial()

	// 1. The start storm, before any guest lives (a host just rebooted).
	storm := startStorm(b, r, hook, bash)
	report("start storm: %d guests' prepare hooks at once on a %d-device vepa pool, guests/s (%d runs):\n%s",
		stormGuests, nics, runs, storm.Table())

	// 2. With BENCH_LIVE running guests.
	t0 := time.Now()
	populate(b, r, live)
	report("prepared %d guests through the bus in %s", live, time.Since(t0).Round(time.Millisecond))
	checkCounts(b, c, uint(live))

	probe, err := rig.NewGuest("probe", "feedface-0000-4000-8000-000000000014",
		rig.Iface{Network: "bench", MAC: "52:54:ff:00:00:14"})
	if err != nil {
		b.Fatal(err)
	}
	var s rig.Series
	for range runs {
		var check, reserve, cancel, scrape []time.Duration
		for range iterations {
			var fits bool
			var ports []struct {
				MAC, Network, Portgroup, Device string
				Fits                            bool
				Error, Message                  string
			}
			t0 := time.Now()
			if err := c.Call("CheckDomain", []any{&fits, &ports}, string(probe.FormB)); err != nil || !fits {
				b.Fatalf("CheckDomain: %v %v", fits, err)
			}
			check = append(check, time.Since(t0))
			var tok string
			t0 = time.Now()
			if err := c.Call("Reserve", []any{&tok}, string(probe.FormB), uint32(600)); err != nil {
				b.Fatal(err)
			}
			reserve = append(reserve, time.Since(t0))
			t0 = time.Now()
			if err := c.Call("CancelReservation", nil, tok); err != nil {
				b.Fatal(err)
			}
			cancel = append(cancel, time.Since(t0))
		}
		for range max(iterations/4, 20) {
			t0 := time.Now()
			n := scrapeOnce(b, metricsURL)
			scrape = append(scrape, time.Since(t0))
			if n < 1000 {
				b.Fatalf("scrape of %d bytes", n)
			}
		}
		add := func(name string, xs []time.Duration) {
			s.Add(name+" p50", rig.Ms(rig.Percentile(xs, 50)))
			s.Add(name+" p99", rig.Ms(rig.Percentile(xs, 99)))
		}
		add("CheckDomain round trip", check)
		add("Reserve round trip", reserve)
		add("CancelReservation round trip", cancel)
		add("GET /metrics (whole body read)", scrape)
	}
	checkCounts(b, c, uint(live))
	report("with %d running guests, ms (%d calls per figure and run; scrapes %d per run):\n%s",
		live, iterations, max(iterations/4, 20), s.Table())
	b.ReportMetric(s.Median("CheckDomain round trip p50"), "check-p50-ms")
	b.ReportMetric(s.Median("Reserve round trip p50"), "reserve-p50-ms")
	b.ReportMetric(s.Median("GET /metrics (whole body read) p50"), "scrape-p50-ms")
	b.ReportMetric(storm.Median("ratio ours/bash guests/s"), "storm-vs-bash")
}

func scrapeOnce(b *testing.B, url string) int {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return int(n)
}

// startStorm runs, per run, 64 prepare hooks at once with virtswitch-hook,
// then (after releasing them) the same with the bash hook, and reports
// guests per second (64 / wall time from the first exec to the last exit)
// and their ratio in that run.
func startStorm(b *testing.B, r *rig.Rig, hook, bash string) *rig.Series {
	guests := make([]*rig.Guest, stormGuests)
	for i := range guests {
		g, err := rig.NewGuest(fmt.Sprintf("storm%02d", i), rig.UUID(0x5707, uint64(i)),
			rig.Iface{Network: "bench", MAC: rig.MAC(0x57, uint32(i))})
		if err != nil {
			b.Fatal(err)
		}
		guests[i] = g
	}
	oursEnv := r.HookEnv()
	bashEnv := r.HookEnv("VSW_NETNS="+r.NS.Name, "VSW_DEV=eth0")
	all := func(bin string, env []string, op ...string) time.Duration {
		var wg sync.WaitGroup
		t0 := time.Now()
		for _, g := range guests {
			wg.Add(1)
			go func(g *rig.Guest) {
				defer wg.Done()
				mustHook(b, bin, env, g.FormB, append([]string{g.Name}, op...))
			}(g)
		}
		wg.Wait()
		return time.Since(t0)
	}
	c := r.Dial()
	var s rig.Series
	for range runs {
		dO := all(hook, oursEnv, "prepare", "begin", "-")
		checkCounts(b, c, stormGuests)
		spread := devicesUsed(b, c)
		all(hook, oursEnv, "release", "end", "-")
		checkCounts(b, c, 0)
		dB := all(bash, bashEnv, "prepare", "begin", "-")
		all(bash, bashEnv, "release", "end", "-")
		gO, gB := stormGuests/dO.Seconds(), stormGuests/dB.Seconds()
		s.Add("ours guests/s", gO)
		s.Add("bash guests/s", gB)
		s.Add("ratio ours/bash guests/s", gO/gB)
		s.Add("ours wall ms", rig.Ms(dO))
		s.Add("bash wall ms", rig.Ms(dB))
		s.Add("devices used by ours", float64(spread))
	}
	return &s
}

// devicesUsed is how many pool devices of network bench have guests.
func devicesUsed(b *testing.B, c *busapi.Client) int {
	got, err := rig.StatusCounts(c)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, k := range got["bench"].Devices {
		if k > 0 {
			n++
		}
	}
	return n
}
