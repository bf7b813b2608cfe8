package vswitch

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/virtswitch/virtswitch/testenv"
)

// Recovery reads the state files in parallel and checks links against one
// dump: with many domains, some running and some not, and a link of a
// running one deleted behind the daemon's back, the counts must be exactly
// those of the running domains, the dead ones' links gone, the running
// ones' kept, and the vanished link only reported.
func TestRecoveryManyDomains(t *testing.T) {
	f := newFixture(t)
	const n = 120
	var gs []*guest
	for i := range n {
		net := []string{"red-bridge", "red-vepa"}[i%2]
		g := newGuest(t, f, fmt.Sprintf("many%d", i), fmt.Sprintf("00000000-0000-4000-8000-%012x", i),
			testenv.FormAInterface(net, "", fmt.Sprintf("52:54:00:77:%02x:%02x", i/256, i%256), ""))
		if _, err := f.sw.Prepare(g.formB); err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	running := map[int]bool{}
	wantBridge, wantVepa := 0, 0
	for i, g := range gs {
		if i%3 != 0 {
			f.run(t, g)
			running[i] = true
			if i%2 == 0 {
				wantBridge++
			} else {
				wantVepa++
			}
		}
	}
	// A running guest whose link vanished (an admin deleted it): counted
	// all the same, since its QEMU holds the old device.
	vanished := "vsw525400770001" // many1 runs (1 % 3 != 0)
	if err := f.plumber.Delete(vanished); err != nil {
		t.Fatal(err)
	}

	f.restart(t)
	nets := map[string]uint{}
	for _, ni := range f.sw.Networks() {
		nets[ni.Name] = ni.Connections
	}
	if nets["red-bridge"] != uint(wantBridge) || nets["red-vepa"] != uint(wantVepa) {
		t.Fatalf("counts after recovery: %s; want red-bridge=%d red-vepa=%d", counts(f.sw), wantBridge, wantVepa)
	}
	snap := f.ns.Snapshot(t)
	for i, g := range gs {
		target := fmt.Sprintf("vsw52540077%02x%02x", i/256, i%256)
		_, has := snap[target]
		_, err := os.Stat(filepath.Join(f.stateDir, "domains", g.uuid+".xml"))
		switch {
		case running[i] && target == vanished:
			if has || err != nil {
				t.Errorf("%s: link present %v, state file err %v; want no link, state kept", g.name, has, err)
			}
		case running[i]:
			if !has || err != nil {
				t.Errorf("%s runs: link present %v, state file err %v", g.name, has, err)
			}
		default:
			if has || !os.IsNotExist(err) {
				t.Errorf("%s does not run: link present %v, state file err %v", g.name, has, err)
			}
		}
	}
}

// The liveness check reads /proc/PID/cmdline whole, whatever its length
// (QEMU command lines run to tens of KiB), and finds the UUID in upper case
// too.
func TestRunningLongAndUpperCaseCmdline(t *testing.T) {
	dir := t.TempDir()
	s := &Switch{libvirtDir: dir}
	const uuid = "0a1b2c3d-0000-4000-8000-00000000abcd"
	for _, tc := range []struct {
		name    string
		args    []string
		running bool
	}{
		{"short", []string{"-uuid", uuid}, true},
		{"long", []string{"-a", strings.Repeat("x", 60_000), "-b", strings.Repeat("y", 60_000), "-c", strings.Repeat("z", 60_000), "-uuid", uuid}, true},
		{"upper", []string{"-uuid", strings.ToUpper(uuid)}, true},
		{"other", []string{"-uuid", "0a1b2c3d-0000-4000-8000-00000000abce"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The child says "up" once it runs: cmd.Start returns when the
			// exec is past its point of no return, before the kernel has
			// set the new command line, so /proc/PID/cmdline read right
			// then is sometimes empty (about 1 start in 11 here, with a
			// 60 KB argument). QEMU writes its own pid file, so the daemon
			// never reads a process that has not exec'd.
			cmd := exec.Command("sh", append([]string{"-c", "echo up; read x", "qemu"}, tc.args...)...)
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
			if line, err := bufio.NewReader(out).ReadString('\n'); line != "up\n" {
				t.Fatalf("child did not start: read %q, %v", line, err)
			}
			if err := os.WriteFile(filepath.Join(dir, "g.pid"), []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, buf := range [][]byte{nil, make([]byte, 0, 16), make([]byte, 0, 1<<20)} {
				if got, _ := s.running("g", uuid, buf); got != tc.running {
					t.Errorf("running with a %d-byte buffer = %v, want %v", cap(buf), got, tc.running)
				}
			}
		})
	}
}

// crash is what crashHook panics with to stop a prepare where a kill -9
// could.
type crash struct{ stage string }

// A kill -9 at any step of a prepare (the reply never reaches libvirt, so
// the guest never runs) leaves nothing that recovery does not undo: after
// a restart there is no link, no count and no state file, and the
// passthrough device has its own MAC again. Before the state file was
// written ahead of the plumbing, a crash after the passthrough macvtap was
// made lost the device's MAC for good (found by the torture, RELIABILITY.md).
func TestCrashDuringPrepare(t *testing.T) {
	stages := []string{"allocated", "written", "plumbed vswdeadbeefcafe", "plumbed vsw525400000101"}
	for _, stage := range stages {
		t.Run(stage, func(t *testing.T) {
			f := newFixture(t)
			before := f.ns.Snapshot(t)
			g := seedGuests(t, f)[0] // red-vepa (vswdeadbeefcafe), then red-pass (vsw525400000101)
			crashHook = func(s string) {
				if s == stage {
					panic(crash{s})
				}
			}
			t.Cleanup(func() { crashHook = nil })
			func() {
				defer func() {
					if r := recover(); r != (crash{stage}) {
						t.Fatalf("prepare did not stop at %q (recovered %v)", stage, r)
					}
				}()
				f.sw.Prepare(g.formB)
			}()
			crashHook = nil

			f.restart(t)
			if got := counts(f.sw); got != "red-bridge=0 red-pass=0 red-vepa=0" {
				t.Errorf("counts after the crash and a restart: %s", got)
			}
			if d := testenv.Diff(before, f.ns.Snapshot(t)); d != "" {
				t.Errorf("links after the crash and a restart differ from before the prepare:\n%s", d)
			}
			if files := testenv.StateFiles(t, f.stateDir); len(files) != 0 {
				t.Errorf("state files left: %v", files)
			}
			// And the guest can be prepared again.
			if _, err := f.sw.Prepare(g.formB); err != nil {
				t.Fatalf("prepare after recovery: %v", err)
			}
			if got := counts(f.sw); got != "red-bridge=0 red-pass=1[eth20:1] red-vepa=1[eth10:1]" {
				t.Errorf("counts after a fresh prepare: %s", got)
			}
		})
	}
}
