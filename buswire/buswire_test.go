package buswire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/testenv"
)

// The calls below go to a real dbus-daemon (testenv.StartBus: a private bus
// configured like the system bus, with virtswitch's shipped policy); the
// bus's own methods answer anyone.

func busCall(member string, args ...string) Call {
	return Call{Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
		Interface: "org.freedesktop.DBus", Member: member, Args: args}
}

func soon() time.Time { return time.Now().Add(10 * time.Second) }

func TestCallRealBus(t *testing.T) {
	testenv.RequireRoot(t)
	bus := testenv.StartBus(t, testenv.BusOptions{})

	out, err := Do(bus.Address, soon(), busCall("GetNameOwner", "org.freedesktop.DBus"))
	if err != nil || len(out) != 1 || out[0] != "org.freedesktop.DBus" {
		t.Fatalf("GetNameOwner(org.freedesktop.DBus) = %q, %v; want [org.freedesktop.DBus]", out, err)
	}
	out, err = Do(bus.Address, soon(), busCall("GetId"))
	if err != nil || len(out) != 1 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(out[0]) {
		t.Fatalf("GetId() = %q, %v; want the bus's 32-hex-digit id", out, err)
	}
	// A reply with a body of another type: no strings, no error.
	out, err = Do(bus.Address, soon(), busCall("ListNames"))
	if err != nil || len(out) != 0 {
		t.Fatalf("ListNames() = %q, %v; want no strings and no error", out, err)
	}
}

func TestErrorReplies(t *testing.T) {
	testenv.RequireRoot(t)
	bus := testenv.StartBus(t, testenv.BusOptions{})
	for _, c := range []struct {
		call     Call
		wantName string
	}{
		{busCall("GetNameOwner", "io.example.Absent"), "org.freedesktop.DBus.Error.NameHasNoOwner"},
		{Call{Destination: "io.example.Absent", Path: "/", Interface: "io.example.I", Member: "M", Args: []string{"x"}},
			"org.freedesktop.DBus.Error.ServiceUnknown"},
		{busCall("NoSuchMethod"), "org.freedesktop.DBus.Error.UnknownMethod"},
	} {
		_, err := Do(bus.Address, soon(), c.call)
		var e *Error
		if !errors.As(err, &e) || e.Name != c.wantName || e.Message == "" {
			t.Errorf("%s: error %#v; want a %s reply with a message", c.call.Member, err, c.wantName)
		}
	}
}

// TestOtherUID: EXTERNAL carries the caller's uid, which the bus checks
// against the socket's credentials; a uid other than 0 must be spelled right
// too. The test binary runs itself as nobody.
func TestOtherUID(t *testing.T) {
	if addr := os.Getenv("BUSWIRE_TEST_ADDR"); addr != "" {
		out, err := Do(addr, soon(), busCall("GetNameOwner", "org.freedesktop.DBus"))
		if err != nil || len(out) != 1 {
			t.Fatalf("as uid %d: %q, %v", os.Getuid(), out, err)
		}
		return
	}
	testenv.RequireRoot(t)
	bus := testenv.StartBus(t, testenv.BusOptions{})
	// A copy of the test binary that nobody can run (go test's own lies in a
	// directory only root may enter).
	dir := t.TempDir()
	bin := filepath.Join(dir, "buswire.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestOtherUID$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BUSWIRE_TEST_ADDR="+bus.Address)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}

func TestUnreachable(t *testing.T) {
	dir := t.TempDir()
	for _, addr := range []string{
		"unix:path=" + filepath.Join(dir, "absent"),
		"unix:abstract=virtswitch-test-absent-" + filepath.Base(dir),
		"tcp:host=localhost,port=1",
		"",
	} {
		_, err := Do(addr, soon(), busCall("GetId"))
		var ce *ConnectError
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v; want a ConnectError", addr, err)
		}
	}
}

// server is a unix socket whose every connection is handled by serve, in
// the accepting goroutine; connections still open at the end are closed.
func server(t *testing.T, serve func(c net.Conn)) string {
	path := filepath.Join(t.TempDir(), "bus")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
			serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "unix:path=" + path
}

