package netdef

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/virtswitch/virtswitch/netname"
)

// ValidName reports whether name is a valid network name (SPEC §1). Callers
// that build paths or D-Bus object paths from a name check it first. The
// rule itself lives in netname, which the hook links without netdef.
func ValidName(name string) bool { return netname.Valid(name) }

// checkDevice checks a pool device or bridge name. The kernel's rule
// (dev_valid_name) is 1-15 bytes, not "." or "..", and no '/', ':' or
// whitespace. libvirt's schema (deviceName in basictypes.rng) further limits
// the characters to [A-Za-z0-9_.-\\:/]; the intersection of the two is what we
// accept, so every definition we accept also formats to XML that
// virt-xml-validate accepts.
func checkDevice(dev string) error {
	switch {
	case dev == "":
		return fmt.Errorf("empty device name")
	case len(dev) > 15:
		return fmt.Errorf("device name '%s' is longer than 15 bytes", shorten(dev))
	case dev == "." || dev == "..":
		return fmt.Errorf("'%s' is not a valid device name", dev)
	}
	for i := 0; i < len(dev); i++ {
		if !deviceChar(dev[i]) {
			return fmt.Errorf("device name '%s' contains %s, which a Linux interface name (or libvirt's schema) does not allow", shorten(dev), describeByte(dev[i]))
		}
	}
	return nil
}

func deviceChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c == '_', c == '.', c == '-', c == '\\':
		return true
	}
	return false
}

// portgroupNameRE is libvirt's schema for portgroup names (deviceName).
var portgroupNameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9_.\\:/-]+$`)
})

func describeByte(c byte) string {
	switch {
	case c == ' ':
		return "a space"
	case c < 0x20 || c == 0x7f:
		return fmt.Sprintf("control character 0x%02x", c)
	case c >= 0x80:
		return "a non-ASCII byte"
	}
	return fmt.Sprintf("'%c'", c)
}
