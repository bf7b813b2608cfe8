package clientenv

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"10": 10 * time.Second, "2.5": 2500 * time.Millisecond, "500ms": 500 * time.Millisecond,
		"0.3": 300 * time.Millisecond, "1m30s": 90 * time.Second, "1e1": 10 * time.Second,
	} {
		if got, err := ParseTimeout(in); err != nil || got != want {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "soon", "-3s", "0s", "NaN", "Inf", "1e300", "0.0000000001", "10 s", ""} {
		if got, err := ParseTimeout(in); err == nil {
			t.Errorf("ParseTimeout(%q) = %v, accepted", in, got)
		} else if !strings.Contains(err.Error(), "'"+in+"'") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseTimeout(%q): error %q does not quote the value on one line", in, err)
		}
	}
}

func TestTimeout(t *testing.T) {
	const def = 7 * time.Second
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == TimeoutVar {
				return v
			}
			return "unrelated"
		}
	}
	for _, c := range []struct {
		val  string
		want time.Duration
		bad  bool
	}{
		{"", def, false},
		{"2.5", 2500 * time.Millisecond, false},
		{"20s", 20 * time.Second, false},
		{"soon", def, true},
		{"0", def, true},
	} {
		got, err := Timeout(env(c.val), def)
		if got != c.want || (err != nil) != c.bad {
			t.Errorf("Timeout(%s=%q) = %v, %v; want %v, error %v", TimeoutVar, c.val, got, err, c.want, c.bad)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "VIRTSWITCH_TIMEOUT='"+c.val+"' ") {
			t.Errorf("error %q does not name the variable and its value", err)
		}
	}
}
