package libvirtconn

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/statedir"
)

// DefaultURI is the driver every connection opens.
const DefaultURI = "qemu:///system"

// DefaultSockets are tried in order: the modular QEMU daemon's socket,
// then the monolithic libvirtd's.
var DefaultSockets = []string{"/var/run/libvirt/virtqemud-sock", "/var/run/libvirt/libvirt-sock"}

// Config says where libvirt is and how patient to be with it. Zero
// values take the defaults.
type Config struct {
	Sockets     []string      // tried in order on every connect (DefaultSockets)
	URI         string        // DefaultURI; "qemu:///session" for a per-user daemon (tests)
	CallTimeout time.Duration // bound on every call and on connecting (30 s)
	MinBackoff  time.Duration // first reconnect delay (100 ms), doubling …
	MaxBackoff  time.Duration // … up to this (5 s)
	Logger      *slog.Logger  // Follower only (slog.Default())
}

func (c Config) withDefaults() Config {
	if len(c.Sockets) == 0 {
		c.Sockets = DefaultSockets
	}
	if c.URI == "" {
		c.URI = DefaultURI
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Second, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Domain names a libvirt domain.
type Domain struct {
	UUID, Name string
	ID         int32 // -1 when not running
}

// Running tells whether the domain was running when it was listed.
func (d Domain) Running() bool { return d.ID >= 0 }

// Client is one connection to libvirt. Its methods are safe for
// concurrent use; after the connection is lost every call fails.
type Client struct {
	l       *libvirt.Libvirt
	conn    *watchedConn
	socket  string
	timeout time.Duration
}

// ErrUnreachable is wrapped by Dial's error when no socket answered.
var ErrUnreachable = errors.New("libvirt is not reachable")

// Dial connects to the first socket of cfg.Sockets that answers and opens
// cfg.URI on it.
func Dial(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	var errs []string
	for _, path := range cfg.Sockets {
		c, err := dialOne(path, cfg)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("%w (%s); is libvirtd or virtqemud running?", ErrUnreachable, strings.Join(errs, "; "))
}

func dialOne(path string, cfg Config) (*Client, error) {
	raw, err := net.DialTimeout("unix", path, cfg.CallTimeout)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && errors.Is(ne.Err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such socket", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w := &watchedConn{Conn: raw, done: make(chan struct{})}
	c := &Client{l: libvirt.NewWithDialer(w), conn: w, socket: path, timeout: cfg.CallTimeout}
	if err := c.call("connecting", func() error { return c.l.ConnectToURI(libvirt.ConnectURI(cfg.URI)) }); err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: opening %s: %w", path, cfg.URI, err)
	}
	return c, nil
}

// Socket is the path this client connected to.
func (c *Client) Socket() string { return c.socket }

// Done is closed when the connection is lost or closed.
func (c *Client) Done() <-chan struct{} { return c.conn.done }

// Close ends the connection (politely when libvirt answers at once).
func (c *Client) Close() error {
	select {
	case <-c.conn.done:
	default:
		ch := make(chan struct{})
		go func() { c.l.Disconnect(); close(ch) }()
		select {
		case <-ch:
		case <-time.After(time.Second):
		}
	}
	return c.conn.Close()
}

// call runs fn bounded by the client's timeout. On timeout the connection
// is closed, which makes fn return, and anyone following reconnects.
func (c *Client) call(what string, fn func() error) error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case err := <-ch:
		return err
	case <-t.C:
		c.conn.Close()
		return fmt.Errorf("%s: libvirt did not answer within %v; connection closed", what, c.timeout)
	}
}

// ListPersistent lists the persistent (defined) domains, running or not.
func (c *Client) ListPersistent() ([]Domain, error) {
	return c.list(libvirt.ConnectListDomainsPersistent, "persistent")
}

// list lists the domains libvirt selects with flags ("which" names them).
func (c *Client) list(flags libvirt.ConnectListAllDomainsFlags, which string) ([]Domain, error) {
	var doms []libvirt.Domain
	err := c.call("listing domains", func() (err error) {
		doms, _, err = c.l.ConnectListAllDomains(1, flags)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing libvirt's %s domains: %w", which, err)
	}
	out := make([]Domain, 0, len(doms))
	for _, d := range doms {
		out = append(out, domainFrom(d))
	}
	return out, nil
}

func domainFrom(d libvirt.Domain) Domain {
	return Domain{UUID: uuidString(d.UUID), Name: d.Name, ID: d.ID}
}

// Lookup finds a domain by UUID or by name (libvirt's NotFound → an
// apierr NotFound naming it).
func (c *Client) Lookup(nameOrUUID string) (Domain, error) {
	var d libvirt.Domain
	err := c.call("looking up domain", func() (err error) {
		if u, ok := parseUUID(nameOrUUID); ok {
			d, err = c.l.DomainLookupByUUID(u)
			if err == nil || !libvirt.IsNotFound(err) {
				return err
			}
		}
		d, err = c.l.DomainLookupByName(nameOrUUID)
		return err
	})
	if err != nil {
		return Domain{}, domainErr(err, nameOrUUID, "looking up")
	}
	// Lookups leave ID 0 for inactive domains in some versions; ask.
	dom := domainFrom(d)
	var active int32
	if err := c.call("asking whether domain is running", func() (err error) {
		active, err = c.l.DomainIsActive(d)
		return err
	}); err != nil {
		return Domain{}, domainErr(err, nameOrUUID, "looking up")
	}
	if active == 0 {
		dom.ID = -1
	}
	return dom, nil
}

// XMLFlags choose which XML DomainXML returns.
type XMLFlags struct {
	Inactive   bool // the persistent (next boot) definition, not the live one
	Migratable bool // what a migration's --xml should be based on
	Secure     bool // include passwords (a redefinition must keep them)
}

// DomainXML returns a domain's XML.
func (c *Client) DomainXML(uuid string, f XMLFlags) ([]byte, error) {
	u, ok := parseUUID(uuid)
	if !ok {
		return nil, apierr.New(apierr.InvalidXML, "'%s' is not a domain UUID", uuid)
	}
	var flags libvirt.DomainXMLFlags
	if f.Secure {
		flags |= libvirt.DomainXMLSecure
	}
	if f.Inactive {
		flags |= libvirt.DomainXMLInactive
	}
	if f.Migratable {
		flags |= libvirt.DomainXMLMigratable
	}
	var x string
	err := c.call("reading domain XML", func() error {
		d, err := c.l.DomainLookupByUUID(u)
		if err != nil {
			return err
		}
		x, err = c.l.DomainGetXMLDesc(d, flags)
		return err
	})
	if err != nil {
		return nil, domainErr(err, uuid, "reading the XML of")
	}
	return []byte(x), nil
}

// InactiveXML is the persistent definition of a domain (what a define
// replaces; passwords included); for a running domain, its next boot's
// configuration.
func (c *Client) InactiveXML(uuid string) ([]byte, error) {
	return c.DomainXML(uuid, XMLFlags{Inactive: true, Secure: true})
}

// DefineXML defines (or redefines) a persistent domain. For a running
// domain only its next boot's configuration changes. validate asks
// libvirt to check the document against its schema first.
func (c *Client) DefineXML(doc []byte, validate bool) (Domain, error) {
	var flags libvirt.DomainDefineFlags
	if validate {
		flags = libvirt.DomainDefineValidate
	}
	var d libvirt.Domain
	err := c.call("defining domain", func() (err error) {
		d, err = c.l.DomainDefineXMLFlags(string(doc), flags)
		return err
	})
	if err != nil {
		return Domain{}, refused(err, "libvirt refused the domain definition")
	}
	return domainFrom(d), nil
}

// CreateXML starts a transient domain.
func (c *Client) CreateXML(doc []byte, validate bool) (Domain, error) {
	var flags libvirt.DomainCreateFlags
	if validate {
		flags = libvirt.DomainStartValidate
	}
	var d libvirt.Domain
	err := c.call("creating domain", func() (err error) {
		d, err = c.l.DomainCreateXML(string(doc), flags)
		return err
	})
	if err != nil {
		return Domain{}, refused(err, "libvirt refused to create the domain")
	}
	return domainFrom(d), nil
}

// NetworkDefined tells whether libvirt's own network driver defines a
// network of this name.
func (c *Client) NetworkDefined(name string) (bool, error) {
	err := c.call("looking up network", func() error {
		_, err := c.l.NetworkLookupByName(name)
		return err
	})
	var le libvirt.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &le) && le.Code == uint32(libvirt.ErrNoNetwork):
		return false, nil
	}
	return false, fmt.Errorf("asking libvirt about network '%s': %w", name, err)
}

