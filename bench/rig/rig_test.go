package rig

import (
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/netdef"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

func TestPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		xs = append(xs, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.1, 1}} {
		if got := Percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if xs[0] != 100 {
		t.Error("Percentile sorted its input")
	}
	if Percentile(nil, 50) != 0 {
		t.Error("no samples: want 0")
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("one sample: %v", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(tc.xs); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

// Truth counts one connection per recorded interface, on its network and,
// for direct interfaces, on its device; networks without any stay at 0.
func TestTruth(t *testing.T) {
	entries := []StateEntry{
		{UUID: "a", Domain: &xmlrewrite.Domain{Ports: []xmlrewrite.Port{
			{Target: "vsw1", Network: "v"}, {Target: "vsw2", Network: "b"}}},
			Actual: map[string]xmlrewrite.Actual{"vsw1": {Type: "direct", Dev: "eth0"}, "vsw2": {Type: "bridge", Bridge: "br0"}}},
		{UUID: "b", Domain: &xmlrewrite.Domain{Ports: []xmlrewrite.Port{{Target: "vsw3", Network: "v"}}},
			Actual: map[string]xmlrewrite.Actual{"vsw3": {Type: "direct", Dev: "eth0"}}},
	}
	got := Truth(entries, []string{"v", "b", "empty"})
	for n, want := range map[string]string{"v": "2[eth0:2]", "b": "1[]", "empty": "0[]"} {
		if got[n].String() != want {
			t.Errorf("%s: %s, want %s", n, got[n], want)
		}
	}
}

// PoolNetwork's definitions are valid networks with the devices asked for.
func TestPoolNetwork(t *testing.T) {
	for _, mode := range []string{"vepa", "passthrough"} {
		n, err := netdef.Parse([]byte(PoolNetwork("p-"+mode, mode, "nic", 3)))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if n.Name != "p-"+mode || len(n.Devices) != 3 || n.Devices[0] != "nic0" || n.Devices[2] != "nic2" {
			t.Errorf("%s: got name %q devices %v", mode, n.Name, n.Devices)
		}
	}
}
