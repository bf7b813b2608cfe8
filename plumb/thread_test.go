package plumb

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/virtswitch/virtswitch/testenv"
)

func threadNetnsInode() (uint64, error) {
	var st unix.Stat_t
	err := unix.Stat("/proc/thread-self/ns/net", &st)
	return st.Ino, err
}

func TestInNetns(t *testing.T) {
	ns := testenv.NewNetNS(t)
	h, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var want unix.Stat_t
	if err := unix.Stat(ns.Path, &want); err != nil {
		t.Fatal(err)
	}

	var inside uint64
	sentinel := errors.New("fn's own error")
	err = inNetns(h, func() error {
		var err error
		inside, err = threadNetnsInode()
		if err != nil {
			return err
		}
		return sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("inNetns returned %v, want fn's error", err)
	}
	if inside != want.Ino {
		t.Errorf("fn ran in namespace inode %d, want %d", inside, want.Ino)
	}
	testenv.CheckThreadsInHostNetns(t)
}

// A thread that cannot be switched back must never run other goroutines: it
// stays locked and dies with its goroutine. Dropping CAP_SYS_ADMIN from the
// thread's effective set (capabilities are per thread) makes the setns back
// fail for real.
func TestInNetnsThreadThatCannotReturnDies(t *testing.T) {
	ns := testenv.NewNetNS(t)
	h, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var tid int
	err = inNetns(h, func() error {
		tid = unix.Gettid()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
		return unix.Capset(&hdr, &data[0])
	})
	if err == nil || !strings.Contains(err.Error(), "leaving the network namespace") {
		t.Fatalf("inNetns = %v, want a failure to leave the namespace", err)
	}
	// The runtime destroys the thread shortly after its goroutine exits.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stray, err := testenv.ThreadsOutsideHostNetns()
		if err != nil {
			t.Fatal(err)
		}
		if len(stray) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d stuck in the namespace is still alive: %v", tid, stray)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
