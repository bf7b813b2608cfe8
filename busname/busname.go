// Package busname holds virtswitch's D-Bus names (SPEC §6): the bus name,
// object paths and interfaces, and which bus errors mean that nobody serves
// the bus name. It imports only the standard library, so the hook can use
// the names without linking a D-Bus library; busapi re-exports them.
package busname

import (
	"fmt"
	"strings"
)

const (
	BusName           = "io.github.virtswitch1"
	RootPath          = "/io/github/virtswitch1"
	NetworkPathPrefix = RootPath + "/network/"
	ManagerInterface  = "io.github.virtswitch1.Manager"
	NetworkInterface  = "io.github.virtswitch1.Network"

	// MaxInput is the largest XML document any method accepts (4 MiB);
	// larger inputs get org.freedesktop.DBus.Error.InvalidArgs.
	MaxInput = 4 << 20
)

// EscapePath makes the object-path element for a network name: bytes in
// [A-Za-z0-9] are kept, every other byte is written as _xx (lower-case hex).
func EscapePath(name string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// NetworkPath is the object path of the network called name.
func NetworkPath(name string) string { return NetworkPathPrefix + EscapePath(name) }

// NotRunning is the error a client reports when the bus, not virtswitchd,
// answered a call with the error named errName because nobody serves
// BusName (no owner, no activatable service, or the owner went away before
// replying); nil when errName is not such an error.
func NotRunning(errName string) error {
	switch {
	case errName == "org.freedesktop.DBus.Error.ServiceUnknown",
		errName == "org.freedesktop.DBus.Error.NameHasNoOwner",
		errName == "org.freedesktop.DBus.Error.NoReply",
		strings.HasPrefix(errName, "org.freedesktop.DBus.Error.Spawn."):
		return fmt.Errorf("virtswitchd is not running (no owner of %s on the system bus: %s); start it with 'systemctl start virtswitchd'", BusName, errName)
	}
	return nil
}
