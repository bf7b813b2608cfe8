// Package libvirtconn talks to the local libvirt over libvirt's own RPC
// protocol (github.com/digitalocean/go-libvirt: pure Go, no cgo), on the
// daemon's unix socket: the modular virtqemud's or the monolithic
// libvirtd's.
//
// Two ways to use it:
//
//	// One-shot (the CLI): dial, call, close.
//	c, err := libvirtconn.Dial(libvirtconn.Config{})       // defaults: DefaultSockets, DefaultURI
//	defer c.Close()
//	doms, err := c.ListPersistent()
//	xml, err := c.InactiveXML(uuid)
//	dom, err := c.DefineXML(doc)
//
//	// Following (virtswitchd): stay connected, deliver lifecycle events.
//	f := libvirtconn.NewFollower(libvirtconn.Config{Logger: log})
//	f.OnConnect(func(c *libvirtconn.Client) { ... })   // after every (re)connect
//	f.OnEvent(func(c *libvirtconn.Client, ev libvirtconn.Event) { ... })
//	go f.Run(ctx)                                        // returns when ctx ends
//
// The Follower connects, registers for domain lifecycle events and, when
// libvirt goes away (restart, crash, a call that times out), reconnects
// with exponential backoff (Config.MinBackoff doubling to MaxBackoff). It
// never blocks its caller: Run is its own goroutine, and nothing else in
// the daemon waits for libvirt. Handlers run one at a time, in event order,
// on the Follower's goroutine: OnConnect handlers first after each
// connect (events missed while libvirt was away are not replayed; a handler
// that must not miss a state rescans there), then each event to every
// OnEvent handler in registration order. A handler that does slow work
// should hand it off; a call it makes through the Client passed to it is
// bounded by Config.CallTimeout.
//
// Every call is bounded by CallTimeout. A call that times out closes the
// connection (libvirt is wedged or gone), so the Follower reconnects.
//
// Files: client.go (dialling, the calls), event.go (Event and its names),
// follower.go (reconnecting, event delivery).
package libvirtconn
