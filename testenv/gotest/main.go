// Command gotest runs `go test -json ARGS...` and prints what plain
// `go test` prints (each package's result line, the output of the tests that
// fail), then which tests skipped and why. `make test` runs the suite
// through it: a test that skips for want of root or a tool otherwise looks
// like a pass.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

func main() {
	goCmd := os.Getenv("GO") // the Makefile's $(GO)
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.Command(goCmd, append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotest:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "gotest:", err)
		os.Exit(2)
	}
	skips := filter(out, os.Stdout)
	err = cmd.Wait()
	summarise(os.Stdout, skips)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	case err != nil:
		fmt.Fprintln(os.Stderr, "gotest:", err)
		os.Exit(2)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// skip is a test that skipped: package, name and its own output.
type skip struct{ pkg, test, reason string }

// filter copies r's events to w as plain `go test` would print them and
// returns the tests that skipped. Lines that are not JSON are copied as they
// are.
func filter(r io.Reader, w io.Writer) []skip {
	var skips []skip
	buf := map[string]*strings.Builder{} // output of each running test
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, sc.Text())
			continue
		}
		if e.Test == "" {
			// Package level: result lines, build output, TestMain's output.
			if e.Action == "output" || e.Action == "build-output" {
				if e.Output != "PASS\n" {
					io.WriteString(w, e.Output)
				}
			}
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "output":
			if strings.HasPrefix(strings.TrimSpace(e.Output), "=== ") {
				continue // -v's RUN/PAUSE/CONT/NAME markers; plain go test has none
			}
			b := buf[key]
			if b == nil {
				b = &strings.Builder{}
				buf[key] = b
			}
			b.WriteString(e.Output)
		case "fail":
			// A subtest's output comes before its parent's (test2json
			// puts each "--- FAIL" line after the test's messages).
			io.WriteString(w, outputOf(buf[key]))
			delete(buf, key)
		case "skip":
			skips = append(skips, skip{e.Package, e.Test, reasonOf(outputOf(buf[key]))})
			delete(buf, key)
		case "pass":
			delete(buf, key)
		}
	}
	return skips
}

func outputOf(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	return b.String()
}

// fileLine is the "name_test.go:NN: " prefix testing puts before a message.
var fileLine = regexp.MustCompile(`^\w+\.go:\d+: `)

// maxReason bounds a reason in the summary (a skip may quote a tool's whole
// error output); the test's own output has all of it.
const maxReason = 240

// reasonOf is a skipped test's message without its "--- SKIP" line and
// file:line prefixes, so tests that skip for one reason group together.
func reasonOf(out string) string {
	var parts []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		parts = append(parts, fileLine.ReplaceAllString(l, ""))
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	r := strings.Join(parts, " ")
	if len(r) > maxReason {
		r = strings.ToValidUTF8(r[:maxReason], "") + "..."
	}
	return r
}

// summarise prints the skips grouped by reason, most frequent first, with
// up to three test names each.
func summarise(w io.Writer, skips []skip) {
	if len(skips) == 0 {
		fmt.Fprintln(w, "skipped: none")
		return
	}
	byReason := map[string][]string{}
	for _, s := range skips {
		byReason[s.reason] = append(byReason[s.reason], strings.TrimPrefix(s.pkg, "github.com/virtswitch/virtswitch/")+" "+s.test)
	}
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		a, b := byReason[reasons[i]], byReason[reasons[j]]
		return len(a) > len(b) || len(a) == len(b) && reasons[i] < reasons[j]
	})
	fmt.Fprintf(w, "skipped: %d (tests and subtests), by reason:\n", len(skips))
	for _, r := range reasons {
		names := byReason[r]
		more := ""
		if len(names) > 3 {
			more = fmt.Sprintf(" and %d more", len(names)-3)
			names = names[:3]
		}
		fmt.Fprintf(w, "  %4d  %s (%s%s)\n", len(byReason[r]), r, strings.Join(names, ", "), more)
	}
}
