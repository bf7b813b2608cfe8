package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/testenv"
)

// These tests run the built virtswitch-hook as libvirt does: a process with
// the domain XML on stdin and a small environment.

var hookBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "virtswitch-hook-test-")
	if err != nil {
		panic(err)
	}
	hookBin = filepath.Join(dir, "virtswitch-hook")
	build := exec.Command("go", "build", "-o", hookBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("building virtswitch-hook: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// hookRun runs the hook with env (on top of PATH only) and stdin. A run that
// outlives guard is killed and fails the test: the hook must never hang
// libvirt, whatever the bus does.
func hookRun(t *testing.T, env []string, stdin io.Reader, args ...string) result {
	t.Helper()
	const guard = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	cmd := exec.CommandContext(ctx, hookBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("hook %v did not finish within %s", args, guard)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// deadBus is a unix socket that counts connections and never answers: as a
// bus address it tells whether the hook tried to reach the bus, and it
// behaves like a hung dbus-daemon.
type deadBus struct {
	addr  string
	conns atomic.Int32
}

func newDeadBus(t *testing.T) *deadBus {
	path := filepath.Join(t.TempDir(), "bus")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	b := &deadBus{addr: "unix:path=" + path}
	done := make(chan struct{})
	var held []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			b.conns.Add(1)
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return b
}

// configDir holds the definitions that make red-network ours.
func configDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "red-network.xml"), []byte("<network><name>red-network</name></network>"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var allOps = [][2]string{
	{"prepare", "begin"}, {"release", "end"}, {"reconnect", "begin"}, {"attach", "begin"},
	{"migrate", "begin"}, {"restore", "begin"},
}

func TestNothingOfOursNeverTouchesTheBus(t *testing.T) {
	docs := map[string]string{
		"no interfaces":                `<domain><name>x</name><uuid>6d1c4a8e-2b0f-4a59-9d53-0c4f3c0de009</uuid><devices/></domain>`,
		"libvirt network, not ours":    strings.ReplaceAll(formA, "red-network", "blue"),
		"ethernet interface, not ours": `<domain><name>x</name><devices><interface type='ethernet'><target dev='tap9' managed='no'/></interface></devices></domain>`,
		"network named like a path":    strings.ReplaceAll(formA, "red-network", "../red-network"),
	}
	files, err := filepath.Glob(filepath.Join(testenv.CorpusDir(t, "libvirt-domain"), "net-*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(f)] = string(doc)
	}
	bus := newDeadBus(t)
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.addr, "VIRTSWITCH_CONFIG_DIR=" + configDir(t), "VIRTSWITCH_TIMEOUT=5"}
	for name, doc := range docs {
		for _, op := range allOps {
			r := hookRun(t, env, strings.NewReader(doc), "x", op[0], op[1], "-")
			if r.code != 0 || r.stdout != "" || r.stderr != "" {
				t.Errorf("%s, %s %s: exit %d, stdout %q, stderr %q; want 0 and silence", name, op[0], op[1], r.code, r.stdout, r.stderr)
			}
		}
	}
	if n := bus.conns.Load(); n != 0 {
		t.Errorf("the hook connected to the bus %d times for domains with nothing of virtswitch's", n)
	}
}

func TestFormARefusedWithConversionHint(t *testing.T) {
	bus := newDeadBus(t)
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.addr, "VIRTSWITCH_CONFIG_DIR=" + configDir(t)}
	both := strings.Replace(formA, "<devices>", `<metadata><v:ports xmlns:v='`+NS+`'><v:port target='vsw000000000001' network='red-network'/></v:ports></metadata><devices>`, 1)
	for name, doc := range map[string]string{"form A": formA, "form A beside form B": both} {
		r := hookRun(t, env, strings.NewReader(doc), "g2", "prepare", "begin", "-")
		if r.code == 0 || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q; want a failure and no stdout", name, r.code, r.stdout)
		}
		for _, want := range []string{"virtswitch: ", "red-network", "de:ad:be:ef:ca:fe", "virtswitchctl define g2.xml", "virsh dumpxml --inactive g2", "virtswitchctl create FILE",
			"start it again", "adoption is off", "--adopt=false", "transient domain is never adopted"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr %q lacks %q", name, r.stderr, want)
			}
		}
		if strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: stderr is not one line: %q", name, r.stderr)
		}
	}
	if n := bus.conns.Load(); n != 0 {
		t.Errorf("refusing Form A contacted the bus %d times", n)
	}
}