func TestHungBusTimesOut(t *testing.T) {
	var conns atomic.Int32
	addr := server(t, func(c net.Conn) { conns.Add(1) }) // accepts, never answers
	_, err := Do(addr, time.Now().Add(200*time.Millisecond), busCall("GetId"))
	var ce *ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v; want a ConnectError that is a deadline", err)
	}
	if conns.Load() != 1 {
		t.Fatalf("%d connections; the test did not reach the hung server", conns.Load())
	}
}

func TestRejectedAuth(t *testing.T) {
	addr := server(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("REJECTED EXTERNAL\r\n"))
		c.Close()
	})
	_, err := Do(addr, soon(), busCall("GetId"))
	var ce *ConnectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "refused authentication") {
		t.Fatalf("error %v; want a ConnectError saying authentication was refused", err)
	}
}

// TestEndlessAuthLine: a server that never ends its answer's line costs
// the client one buffer, not memory until the deadline.
func TestEndlessAuthLine(t *testing.T) {
	addr := server(t, func(c net.Conn) {
		junk := bytes.Repeat([]byte("x"), 64<<10)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write(junk)
	})
	_, err := Do(addr, soon(), busCall("GetId"))
	var ce *ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, bufio.ErrBufferFull) {
		t.Fatalf("error %v; want a ConnectError for a line too long", err)
	}
}

// TestPipelined: everything the client has to say goes in one write, before
// the server has answered anything.
func TestPipelined(t *testing.T) {
	got := make(chan []byte, 1)
	addr := server(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var all []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil || bytes.Count(all, []byte("GetId")) > 0 {
				break
			}
		}
		got <- all
		c.Close()
	})
	Do(addr, soon(), busCall("GetId"))
	all := <-got
	for _, want := range []string{"\x00AUTH EXTERNAL ", "\r\nBEGIN\r\n", "Hello", "GetId"} {
		if !bytes.Contains(all, []byte(want)) {
			t.Errorf("the client's first bytes %q lack %q", all, want)
		}
	}
}

func TestBadArgumentsNeverSent(t *testing.T) {
	var conns atomic.Int32
	addr := server(t, func(c net.Conn) { conns.Add(1) })
	for _, a := range []string{"nul\x00inside", "bad \xff utf-8"} {
		_, err := Do(addr, soon(), busCall("GetNameOwner", a))
		var ce *ConnectError
		if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("%q: error %v; want an argument error", a, err)
		}
	}
	if conns.Load() != 0 {
		t.Errorf("%d connections made for calls that could not be sent", conns.Load())
	}
}

func TestParseAddress(t *testing.T) {
	for _, c := range []struct{ in, want, wantErr string }{
		{"unix:path=/run/dbus/system_bus_socket", "/run/dbus/system_bus_socket", ""},
		{"unix:path=/tmp/a%20b%2cc,guid=0123", "/tmp/a b,c", ""},
		{"unix:guid=0123,abstract=/tmp/dbus-X", "@/tmp/dbus-X", ""},
		{"tcp:host=localhost,port=1", "", "not supported"},
		{"unix:tmpdir=/tmp", "", "neither path= nor abstract="},
		{"nocolon", "", "no transport"},
		{"unix:path=/a%2", "", "cut %-escape"},
		{"unix:path=/a%zz", "", "bad %-escape"},
	} {
		sa, err := parseAddress(c.in)
		switch {
		case c.wantErr == "" && (err != nil || sa.Name != c.want):
			t.Errorf("parseAddress(%q) = %v, %v; want %q", c.in, sa, err, c.want)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("parseAddress(%q): error %v; want one saying %q", c.in, err, c.wantErr)
		}
	}
	if got := SystemBusAddress(func(string) string { return "" }); got != DefaultSystemBus {
		t.Errorf("SystemBusAddress with no environment = %q", got)
	}
	if got := SystemBusAddress(func(string) string { return "unix:path=/x" }); got != "unix:path=/x" {
		t.Errorf("SystemBusAddress = %q; want the variable's value", got)
	}
}

