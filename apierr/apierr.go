// Package apierr holds the error categories of virtswitch's contract (SPEC §6).
//
// Every error that can reach a D-Bus caller or a CLI user is an *Error with a
// Kind; the D-Bus layer maps the Kind to io.github.virtswitch1.Error.<Kind>.
// Messages are one line, for a human, and name the network, portgroup,
// device, interface MAC or domain they are about. An *Error keeps its cause
// (the error given to Wrap, or the %w operands of New), so errors.Is and
// errors.As see through it: test for fs.ErrNotExist or a unix.Errno on the
// cause, not on the message text.
package apierr

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is an error category. Its value is the last part of the D-Bus error name.
type Kind string

const (
	InvalidXML    Kind = "InvalidXML"
	NotFound      Kind = "NotFound"
	Conflict      Kind = "Conflict"
	PoolExhausted Kind = "PoolExhausted"
	InUse         Kind = "InUse"
	Unsupported   Kind = "Unsupported"
	Plumbing      Kind = "Plumbing"
)

// DBusPrefix is the common prefix of virtswitch's D-Bus error names.
const DBusPrefix = "io.github.virtswitch1.Error."

// Kinds lists every Kind, in SPEC order.
var Kinds = []Kind{InvalidXML, NotFound, Conflict, PoolExhausted, InUse, Unsupported, Plumbing}

// DBusName is the D-Bus error name of k.
func (k Kind) DBusName() string { return DBusPrefix + string(k) }

// Error is a categorised, human-readable error.
type Error struct {
	Kind Kind
	// Msg is the whole one-line message, the cause's text included: it is
	// what travels over D-Bus, where the cause cannot.
	Msg string
	// Err is the cause, or nil; only for errors.Is/As (its text is in Msg).
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause, so errors.Is/As look through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// New makes an *Error. The message is folded to one line. As with
// fmt.Errorf, %w operands become the cause.
func New(k Kind, format string, a ...any) *Error {
	f := fmt.Errorf(format, a...)
	return &Error{Kind: k, Msg: oneLine(f.Error()), Err: causeOf(f)}
}

// Wrap prefixes err's message with a context (e.g. "network 'red'"), keeps
// its Kind and keeps err as the cause; an error without a Kind gets fallback.
// Wrap(nil, ...) is nil (an untyped nil error, so callers may return it
// directly).
func Wrap(err error, fallback Kind, format string, a ...any) error {
	if err == nil {
		return nil
	}
	k := KindOf(err)
	if k == "" {
		k = fallback
	}
	return &Error{Kind: k, Msg: oneLine(fmt.Sprintf(format, a...) + ": " + err.Error()), Err: err}
}

// causeOf is what fmt.Errorf's result f wraps: nil without %w, the operand
// with one, all of them (errors.Join) with several.
func causeOf(f error) error {
	if m, ok := f.(interface{ Unwrap() []error }); ok {
		return errors.Join(m.Unwrap()...)
	}
	return errors.Unwrap(f)
}

// KindOf returns the Kind of the first *Error in err's chain, or "".
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// FromDBusName maps a D-Bus error name back to a Kind ("" if it is not ours).
func FromDBusName(name string) Kind {
	if !strings.HasPrefix(name, DBusPrefix) {
		return ""
	}
	k := Kind(strings.TrimPrefix(name, DBusPrefix))
	for _, known := range Kinds {
		if k == known {
			return k
		}
	}
	return ""
}

// FromDBus is the *Error an error reply named name with message msg stands
// for, or nil if name is not one of virtswitch's errors.
func FromDBus(name, msg string) *Error {
	if k := FromDBusName(name); k != "" {
		return &Error{Kind: k, Msg: msg}
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\x00", "")), " ")
}
