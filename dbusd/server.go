package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/metrics"
	"github.com/virtswitch/virtswitch/statedir"
	"github.com/virtswitch/virtswitch/vswitch"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// D-Bus error names that are not virtswitch's own.
const (
	errAccessDenied = "org.freedesktop.DBus.Error.AccessDenied"
	errInvalidArgs  = "org.freedesktop.DBus.Error.InvalidArgs"
	errFailed       = "org.freedesktop.DBus.Error.Failed"
)

// server exports a vswitch.Switch on the bus. It is also the Switch's
// Observer, turning its changes into signals and property updates.
type server struct {
	conn    *dbus.Conn
	sw      *vswitch.Switch
	log     *slog.Logger
	version string

	rootProps *prop.Properties
	metrics   *metrics.Metrics // set in serve, before export

	objMu sync.Mutex
	nets  map[string]*netObject // exported network objects by name

	propMu sync.Mutex // network property values: set by updateNetwork, copied by propsSnapshot

	changeMu sync.Mutex
	changed  map[string]bool // networks whose objects need a refresh
	wake     chan struct{}
}

type netObject struct {
	path  dbus.ObjectPath
	props *prop.Properties
}

// deviceCount is one element of the Devices property, a(su).
type deviceCount struct {
	Device      string
	Connections uint32
}

func newServer(conn *dbus.Conn, log *slog.Logger, version string) *server {
	return &server{
		conn:    conn,
		log:     log,
		version: version,
		nets:    map[string]*netObject{},
		changed: map[string]bool{},
		wake:    make(chan struct{}, 1),
	}
}

// dbusError maps a Go error to its D-Bus error: our kinds to
// io.github.virtswitch1.Error.<Kind>, anything else (which vswitch should
// not produce) to the generic Failed, always with the one-line message.
func dbusError(err error) *dbus.Error {
	if err == nil {
		return nil
	}
	name := errFailed
	if k := apierr.KindOf(err); k != "" {
		name = k.DBusName()
	}
	return dbus.NewError(name, []any{err.Error()})
}

func newErr(name, format string, a ...any) *dbus.Error {
	return dbus.NewError(name, []any{fmt.Sprintf(format, a...)})
}

// requireRoot asks the bus which uid sent the call. The policy file already
// keeps non-root callers out; this check holds even if that file is
// missing or wrong.
func (s *server) requireRoot(sender dbus.Sender, member string) *dbus.Error {
	var uid uint32
	err := s.conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid)
	if err != nil {
		return newErr(errAccessDenied, "%s: cannot determine the caller's uid: %v", member, err)
	}
	if uid != 0 {
		return newErr(errAccessDenied, "%s is allowed only for root (caller uid %d)", member, uid)
	}
	return nil
}

func checkSize(member, arg, v string) *dbus.Error {
	if len(v) > busapi.MaxInput {
		return newErr(errInvalidArgs, "%s: %s is %d bytes, more than the limit of %d bytes (4 MiB)", member, arg, len(v), busapi.MaxInput)
	}
	return nil
}

func checkUUID(member, uuid string) *dbus.Error {
	if !statedir.ValidUUID(uuid) {
		if len(uuid) > 64 {
			uuid = uuid[:64] + "..."
		}
		return newErr(errInvalidArgs, "%s: '%s' is not a domain UUID", member, strings.ToValidUTF8(uuid, "?"))
	}
	return nil
}

// guard runs the checks every method shares: root-only methods check the
// caller, string inputs their size.
func (s *server) guard(m string, root bool, sender dbus.Sender, argName, arg string) *dbus.Error {
	if root {
		if err := s.requireRoot(sender, m); err != nil {
			return err
		}
	}
	if argName != "" {
		return checkSize(m, argName, arg)
	}
	return nil
}

