// Package statedir keeps virtswitchd's per-domain state files
// (SPEC §4): DIR/domains/UUID.xml, mode 0600, each written atomically so a
// crash or power cut leaves either the old file or the new one, never a torn
// one. The state dir normally lives on tmpfs (/run/virtswitch), so a host
// reboot empties it, which is exactly "no guest is running".
//
// A domain UUID arrives from D-Bus callers; ValidUUID is checked before the
// string is ever joined into a path, so "../../etc/x" cannot escape the dir.
package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/atomicfile"
)

const (
	domainsDir = "domains"
	suffix     = ".xml"
)

// Dir is an open state dir. Its methods are safe for concurrent use as long
// as no two goroutines write the same UUID at once (the daemon serialises
// per domain).
type Dir struct {
	path string // DIR/domains
}

// Open creates DIR and DIR/domains (0700) if needed and removes temporary
// files a crash may have left behind.
func Open(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("state dir: empty path")
	}
	p := filepath.Join(dir, domainsDir)
	if err := os.MkdirAll(p, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %v", err)
	}
	// MkdirAll keeps an existing dir's mode; state is root's business only.
	if err := os.Chmod(p, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %v", err)
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("state dir: %v", err)
	}
	for _, e := range ents {
		// Leftovers of a crash mid-write (List skips them too).
		if atomicfile.IsTemp(e.Name()) {
			os.Remove(filepath.Join(p, e.Name()))
		}
	}
	return &Dir{path: p}, nil
}

// Path is DIR/domains.
func (d *Dir) Path() string { return d.path }

// ValidUUID reports whether s is a UUID in libvirt's accepted textual form:
// 32 hex digits, optionally in the 8-4-4-4-12 hyphenated layout. Anything
// else (path separators, dots, spaces) is rejected.
func ValidUUID(s string) bool {
	switch len(s) {
	case 36:
		for i := 0; i < len(s); i++ {
			c := s[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if c != '-' {
					return false
				}
				continue
			}
			if !isHex(c) {
				return false
			}
		}
		return true
	case 32:
		for i := 0; i < len(s); i++ {
			if !isHex(s[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Canonical returns the hyphenated lower-case form of a valid UUID, so the
// same domain always maps to the same file whatever spelling libvirt used.
func Canonical(s string) (string, error) {
	if !ValidUUID(s) {
		return "", apierr.New(apierr.InvalidXML, "invalid domain UUID '%s'", printable(s))
	}
	h := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// printable shortens and sanitises a rejected value for an error message.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func (d *Dir) file(uuid string) (string, error) {
	c, err := Canonical(uuid)
	if err != nil {
		return "", err
	}
	return filepath.Join(d.path, c+suffix), nil
}

// Write stores data as the state of domain uuid: a temp file in the same
// dir, fsync, rename over the old file, fsync the dir. Mode 0600.
func (d *Dir) Write(uuid string, data []byte) error {
	name, err := d.file(uuid)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(name, data, 0o600); err != nil {
		return fmt.Errorf("domain %s: writing state: %v", uuid, err)
	}
	return nil
}

func (d *Dir) syncDir() error {
	if err := atomicfile.SyncDir(d.path); err != nil {
		return fmt.Errorf("state dir: fsync: %v", err)
	}
	return nil
}

// Read returns the state of domain uuid. A missing file is an error for
// which errors.Is(err, fs.ErrNotExist) holds.
func (d *Dir) Read(uuid string) ([]byte, error) {
	name, err := d.file(uuid)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("domain %s: no state: %w", uuid, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("domain %s: reading state: %v", uuid, err)
	}
	return b, nil
}

// Has reports whether domain uuid has a state file (one stat, no read); a
// bad UUID has none.
func (d *Dir) Has(uuid string) bool {
	name, err := d.file(uuid)
	if err != nil {
		return false
	}
	_, err = os.Stat(name)
	return err == nil
}

// Remove deletes the state of domain uuid; a missing file is success.
func (d *Dir) Remove(uuid string) error {
	name, err := d.file(uuid)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("domain %s: removing state: %v", uuid, err)
	}
	return d.syncDir()
}

// List returns the UUIDs that have a state file, sorted. Files whose names
// are not UUID.xml are ignored (and left alone).
func (d *Dir) List() ([]string, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("state dir: %v", err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(n, suffix) {
			continue
		}
		u := strings.TrimSuffix(n, suffix)
		if c, err := Canonical(u); err == nil && c == u {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out, nil
}