// TestFallbackAddress: alternatives are tried in order.
func TestFallbackAddress(t *testing.T) {
	testenv.RequireRoot(t)
	bus := testenv.StartBus(t, testenv.BusOptions{})
	addr := "unix:path=" + filepath.Join(t.TempDir(), "absent") + ";" + bus.Address
	if out, err := Do(addr, soon(), busCall("GetNameOwner", "org.freedesktop.DBus")); err != nil || len(out) != 1 {
		t.Fatalf("%q, %v; want the second address to answer", out, err)
	}
}

// TestDecodeGodbusMessages: messages marshalled by another implementation
// (godbus), in both byte orders, with header fields the client does not use.
func TestDecodeGodbusMessages(t *testing.T) {
	errMsg := &dbus.Message{Type: dbus.TypeError, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldErrorName:   dbus.MakeVariant("io.example.Error.Bad"),
		dbus.FieldReplySerial: dbus.MakeVariant(uint32(2)),
		dbus.FieldSender:      dbus.MakeVariant(":1.9"),
		dbus.FieldDestination: dbus.MakeVariant(":1.10"),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("", int32(0))),
	}, Body: []any{"it went wrong", int32(5)}}
	ret := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(uint32(1)),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("", "", map[string]dbus.Variant{})),
	}, Body: []any{"a", "b", map[string]dbus.Variant{"k": dbus.MakeVariant([]int64{1, 2})}}}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		var buf bytes.Buffer
		for _, m := range []*dbus.Message{errMsg, ret} {
			if err := m.EncodeTo(&buf, order); err != nil {
				t.Fatal(err)
			}
		}
		r := bufio.NewReader(&buf)
		m, err := readMessage(r)
		if err != nil || m.typ != typeError || m.replySerial != 2 || m.errorName != "io.example.Error.Bad" ||
			len(m.strings) != 1 || m.strings[0] != "it went wrong" {
			t.Fatalf("%v: error message decoded as %+v, %v", order, m, err)
		}
		m, err = readMessage(r)
		if err != nil || m.typ != typeReturn || m.replySerial != 1 || strings.Join(m.strings, ",") != "a,b" {
			t.Fatalf("%v: reply decoded as %+v, %v", order, m, err)
		}
	}
}

// TestEncodeDecodedByGodbus: the calls the client writes are what another
// implementation reads.
func TestEncodeDecodedByGodbus(t *testing.T) {
	out := appendMethodCall(nil, 2, Call{Destination: "io.github.virtswitch1", Path: "/io/github/virtswitch1",
		Interface: "io.github.virtswitch1.Manager", Member: "ReleaseDomain", Args: []string{"x", "yz"}})
	m, err := dbus.DecodeMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != dbus.TypeMethodCall || m.Serial() != 2 || len(m.Body) != 2 || m.Body[0] != "x" || m.Body[1] != "yz" ||
		m.Headers[dbus.FieldMember].Value() != "ReleaseDomain" ||
		m.Headers[dbus.FieldPath].Value() != dbus.ObjectPath("/io/github/virtswitch1") ||
		m.Headers[dbus.FieldDestination].Value() != "io.github.virtswitch1" {
		t.Fatalf("godbus read %+v", m)
	}
}

// FuzzReadMessage: whatever a bus sends, the decoder returns an error or a
// message, never panics.
func FuzzReadMessage(f *testing.F) {
	f.Add(appendMethodCall(nil, 1, busCall("GetNameOwner", "org.freedesktop.DBus")))
	var buf bytes.Buffer
	(&dbus.Message{Type: dbus.TypeError, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldErrorName:   dbus.MakeVariant("io.example.Error.Bad"),
		dbus.FieldReplySerial: dbus.MakeVariant(uint32(2)),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("")),
	}, Body: []any{"no"}}).EncodeTo(&buf, binary.BigEndian)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for i := 0; i < 4; i++ {
			if _, err := readMessage(r); err != nil {
				return
			}
		}
	})
}