// managerTable is the Manager's method table. Every method's first check is
// guard (see managerMethods for the root column).
func (s *server) managerTable() map[string]any {
	return map[string]any{
		"DefineNetwork": func(sender dbus.Sender, doc string) (dbus.ObjectPath, *dbus.Error) {
			if err := s.guard("DefineNetwork", true, sender, "xml", doc); err != nil {
				return "", err
			}
			info, err := s.sw.Define([]byte(doc))
			if err != nil {
				return "", dbusError(err)
			}
			s.syncNetwork(info.Name)
			return dbus.ObjectPath(busapi.NetworkPath(info.Name)), nil
		},
		"UndefineNetwork": func(sender dbus.Sender, name string) *dbus.Error {
			if err := s.guard("UndefineNetwork", true, sender, "name", name); err != nil {
				return err
			}
			if err := s.sw.Undefine(name); err != nil {
				return dbusError(err)
			}
			s.syncNetwork(name)
			return nil
		},
		"ListNetworks": func() ([]dbus.ObjectPath, *dbus.Error) {
			out := []dbus.ObjectPath{}
			for _, n := range s.sw.Networks() {
				out = append(out, dbus.ObjectPath(busapi.NetworkPath(n.Name)))
			}
			return out, nil
		},
		"LookupNetwork": func(name string) (dbus.ObjectPath, *dbus.Error) {
			if err := checkSize("LookupNetwork", "name", name); err != nil {
				return "", err
			}
			info, err := s.sw.Network(name)
			if err != nil {
				return "", dbusError(err)
			}
			return dbus.ObjectPath(busapi.NetworkPath(info.Name)), nil
		},
		"PrepareDomain": func(sender dbus.Sender, doc string) (string, *dbus.Error) {
			if err := s.guard("PrepareDomain", true, sender, "domainXML", doc); err != nil {
				return "", err
			}
			t0 := time.Now()
			st, err := s.sw.Prepare([]byte(doc))
			s.metrics.ObservePrepare(time.Since(t0), err)
			return string(st), dbusError(err)
		},
		"ReleaseDomain": func(sender dbus.Sender, uuid string) *dbus.Error {
			if err := s.guard("ReleaseDomain", true, sender, "uuid", uuid); err != nil {
				return err
			}
			if err := checkUUID("ReleaseDomain", uuid); err != nil {
				return err
			}
			t0 := time.Now()
			err := s.sw.Release(uuid)
			s.metrics.ObserveRelease(time.Since(t0))
			return dbusError(err)
		},
		"ReconnectDomain": func(sender dbus.Sender, doc string) (string, *dbus.Error) {
			if err := s.guard("ReconnectDomain", true, sender, "domainXML", doc); err != nil {
				return "", err
			}
			st, err := s.sw.Reconnect([]byte(doc))
			s.metrics.Failed("reconnect", err)
			return string(st), dbusError(err)
		},
		"RewriteIncoming": func(sender dbus.Sender, doc string) (string, *dbus.Error) {
			if err := s.guard("RewriteIncoming", true, sender, "domainXML", doc); err != nil {
				return "", err
			}
			out, err := s.sw.RewriteIncoming([]byte(doc))
			return string(out), dbusError(err)
		},
		"EncodeDomain": func(doc string) (string, *dbus.Error) {
			if err := checkSize("EncodeDomain", "xml", doc); err != nil {
				return "", err
			}
			out, _, err := xmlrewrite.Encode([]byte(doc), s.sw.HasNetwork)
			if err != nil {
				return "", dbusError(err)
			}
			return string(out), nil
		},
		"DecodeDomain": func(doc string) (string, *dbus.Error) {
			if err := checkSize("DecodeDomain", "xml", doc); err != nil {
				return "", err
			}
			out, _, err := xmlrewrite.Decode([]byte(doc))
			if err != nil {
				return "", dbusError(err)
			}
			return string(out), nil
		},
		"GetDomainStatus": func(uuid string) (string, *dbus.Error) {
			if err := checkUUID("GetDomainStatus", uuid); err != nil {
				return "", err
			}
			st, err := s.sw.DomainStatus(uuid)
			return string(st), dbusError(err)
		},
		"Reload": func(sender dbus.Sender) *dbus.Error {
			if err := s.guard("Reload", true, sender, "", ""); err != nil {
				return err
			}
			err := s.sw.Reload()
			s.syncAll()
			return dbusError(err)
		},
	}
}

// export puts the Manager and every network on the bus.
func (s *server) export() error {
	root := dbus.ObjectPath(busapi.RootPath)
	table := s.managerTable()
	for k, v := range s.schedTable() {
		table[k] = v
	}
	if err := s.conn.ExportMethodTable(table, root, busapi.ManagerInterface); err != nil {
		return err
	}
	p, err := prop.Export(s.conn, root, prop.Map{
		busapi.ManagerInterface: {"Version": {Value: s.version, Emit: prop.EmitConst}},
	})
	if err != nil {
		return err
	}
	s.rootProps = p
	intro := introspector(func() string {
		var kids []string
		if len(s.sw.Networks()) > 0 {
			kids = []string{"network"}
		}
		return objectNode(managerInterface(), s.rootProps, kids)
	})
	if err := s.conn.Export(intro, root, "org.freedesktop.DBus.Introspectable"); err != nil {
		return err
	}
	s.syncAll()
	return nil
}

// syncAll brings every network object in line with the Switch.
func (s *server) syncAll() {
	names := map[string]bool{}
	for _, n := range s.sw.Networks() {
		names[n.Name] = true
	}
	s.objMu.Lock()
	for n := range s.nets {
		names[n] = true
	}
	s.objMu.Unlock()
	for n := range names {
		s.syncNetwork(n)
	}
}

// syncNetwork exports, updates or unexports one network object, reading
// the current state, so whichever call runs last leaves it right.
func (s *server) syncNetwork(name string) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	info, err := s.sw.Network(name)
	obj := s.nets[name]
	switch {
	case err != nil && obj != nil:
		s.unexportNetwork(obj)
		delete(s.nets, name)
	case err != nil:
	case obj == nil:
		obj, err := s.exportNetwork(info)
		if err != nil {
			s.log.Error("exporting network object", "network", name, "err", err)
			return
		}
		s.nets[name] = obj
	default:
		s.updateNetwork(obj, info)
	}
}

