package plumb

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/virtswitch/virtswitch/apierr"
)

func TestReverter(t *testing.T) {
	t.Run("fail undoes newest first", func(t *testing.T) {
		var order []string
		err := func() (err error) {
			rev := &reverter{}
			defer rev.fail(&err)
			rev.add("a", func() error { order = append(order, "a"); return nil })
			rev.add("b", func() error { order = append(order, "b"); return nil })
			return errors.New("step c failed")
		}()
		if got := strings.Join(order, ","); got != "b,a" {
			t.Errorf("undo order %q, want b,a", got)
		}
		if err == nil || err.Error() != "step c failed" {
			t.Errorf("error changed to %v", err)
		}
	})
	t.Run("success keeps everything", func(t *testing.T) {
		undone := false
		err := func() (err error) {
			rev := &reverter{}
			defer rev.fail(&err)
			rev.add("a", func() error { undone = true; return nil })
			rev.success()
			return nil
		}()
		if undone || err != nil {
			t.Errorf("undone=%v err=%v after success", undone, err)
		}
	})
	t.Run("failed undo is reported and the rest still runs", func(t *testing.T) {
		ranA := false
		err := func() (err error) {
			rev := &reverter{}
			defer rev.fail(&err)
			rev.add("restoring MAC of device 'eth0'", func() error { ranA = true; return nil })
			rev.add("deleting macvtap 'vsw1'", func() error { return errors.New("boom") })
			return apierr.New(apierr.Plumbing, "cannot bring up macvtap 'vsw1'")
		}()
		if !ranA {
			t.Errorf("earlier undo step skipped after a failing one")
		}
		want := "cannot bring up macvtap 'vsw1'; undo failed (deleting macvtap 'vsw1': boom)"
		if err == nil || err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		if apierr.KindOf(err) != apierr.Plumbing {
			t.Errorf("kind %q, want Plumbing", apierr.KindOf(err))
		}
	})
}

func TestRetryDump(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int   // interrupted answers before a good one
		other     error // a non-retryable error instead
		wantCalls int
		wantErr   string
	}{
		{"clean", 0, nil, 1, ""},
		{"interrupted twice", 2, nil, 3, ""},
		{"a storm: interrupted 50 times", 50, nil, 51, ""},
		{"interrupted until the bound", maxDumpTries - 1, nil, maxDumpTries, ""},
		{"always interrupted", 1 << 30, nil, maxDumpTries, fmt.Sprintf("interrupted %d times", maxDumpTries)},
		{"other error not retried", 0, unix.EPERM, 1, "operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			res, err := retryDump(func() ([]int, error) {
				calls++
				if tc.other != nil {
					return nil, tc.other
				}
				if calls <= tc.failures {
					return []int{-1}, netlink.ErrDumpInterrupted
				}
				return []int{1, 2}, nil
			})
			if calls != tc.wantCalls {
				t.Errorf("%d dump calls, want %d", calls, tc.wantCalls)
			}
			if tc.wantErr == "" {
				if err != nil || len(res) != 2 {
					t.Errorf("got %v, %v; want the clean result", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || res != nil {
				t.Errorf("got %v, %v; want error containing %q and no result", res, err, tc.wantErr)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"vswdeadbeefcafe": true, "eth0": true, "a": true, "enp0s31f6.100": true,
		"": false, ".": false, "..": false, "vswdeadbeefcafe0": false,
		"a/b": false, "a:b": false, "a b": false, "a\tb": false,
	} {
		err := checkName("link", name)
		if (err == nil) != ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestDumpPause(t *testing.T) {
	var total time.Duration
	prev := time.Duration(-1)
	for try := range maxDumpTries {
		d := dumpPause(try)
		if d < prev || d > maxDumpPause {
			t.Fatalf("pause %d = %v after %v (max %v)", try, d, prev, maxDumpPause)
		}
		prev, total = d, total+d
	}
	// Long enough to wait out a storm, short enough to stay far below the
	// hook's 10 s bound.
	if total < time.Second || total > 3*time.Second {
		t.Errorf("all pauses add up to %v", total)
	}
}
