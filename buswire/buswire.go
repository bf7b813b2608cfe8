// Package buswire makes one D-Bus method call on a connection of its own and
// closes it: what a short-lived process such as virtswitch-hook needs, and
// nothing more (string arguments, a reply of strings or nothing).
//
// It exists for speed. A general client (godbus) waits for the bus at every
// step of the connection set-up: AUTH, NEGOTIATE_UNIX_FD, Hello, then the
// call, four round trips to dbus-daemon. buswire writes the SASL EXTERNAL
// exchange, BEGIN, Hello and the call in one write and then reads the
// answers, one round trip in all, as sd-bus does; the D-Bus specification
// allows a client to send BEGIN and its first messages without waiting for
// OK. It also keeps godbus (and net, os/user, ...) out of the hook binary.
// BENCHMARKS.md "Issue 8" has the figures.
package buswire

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// DefaultSystemBus is the system bus when DBUS_SYSTEM_BUS_ADDRESS is unset
// (the D-Bus specification's well-known address).
const DefaultSystemBus = "unix:path=/var/run/dbus/system_bus_socket"

// SystemBusAddress is DBUS_SYSTEM_BUS_ADDRESS if set, else DefaultSystemBus.
func SystemBusAddress(getenv func(string) string) string {
	if a := getenv("DBUS_SYSTEM_BUS_ADDRESS"); a != "" {
		return a
	}
	return DefaultSystemBus
}

// Call is one method call. Every argument is a string (signature "s…").
type Call struct {
	Destination, Path, Interface, Member string
	Args                                 []string
}

// Error is an error reply: from the callee, or from the bus on its behalf
// (org.freedesktop.DBus.Error.ServiceUnknown when nobody owns Destination).
type Error struct {
	Name    string
	Message string // the reply's first argument when it is a string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Message
}

// ConnectError says the call was never delivered: the bus could not be
// reached, refused us, or did not finish the set-up in time.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// Do connects to address (a D-Bus server address; ';' separates
// alternatives, tried in order), sends call, and returns the string
// arguments of the reply. Everything, connecting included, ends by deadline;
// a timeout wraps os.ErrDeadlineExceeded.
//
// Errors: *ConnectError when the call was not delivered, *Error for an error
// reply, anything else when the connection failed after the bus accepted us.
func Do(address string, deadline time.Time, call Call) ([]string, error) {
	for _, a := range call.Args {
		if !utf8.ValidString(a) || strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("%s: an argument is not valid UTF-8 text (D-Bus strings must be)", call.Member)
		}
	}
	f, err := connect(address, deadline)
	if err != nil {
		return nil, &ConnectError{err}
	}
	defer f.Close()
	if err := f.SetDeadline(deadline); err != nil {
		return nil, &ConnectError{err}
	}

	const helloSerial, callSerial = 1, 2
	out := []byte("\x00AUTH EXTERNAL " + hex.EncodeToString([]byte(strconv.Itoa(os.Getuid()))) + "\r\nBEGIN\r\n")
	out = appendMethodCall(out, helloSerial, Call{
		Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
		Interface: "org.freedesktop.DBus", Member: "Hello",
	})
	out = appendMethodCall(out, callSerial, call)
	if _, err := f.Write(out); err != nil {
		return nil, &ConnectError{err}
	}

	r := bufio.NewReader(f)
	// ReadSlice, not ReadString: a line longer than the 4 KiB buffer is an
	// error (ErrBufferFull) rather than memory for as long as a bad server
	// keeps sending.
	raw, err := r.ReadSlice('\n')
	if err != nil {
		return nil, &ConnectError{fmt.Errorf("reading the bus's answer to authentication: %w", err)}
	}
	line := string(raw)
	if !strings.HasPrefix(line, "OK ") {
		return nil, &ConnectError{fmt.Errorf("the bus refused authentication as uid %d: %s", os.Getuid(), strings.TrimSpace(line))}
	}
	helloDone := false
	for {
		m, err := readMessage(r)
		if err != nil {
			if !helloDone {
				return nil, &ConnectError{err}
			}
			return nil, err
		}
		if m.typ != typeReturn && m.typ != typeError {
			continue // signals (NameAcquired) and anything else
		}
		switch m.replySerial {
		case helloSerial:
			if m.typ == typeError {
				return nil, &ConnectError{fmt.Errorf("the bus refused Hello: %s", m.errorText())}
			}
			helloDone = true
		case callSerial:
			if m.typ == typeError {
				return nil, &Error{Name: m.errorName, Message: first(m.strings)}
			}
			return m.strings, nil
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// connect opens a stream socket to the first address that answers. Only
// the unix transport exists here (path= and abstract=), as on every system
// bus.
func connect(address string, deadline time.Time) (*os.File, error) {
	var errs []string
	for _, a := range strings.Split(address, ";") {
		if a == "" {
			continue
		}
		sa, err := parseAddress(a)
		if err == nil {
			var f *os.File
			if f, err = dialUnix(sa, deadline); err == nil {
				return f, nil
			}
		}
		errs = append(errs, err.Error())
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no bus address given")
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// parseAddress reads one "unix:key=value,..." address; values are
// %-escaped as the specification says.
func parseAddress(a string) (*syscall.SockaddrUnix, error) {
	transport, rest, ok := strings.Cut(a, ":")
	if !ok {
		return nil, fmt.Errorf("bus address '%s' has no transport", a)
	}
	if transport != "unix" {
		return nil, fmt.Errorf("bus address '%s': transport '%s' is not supported (only unix)", a, transport)
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		v, err := unescape(v)
		if err != nil {
			return nil, fmt.Errorf("bus address '%s': %v", a, err)
		}
		switch k {
		case "path":
			return &syscall.SockaddrUnix{Name: v}, nil
		case "abstract":
			return &syscall.SockaddrUnix{Name: "@" + v}, nil
		}
	}
	return nil, fmt.Errorf("bus address '%s' has neither path= nor abstract=", a)
}

func unescape(v string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", fmt.Errorf("'%s' ends in a cut %%-escape", v)
		}
		c, err := hex.DecodeString(v[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("'%s' has a bad %%-escape", v)
		}
		b.WriteByte(c[0])
		i += 2
	}
	return b.String(), nil
}

// dialUnix connects a non-blocking socket, so that the returned file is
// served by Go's poller and deadlines apply to it.
func dialUnix(sa *syscall.SockaddrUnix, deadline time.Time) (*os.File, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %v", err)
	}
	for {
		err = syscall.Connect(fd, sa)
		// A unix socket whose listener's backlog is full answers EAGAIN
		// rather than waiting; a busy dbus-daemon is worth waiting for.
		if err != syscall.EAGAIN || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		syscall.Close(fd)
		if err == syscall.EAGAIN {
			err = os.ErrDeadlineExceeded
		}
		return nil, fmt.Errorf("connecting to %s: %w", strings.Replace(sa.Name, "@", "abstract ", 1), err)
	}
	return os.NewFile(uintptr(fd), sa.Name), nil
}
