package testenv

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

func TestNetNSLifecycle(t *testing.T) {
	hostBefore := HostSnapshot(t)
	var path string
	t.Run("inside", func(t *testing.T) {
		n := NewNetNS(t)
		path = n.Path
		if !strings.HasPrefix(n.Name, netnsPrefix) || n.Path != NetnsDir+"/"+n.Name {
			t.Fatalf("unexpected name/path %q %q", n.Name, n.Path)
		}
		if nsInode(t, n.Path) == nsInode(t, "/proc/self/ns/net") {
			t.Fatalf("namespace %s is the process's own namespace", n.Path)
		}

		// Do runs in the namespace, and only there.
		var inside uint64
		if err := n.Do(func() error {
			inside = nsInode(t, "/proc/thread-self/ns/net")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if inside != nsInode(t, n.Path) {
			t.Fatalf("Do ran in namespace inode %d, want %d", inside, nsInode(t, n.Path))
		}
		want := errors.New("from fn")
		if err := n.Do(func() error { return want }); !errors.Is(err, want) {
			t.Fatalf("Do returned %v, want fn's error", err)
		}

		s0 := n.Snapshot(t)
		if len(s0) != 1 || !s0["lo"].Up {
			t.Fatalf("fresh namespace should hold only lo, up: %+v", s0)
		}

		n.AddVeth(t, "nic0", "wire0")
		n.AddBridge(t, "br0")
		n.SetMAC(t, "nic0", "02:00:00:00:00:01")
		s := n.Snapshot(t)
		nic, wire, br := s["nic0"], s["wire0"], s["br0"]
		if nic.Kind != "veth" || !nic.Up || nic.MAC != "02:00:00:00:00:01" || nic.Parent != "wire0" {
			t.Errorf("nic0: %+v", nic)
		}
		if wire.Kind != "veth" || !wire.Up || wire.Parent != "nic0" {
			t.Errorf("wire0: %+v", wire)
		}
		if br.Kind != "bridge" || !br.Up {
			t.Errorf("br0: %+v", br)
		}
		if !n.HasLink(t, "br0") || n.HasLink(t, "nosuch") {
			t.Errorf("HasLink wrong")
		}
		d := Diff(s0, s)
		for _, want := range []string{"+ nic0", "+ wire0", "+ br0"} {
			if !strings.Contains(d, want) {
				t.Errorf("Diff lacks %q:\n%s", want, d)
			}
		}
		if Diff(s, n.Snapshot(t)) != "" {
			t.Errorf("Diff of equal snapshots not empty")
		}

		// The namespace's links never appear in the host.
		host := HostSnapshot(t)
		for _, name := range []string{"nic0", "wire0", "br0"} {
			_, now := host[name]
			_, before := hostBefore[name]
			if now && !before {
				t.Errorf("link %s appeared in the host namespace", name)
			}
		}
	})
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("namespace %s not removed at clean-up: %v", path, err)
	}
	CheckThreadsInHostNetns(t)
}

func TestStaleNetnsRemoved(t *testing.T) {
	RequireRoot(t)
	// A namespace named as by a dead test process (pid beyond pid_max).
	name := netnsPrefix + "2147483647-1"
	err := onLockedThread(func(netns.NsHandle) error {
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("creating stale namespace: %v", err)
	}
	stale := NetnsDir + "/" + name
	t.Cleanup(func() { _ = deleteNamed(stale) })
	NewNetNS(t)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale namespace %s survived: %v", stale, err)
	}
	CheckThreadsInHostNetns(t)
}
