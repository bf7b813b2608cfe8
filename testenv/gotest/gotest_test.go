package main

import (
	"os"
	"strings"
	"testing"
)

// testdata/sample.json is `go test -json` on testdata/sample_test.go.txt:
// a passing test that logs, two that skip for one reason, a failing test
// with a passing, a failing and a skipping subtest.
func TestFilterAndSummary(t *testing.T) {
	f, err := os.Open("testdata/sample.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	skips := filter(f, &out)
	want := "    s_test.go:10: boom\n--- FAIL: TestFail/bad (0.00s)\n--- FAIL: TestFail (0.00s)\nFAIL\nFAIL\tsample\t0.003s\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	summarise(&out, skips)
	wantSummary := "skipped: 3 (tests and subtests), by reason:\n" +
		"     2  needs root (sample TestSkipRoot, sample TestSkipRoot2)\n" +
		"     1  no promtool (sample TestFail/skipped)\n"
	if got := strings.TrimPrefix(out.String(), want); got != wantSummary {
		t.Errorf("summary:\n%s\nwant:\n%s", got, wantSummary)
	}
}

func TestNoSkipsAndNonJSON(t *testing.T) {
	var out strings.Builder
	in := "not json\n" + `{"Action":"output","Package":"p","Output":"PASS\n"}` + "\n" +
		`{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}` + "\n"
	summarise(&out, filter(strings.NewReader(in), &out))
	if want := "not json\nok  \tp\t0.1s\nskipped: none\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestReasonOf(t *testing.T) {
	for in, want := range map[string]string{
		"    recover_test.go:12: needs root\n--- SKIP: TestX (0.00s)\n": "needs root",
		"--- SKIP: TestX (0.00s)\n":                                     "(no reason given)",
		"    a.go:1: no promtool\n    b_test.go:22: second line\n":      "no promtool second line",
		"    a_test.go:3: " + strings.Repeat("é", 200) + "\n":           strings.Repeat("é", maxReason/2) + "...",
	} {
		if got := reasonOf(in); got != want {
			t.Errorf("reasonOf(%q) = %q, want %q", in, got, want)
		}
	}
}
