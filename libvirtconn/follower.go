package libvirtconn

import (
	"context"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

// Follower keeps a connection to libvirt and delivers its domain
// lifecycle events (see the package doc).
type Follower struct {
	cfg Config

	mu        sync.Mutex
	onConnect []func(*Client)
	onEvent   []func(*Client, Event)
	cur       *Client
}

// NewFollower makes a Follower; nothing connects until Run.
func NewFollower(cfg Config) *Follower {
	return &Follower{cfg: cfg.withDefaults()}
}

// OnConnect adds a handler run after every successful (re)connect, before
// that connection's first event.
func (f *Follower) OnConnect(fn func(*Client)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onConnect = append(f.onConnect, fn)
}

// OnEvent adds a handler for every lifecycle event.
func (f *Follower) OnEvent(fn func(*Client, Event)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onEvent = append(f.onEvent, fn)
}

// Client is the current connection, or nil while libvirt is away. It
// never waits.
func (f *Follower) Client() *Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

func (f *Follower) handlers() ([]func(*Client), []func(*Client, Event)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.onConnect, f.onEvent
}

func (f *Follower) setCurrent(c *Client) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur = c
}

// Run connects and delivers events until ctx ends, reconnecting with
// backoff whenever libvirt goes away.
func (f *Follower) Run(ctx context.Context) {
	log := f.cfg.Logger
	backoff := f.cfg.MinBackoff
	away := false // log the first failure of a series only
	for ctx.Err() == nil {
		c, events, err := f.connect(ctx)
		if err != nil {
			if !away {
				log.Warn("libvirt not reachable; retrying with backoff", "err", err)
				away = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, f.cfg.MaxBackoff)
			continue
		}
		away = false
		backoff = f.cfg.MinBackoff
		log.Info("following libvirt's domain events", "socket", c.Socket(), "uri", f.cfg.URI)
		f.serve(ctx, c, events)
		if ctx.Err() == nil {
			log.Warn("lost the connection to libvirt; reconnecting", "socket", c.Socket())
		}
	}
}

// connect dials and registers for lifecycle events.
func (f *Follower) connect(ctx context.Context) (*Client, <-chan libvirt.DomainEventLifecycleMsg, error) {
	c, err := Dial(f.cfg)
	if err != nil {
		return nil, nil, err
	}
	var events <-chan libvirt.DomainEventLifecycleMsg
	// go-libvirt's goroutine behind events ends with ctx or the connection.
	err = c.call("registering for domain events", func() (err error) {
		events, err = c.l.LifecycleEvents(ctx)
		return err
	})
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, events, nil
}

// serve runs the handlers for one connection until it ends.
func (f *Follower) serve(ctx context.Context, c *Client, events <-chan libvirt.DomainEventLifecycleMsg) {
	f.setCurrent(c)
	defer func() {
		f.setCurrent(nil)
		c.Close()
	}()
	onConnect, onEvent := f.handlers()
	for _, h := range onConnect {
		h(c)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
			return
		case m, ok := <-events:
			if !ok {
				return
			}
			ev := eventFrom(m)
			for _, h := range onEvent {
				h(c, ev)
			}
		}
	}
}
