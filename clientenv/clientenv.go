// Package clientenv holds the rules for the environment virtswitch's clients
// (virtswitch-hook and virtswitchctl) read, so both read it alike. It imports
// only the standard library: the hook links it.
package clientenv

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// TimeoutVar bounds a client's work with virtswitchd: seconds ("10", "2.5")
// or a Go duration ("500ms").
const TimeoutVar = "VIRTSWITCH_TIMEOUT"

// Timeout is TimeoutVar's value as read by getenv, or def when it is unset.
// A value that is not a positive time gives def and an error naming the
// variable; the caller decides whether that is fatal.
func Timeout(getenv func(string) string, def time.Duration) (time.Duration, error) {
	s := getenv(TimeoutVar)
	if s == "" {
		return def, nil
	}
	d, err := ParseTimeout(s)
	if err != nil {
		return def, fmt.Errorf("%s=%v", TimeoutVar, err)
	}
	return d, nil
}

// ParseTimeout reads seconds ("10", "2.5") or a Go duration ("500ms"); the
// result is positive.
func ParseTimeout(s string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// NaN fails both tests; the bound keeps the conversion defined.
		if !(f > 0) || f > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("'%s' is not a positive time", s)
		}
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("'%s' is neither seconds (10, 2.5) nor a duration (500ms)", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("'%s' is not a positive time", s)
	}
	return d, nil
}
