// Package busapi is the D-Bus client (godbus) that virtswitchctl and the
// tests use to talk to virtswitchd. The names it re-exports live in busname;
// the hook, which makes one call per process, uses buswire instead.
package busapi

import "github.com/virtswitch/virtswitch/busname"

// SPEC §6 names, from busname.
const (
	BusName           = busname.BusName
	RootPath          = busname.RootPath
	NetworkPathPrefix = busname.NetworkPathPrefix
	ManagerInterface  = busname.ManagerInterface
	NetworkInterface  = busname.NetworkInterface
	MaxInput          = busname.MaxInput
)

// NetworkPath is the object path of the network called name.
func NetworkPath(name string) string { return busname.NetworkPath(name) }
