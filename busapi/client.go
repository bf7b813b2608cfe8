package busapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/apierr"
)

// Client is a private connection to the system bus (DBUS_SYSTEM_BUS_ADDRESS
// when set) talking to virtswitchd. Every call is bounded by the timeout given
// to Dial, so a hung daemon cannot hang the caller.
type Client struct {
	conn    *dbus.Conn
	timeout time.Duration
}

// Dial connects within timeout.
func Dial(timeout time.Duration) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type result struct {
		c   *dbus.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// No dbus.WithContext here: godbus closes a connection when its
		// context ends, which would close it as soon as Dial returns. The
		// select below bounds the wait instead.
		c, err := dbus.ConnectSystemBus()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("cannot reach the system bus: %v", r.err)
		}
		return &Client{conn: r.c, timeout: timeout}, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("cannot reach the system bus: timed out after %s", timeout)
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn exposes the underlying connection (for signals and tests).
func (c *Client) Conn() *dbus.Conn { return c.conn }

// Call invokes a Manager method on the root object and stores the reply in
// out (pointers, in order). Errors from virtswitchd come back as *apierr.Error
// when they carry one of our error names.
func (c *Client) Call(method string, out []any, args ...any) error {
	return c.CallOn(RootPath, ManagerInterface+"."+method, out, args...)
}

// CallOn invokes iface.method (full name) on path.
func (c *Client) CallOn(path string, member string, out []any, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	call := c.conn.Object(BusName, dbus.ObjectPath(path)).CallWithContext(ctx, member, 0, args...)
	if call.Err != nil {
		return convertError(member, call.Err, ctx.Err())
	}
	if len(out) > 0 {
		if err := call.Store(out...); err != nil {
			return fmt.Errorf("%s: unexpected reply: %v", member, err)
		}
	}
	return nil
}

// Property reads one property of iface on path.
func (c *Client) Property(path, iface, name string) (dbus.Variant, error) {
	var v dbus.Variant
	err := c.CallOn(path, "org.freedesktop.DBus.Properties.Get", []any{&v}, iface, name)
	return v, err
}

func convertError(member string, err error, ctxErr error) error {
	if ctxErr != nil {
		return fmt.Errorf("virtswitchd did not answer %s in time", member)
	}
	var de dbus.Error
	if errors.As(err, &de) {
		msg := ""
		if len(de.Body) > 0 {
			if s, ok := de.Body[0].(string); ok {
				msg = s
			}
		}
		if e := apierr.FromDBus(de.Name, msg); e != nil {
			return e
		}
		if msg == "" {
			msg = de.Name
		}
		return &RemoteError{Name: de.Name, Msg: msg}
	}
	return err
}

// RemoteError is a D-Bus error that is not one of virtswitch's own kinds
// (AccessDenied, InvalidArgs, ServiceUnknown, ...).
type RemoteError struct {
	Name string
	Msg  string
}

func (e *RemoteError) Error() string { return e.Msg }
