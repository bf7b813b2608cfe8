// Package netname holds SPEC §1's network-name rule and where a network's
// definition lives in the config dir. It is the part of netdef that
// virtswitch-hook needs to tell whether a Form A interface names one of our
// networks; it is its own package so the hook does not link netdef's parser
// (libvirtxml and regexp): libvirt runs the hook five times per guest start
// and stop, and every package it links costs each run start-up time
// (BENCHMARKS.md, "Issue 8").
package netname

import (
	"os"
	"path/filepath"
)

// DefaultDir is the config dir on a host: where virtswitchd, virtswitchctl
// and the hook look for network definitions unless told otherwise.
const DefaultDir = "/etc/virtswitch/networks"

// MaxLen is the longest valid network name, in bytes.
const MaxLen = 64

// Valid reports whether name is a valid network name (SPEC §1): 1 to 64
// ASCII letters, digits, '_', '.', '+' or '-', starting with a letter or a
// digit. The rule also keeps names safe as file names in the config dir and
// in D-Bus object paths (escaped): no '/', no leading '.'.
func Valid(name string) bool {
	if len(name) == 0 || len(name) > MaxLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '+' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// File is the definition file of network name in config dir dir.
func File(dir, name string) string { return filepath.Join(dir, name+".xml") }

// Defined reports whether dir holds a definition for name: File(dir, name)
// is a regular file (symlinks followed). An invalid name is never defined,
// so nothing outside dir is ever looked at. It reads no file contents.
func Defined(dir, name string) bool {
	if !Valid(name) {
		return false
	}
	info, err := os.Stat(File(dir, name))
	return err == nil && info.Mode().IsRegular()
}