func TestOtherOperationsDoNothing(t *testing.T) {
	bus := newDeadBus(t)
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.addr, "VIRTSWITCH_CONFIG_DIR=" + configDir(t)}
	for _, op := range [][2]string{
		{"start", "begin"}, {"started", "begin"}, {"stopped", "end"}, {"prepare", "end"}, {"release", "begin"},
		{"migrate", "end"}, {"restore", "end"}, {"reconnect", "end"}, {"shutdown", "begin"}, {"frobnicate", "begin"},
	} {
		for _, doc := range []string{formA, formB} {
			r := hookRun(t, env, strings.NewReader(doc), "g", op[0], op[1], "-")
			if r.code != 0 || r.stdout != "" || r.stderr != "" {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want 0 and silence", op[0], op[1], r.code, r.stdout, r.stderr)
			}
		}
	}
	if n := bus.conns.Load(); n != 0 {
		t.Errorf("ignored operations contacted the bus %d times", n)
	}
	if r := hookRun(t, env, strings.NewReader(""), "g", "prepare"); r.code != 2 || !strings.Contains(r.stderr, "usage") {
		t.Errorf("too few arguments: exit %d, stderr %q; want 2 and usage", r.code, r.stderr)
	}
}

// unreachableCases is what each operation does when it needs virtswitchd and
// cannot get an answer: fail the start/migration/restore, let release and
// reconnect through with a warning.
var unreachableCases = []struct {
	op, subop string
	doc       string
	code      int
}{
	{"prepare", "begin", formB, 1},
	{"release", "end", formB, 0},
	{"reconnect", "begin", formB, 0},
	{"attach", "begin", formB, 0},
	{"migrate", "begin", formB, 1},
	{"restore", "begin", formB, 1},
	{"migrate", "begin", formA, 1},
	{"restore", "begin", formA, 1},
}

func checkUnreachable(t *testing.T, env []string, wantText string) {
	t.Helper()
	for _, c := range unreachableCases {
		r := hookRun(t, env, strings.NewReader(c.doc), "g1", c.op, c.subop, "-")
		if r.code != c.code || r.stdout != "" {
			t.Errorf("%s %s: exit %d, stdout %q; want exit %d and no stdout", c.op, c.subop, r.code, r.stdout, c.code)
		}
		if !strings.Contains(r.stderr, wantText) || !strings.HasPrefix(r.stderr, "virtswitch: ") {
			t.Errorf("%s %s: stderr %q; want a virtswitch message saying %q", c.op, c.subop, r.stderr, wantText)
		}
		if c.code == 0 && !strings.Contains(r.stderr, "warning") {
			t.Errorf("%s %s: stderr %q is not a warning", c.op, c.subop, r.stderr)
		}
	}
}

func TestNoBus(t *testing.T) {
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + filepath.Join(t.TempDir(), "absent"), "VIRTSWITCH_CONFIG_DIR=" + configDir(t)}
	checkUnreachable(t, env, "unreachable")
}

func TestBusWithoutDaemon(t *testing.T) {
	testenv.RequireRoot(t)
	bus := testenv.StartBus(t, testenv.BusOptions{})
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.Address, "VIRTSWITCH_CONFIG_DIR=" + configDir(t)}
	checkUnreachable(t, env, "not running")
}

func TestHungBusIsBounded(t *testing.T) {
	bus := newDeadBus(t)
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.addr, "VIRTSWITCH_CONFIG_DIR=" + configDir(t), "VIRTSWITCH_TIMEOUT=0.3"}
	checkUnreachable(t, env, "after 300ms")
	if bus.conns.Load() == 0 {
		t.Error("the hook never reached the hung bus: the test did not test the timeout")
	}
}

// TestStdinNeverClosed: the bound covers reading the XML too.
func TestStdinNeverClosed(t *testing.T) {
	for _, c := range []struct {
		op, subop string
		code      int
	}{{"prepare", "begin", 1}, {"release", "end", 0}, {"restore", "begin", 1}} {
		// An OS pipe, so the child reads it directly and exec does not wait
		// for a copying goroutine.
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(pw, formB[:40]) // part of a document, then silence
		r := hookRun(t, []string{"VIRTSWITCH_TIMEOUT=200ms", "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent"}, pr, "g1", c.op, c.subop, "-")
		pr.Close()
		pw.Close()
		if r.code != c.code || !strings.Contains(r.stderr, "gave up after 200ms") {
			t.Errorf("%s %s: exit %d, stderr %q; want %d and a gave-up message", c.op, c.subop, r.code, r.stderr, c.code)
		}
	}
}

func TestBadTimeoutFallsBack(t *testing.T) {
	r := hookRun(t, []string{"VIRTSWITCH_TIMEOUT=soon"}, strings.NewReader(`<domain/>`), "g", "prepare", "begin", "-")
	if r.code != 0 || !strings.Contains(r.stderr, "VIRTSWITCH_TIMEOUT") || !strings.Contains(r.stderr, "using 10s") {
		t.Errorf("exit %d, stderr %q; want 0 and a warning naming the variable", r.code, r.stderr)
	}
}