// refused is libvirt's refusal of a document as one line (schema errors
// span several), InvalidXML unless it was not libvirt answering.
func refused(err error, what string) error {
	var le libvirt.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return apierr.Wrap(err, apierr.InvalidXML, "%s", what)
}

// IsNotFound tells whether err is libvirt's "no such domain".
func IsNotFound(err error) bool {
	return libvirt.IsNotFound(err) || apierr.KindOf(err) == apierr.NotFound
}

func domainErr(err error, dom, doing string) error {
	if libvirt.IsNotFound(err) {
		return apierr.Wrap(err, apierr.NotFound, "domain '%s' not found in libvirt", dom)
	}
	return fmt.Errorf("%s domain '%s': %w", doing, dom, err)
}

func parseUUID(s string) (libvirt.UUID, bool) {
	var u libvirt.UUID
	c, err := statedir.Canonical(s)
	if err != nil {
		return u, false
	}
	b, err := hex.DecodeString(strings.ReplaceAll(c, "-", ""))
	if err != nil || len(b) != len(u) {
		return u, false
	}
	copy(u[:], b)
	return u, true
}

// watchedConn is the connection go-libvirt reads; it tells Done when the
// read side fails (libvirt went away) or it is closed. It is its own
// dialer: the socket is already connected.
type watchedConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (w *watchedConn) Dial() (net.Conn, error) { return w, nil }

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if err != nil {
		w.once.Do(func() { close(w.done) })
	}
	return n, err
}

