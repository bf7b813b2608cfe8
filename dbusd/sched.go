package main

// The scheduler's methods (issue 14): CheckDomain, Reserve,
// CancelReservation, DrainDevice, GetMetrics; and the network properties a
// scheduler reads (FreeDevices, DeviceStates).

import (
	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	"github.com/virtswitch/virtswitch/vswitch"
)

var schedMethods = []method{
	{"CheckDomain", []introspect.Arg{in("domainXML", "s")}, []introspect.Arg{out("fits", "b"), out("interfaces", "a(ssssbss)")}, false},
	{"Reserve", []introspect.Arg{in("domainXML", "s"), in("ttlSeconds", "u")}, []introspect.Arg{out("token", "s")}, true},
	{"CancelReservation", []introspect.Arg{in("token", "s")}, nil, true},
	{"DrainDevice", []introspect.Arg{in("network", "s"), in("device", "s"), in("drained", "b")}, nil, true},
	{"GetMetrics", nil, []introspect.Arg{out("text", "s")}, false},
}

// portCheck is one element of CheckDomain's answer, (ssssbss): MAC,
// network, portgroup, device a prepare would get, fits, the D-Bus error
// name a prepare would fail with and its message ("" when it fits).
type portCheck struct {
	MAC, Network, Portgroup, Device string
	Fits                            bool
	Error, Message                  string
}

// deviceState is one element of the DeviceStates property, a(subbb).
type deviceState struct {
	Device      string
	Connections uint32
	Exclusive   bool // held by one interface alone
	Carrier     bool // false: the device is up without carrier (cable out)
	Drained     bool
}

func (s *server) schedTable() map[string]any {
	return map[string]any{
		"CheckDomain": func(doc string) (bool, []portCheck, *dbus.Error) {
			if err := checkSize("CheckDomain", "domainXML", doc); err != nil {
				return false, nil, err
			}
			r, err := s.sw.Check([]byte(doc))
			if err != nil {
				return false, nil, dbusError(err)
			}
			out := make([]portCheck, 0, len(r.Ports))
			for _, p := range r.Ports {
				pc := portCheck{MAC: p.MAC, Network: p.Network, Portgroup: p.Portgroup, Device: p.Device, Fits: p.Fits(), Message: p.Message}
				if !p.Fits() {
					pc.Error = p.Kind.DBusName()
				}
				out = append(out, pc)
			}
			return r.Fits(), out, nil
		},
		"Reserve": func(sender dbus.Sender, doc string, ttl uint32) (string, *dbus.Error) {
			if err := s.guard("Reserve", true, sender, "domainXML", doc); err != nil {
				return "", err
			}
			if err := vswitch.CheckTTL(ttl); err != nil {
				return "", newErr(errInvalidArgs, "Reserve: %v", err)
			}
			tok, err := s.sw.Reserve([]byte(doc), ttl)
			s.metrics.Failed("reserve", err)
			return tok, dbusError(err)
		},
		"CancelReservation": func(sender dbus.Sender, token string) *dbus.Error {
			if err := s.guard("CancelReservation", true, sender, "token", token); err != nil {
				return err
			}
			return dbusError(s.sw.CancelReservation(token))
		},
		"DrainDevice": func(sender dbus.Sender, network, device string, drained bool) *dbus.Error {
			if err := s.guard("DrainDevice", true, sender, "network", network); err != nil {
				return err
			}
			if err := checkSize("DrainDevice", "device", device); err != nil {
				return err
			}
			return dbusError(s.sw.SetDrained(network, device, drained))
		},
		"GetMetrics": func() (string, *dbus.Error) {
			text, err := s.metrics.Text()
			if err != nil {
				return "", newErr(errFailed, "GetMetrics: %v", err)
			}
			return text, nil
		},
	}
}

// healthValues are the network properties of uplink health.
func healthValues(info vswitch.NetworkInfo) map[string]any {
	states := make([]deviceState, 0, len(info.Devices))
	for _, d := range info.Devices {
		states = append(states, deviceState{Device: d.Device, Connections: uint32(d.Connections),
			Exclusive: d.Exclusive, Carrier: !d.Down, Drained: d.Drained})
	}
	return map[string]any{
		"FreeDevices":  uint32(info.Free),
		"DeviceStates": states,
	}
}