func networkValues(info vswitch.NetworkInfo) map[string]any {
	devs := make([]deviceCount, 0, len(info.Devices))
	for _, d := range info.Devices {
		devs = append(devs, deviceCount{Device: d.Device, Connections: uint32(d.Connections)})
	}
	pgs := info.Portgroups
	if pgs == nil {
		pgs = []string{}
	}
	vals := map[string]any{
		"Name":        info.Name,
		"UUID":        info.UUID,
		"Mode":        info.Mode,
		"Bridge":      info.Bridge,
		"Portgroups":  pgs,
		"Connections": uint32(info.Connections),
		"Devices":     devs,
	}
	for k, v := range healthValues(info) {
		vals[k] = v
	}
	return vals
}

func (s *server) exportNetwork(info vswitch.NetworkInfo) (*netObject, error) {
	path := dbus.ObjectPath(busapi.NetworkPath(info.Name))
	name := info.Name
	vals := networkValues(info)
	props := map[string]*prop.Prop{}
	for k, v := range vals {
		emit := prop.EmitTrue
		if k == "Name" || k == "UUID" {
			emit = prop.EmitConst
		}
		props[k] = &prop.Prop{Value: v, Emit: emit}
	}
	p, err := prop.Export(s.conn, path, prop.Map{busapi.NetworkInterface: props})
	if err != nil {
		return nil, err
	}
	if err := s.conn.Export(propsSnapshot{p: p, mu: &s.propMu}, path, "org.freedesktop.DBus.Properties"); err != nil {
		return nil, err
	}
	table := map[string]any{
		"GetXMLDesc": func(flags uint32) (string, *dbus.Error) {
			if flags > 1 {
				return "", newErr(errInvalidArgs, "GetXMLDesc: unsupported flags 0x%x (0 config, 1 status)", flags)
			}
			x, err := s.sw.NetworkXML(name, flags == 1)
			return x, dbusError(err)
		},
	}
	if err := s.conn.ExportMethodTable(table, path, busapi.NetworkInterface); err != nil {
		return nil, err
	}
	intro := introspector(func() string { return objectNode(networkInterface(), p, nil) })
	if err := s.conn.Export(intro, path, "org.freedesktop.DBus.Introspectable"); err != nil {
		return nil, err
	}
	return &netObject{path: path, props: p}, nil
}

func (s *server) unexportNetwork(obj *netObject) {
	s.conn.ExportMethodTable(nil, obj.path, busapi.NetworkInterface)
	s.conn.Export(nil, obj.path, "org.freedesktop.DBus.Properties")
	s.conn.Export(nil, obj.path, "org.freedesktop.DBus.Introspectable")
}

// updateNetwork sets the properties that changed, which emits
// PropertiesChanged for them.
func (s *server) updateNetwork(obj *netObject, info vswitch.NetworkInfo) {
	vals := networkValues(info)
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.propMu.Lock()
	defer s.propMu.Unlock()
	for _, k := range keys {
		if k == "Name" || k == "UUID" {
			continue
		}
		if equalValue(obj.props.GetMust(busapi.NetworkInterface, k), vals[k]) {
			continue
		}
		obj.props.SetMust(busapi.NetworkInterface, k, vals[k])
	}
}

func equalValue(a, b any) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// NetworksChanged (vswitch.Observer) queues a refresh for the worker.
func (s *server) NetworksChanged(names []string) {
	s.changeMu.Lock()
	for _, n := range names {
		s.changed[n] = true
	}
	s.changeMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// DomainPrepared (vswitch.Observer) emits the signal.
func (s *server) DomainPrepared(uuid, name string) {
	if err := s.conn.Emit(busapi.RootPath, busapi.ManagerInterface+".DomainPrepared", uuid, name); err != nil {
		s.log.Warn("emitting DomainPrepared", "err", err)
	}
}

// DomainReleased (vswitch.Observer) emits the signal.
func (s *server) DomainReleased(uuid string) {
	if err := s.conn.Emit(busapi.RootPath, busapi.ManagerInterface+".DomainReleased", uuid); err != nil {
		s.log.Warn("emitting DomainReleased", "err", err)
	}
}

// DomainAdopted emits the signal (adoption redefined a domain in Form B).
func (s *server) DomainAdopted(uuid, name string) {
	if err := s.conn.Emit(busapi.RootPath, busapi.ManagerInterface+".DomainAdopted", uuid, name); err != nil {
		s.log.Warn("emitting DomainAdopted", "err", err)
	}
}

// refresh applies queued network changes until ctx ends.
func (s *server) refresh(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		s.changeMu.Lock()
		names := s.changed
		s.changed = map[string]bool{}
		s.changeMu.Unlock()
		for n := range names {
			s.syncNetwork(n)
		}
	}
}
