package netdef

import (
	"fmt"
	"regexp"
	"sync"
)

// nameRE is SPEC §1's network name syntax. It also keeps names safe as file
// names in the config dir (no '/', no leading '.').
//
// The expressions are compiled on first use, not at package initialisation:
// virtswitch-hook imports netdef (Store.Has) and libvirt runs it five times
// per guest start and stop, mostly for operations that never look at a
// name; compiling both at start-up cost each run 0.6 ms of a ~2 ms process
// (GODEBUG=inittrace=1; BENCHMARKS.md, "Issue 8").
var nameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)
})

// ValidName reports whether name is a valid network name (SPEC §1). Callers
// that build paths or D-Bus object paths from a name check it first.
func ValidName(name string) bool { return nameRE().MatchString(name) }

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