func (w *watchedConn) Close() error {
	w.once.Do(func() { close(w.done) })
	return w.Conn.Close()
}

// Persistent tells whether the domain has a persistent definition.
func (c *Client) Persistent(uuid string) (bool, error) {
	u, ok := parseUUID(uuid)
	if !ok {
		return false, apierr.New(apierr.InvalidXML, "'%s' is not a domain UUID", uuid)
	}
	var p int32
	err := c.call("asking whether domain is persistent", func() error {
		d, err := c.l.DomainLookupByUUID(u)
		if err != nil {
			return err
		}
		p, err = c.l.DomainIsPersistent(d)
		return err
	})
	if err != nil {
		return false, domainErr(err, uuid, "looking up")
	}
	return p == 1, nil
}

// Running tells whether the domain's CPUs run (libvirt state "running":
// not paused, not an incoming migration still copying). A domain libvirt
// does not know is not running.
func (c *Client) Running(uuid string) (bool, error) {
	u, ok := parseUUID(uuid)
	if !ok {
		return false, apierr.New(apierr.InvalidXML, "'%s' is not a domain UUID", uuid)
	}
	var state int32
	err := c.call("asking for domain state", func() error {
		d, err := c.l.DomainLookupByUUID(u)
		if err != nil {
			return err
		}
		state, _, err = c.l.DomainGetState(d, 0)
		return err
	})
	if libvirt.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, domainErr(err, uuid, "asking for the state of")
	}
	return state == int32(libvirt.DomainRunning), nil
}

// ListRunning lists the domains whose CPUs run.
func (c *Client) ListRunning() ([]Domain, error) {
	return c.list(libvirt.ConnectListDomainsRunning, "running")
}
