package rig

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of xs; 0
// for no samples. xs is not modified.
func Percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}

// Median of float figures (the mean of the middle two for an even count).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Ms is a duration in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Series collects one figure per run, by name, in first-seen order.
type Series struct {
	names []string
	vals  map[string][]float64
}

// Add records figure name's value for the current run.
func (s *Series) Add(name string, v float64) {
	if s.vals == nil {
		s.vals = map[string][]float64{}
	}
	if _, ok := s.vals[name]; !ok {
		s.names = append(s.names, name)
	}
	s.vals[name] = append(s.vals[name], v)
}

// Names in first-seen order.
func (s *Series) Names() []string { return s.names }

// Values of one figure, one per run.
func (s *Series) Values(name string) []float64 { return s.vals[name] }

// Median of one figure over the runs.
func (s *Series) Median(name string) float64 { return Median(s.vals[name]) }

// Table formats every figure: median, then each run's value.
func (s *Series) Table() string {
	var b strings.Builder
	w := 0
	for _, n := range s.names {
		w = max(w, len(n))
	}
	for _, n := range s.names {
		var runs []string
		for _, v := range s.vals[n] {
			runs = append(runs, trim(v))
		}
		fmt.Fprintf(&b, "%-*s  median %-10s runs %s\n", w, n, trim(s.Median(n)), strings.Join(runs, " "))
	}
	return b.String()
}

func trim(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// EnvInt is the non-negative integer in environment variable name, or def:
// the benchmarks' and the torture's knobs (BENCH_ITER, TRIALS, ...), so
// make can pass them through.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}
