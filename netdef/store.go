package netdef

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
	"github.com/virtswitch/virtswitch/netname"
	"github.com/virtswitch/virtswitch/vport"
)

// Store is the config dir: one NAME.xml per network (SPEC §1, §9).
type Store struct{ Dir string }

func (s Store) path(name string) string { return netname.File(s.Dir, name) }

// Load parses every NAME.xml in the directory, in name order. A bad file does
// not stop the others: it yields one error that names the file and keeps the
// Kind of the parse error (InvalidXML or Unsupported). A file whose name
// differs from its <name> is an InvalidXML error. Hidden files (our own
// temporary files among them) and names not ending in .xml are skipped. A
// missing directory holds no networks.
func (s Store) Load() (nets []*Network, errs []error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("config dir '%s': %w", s.Dir, err)}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		fname := e.Name()
		if strings.HasPrefix(fname, ".") || !strings.HasSuffix(fname, ".xml") {
			continue
		}
		path := filepath.Join(s.Dir, fname)
		info, err := os.Stat(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("network file '%s': %w", path, err))
			continue
		}
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("network file '%s': %w", path, err))
			continue
		}
		n, err := Parse(data)
		if err != nil {
			errs = append(errs, apierr.Wrap(err, apierr.InvalidXML, "network file '%s'", path))
			continue
		}
		if want := strings.TrimSuffix(fname, ".xml"); n.Name != want {
			errs = append(errs, apierr.New(apierr.InvalidXML, "network file '%s' defines network '%s', expected '%s' (the file must be named after the network)", path, n.Name, want))
			continue
		}
		nets = append(nets, n)
	}
	return nets, errs
}

// Save writes n's config view to NAME.xml atomically (temporary file, fsync,
// rename, fsync of the directory), mode 0644, creating the directory if
// needed. When n.UUID is empty it is filled first, and n is updated: with the
// UUID of the definition already saved under that name if there is one (so a
// redefinition keeps it), else with a new random UUID.
//
// Save does not re-validate n beyond its name (it is a Network from Parse).
// I/O errors are returned without an apierr Kind; they name the network.
func (s Store) Save(n *Network) error {
	if !ValidName(n.Name) {
		return apierr.New(apierr.InvalidXML, "network '%s': invalid name, not saved", n.Name)
	}
	if n.UUID == "" {
		if old, err := os.ReadFile(s.path(n.Name)); err == nil {
			if on, err := Parse(old); err == nil && on.UUID != "" {
				n.UUID = on.UUID
			}
		}
		if n.UUID == "" {
			n.UUID = vport.NewUUID()
		}
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("network '%s': cannot create config dir: %w", n.Name, err)
	}
	if err := atomicfile.Write(s.path(n.Name), []byte(n.Format(nil)), 0o644); err != nil {
		return fmt.Errorf("network '%s': cannot save: %w", n.Name, err)
	}
	return nil
}

// Remove deletes NAME.xml; a file already gone is success.
func (s Store) Remove(name string) error {
	if !ValidName(name) {
		return apierr.New(apierr.InvalidXML, "network '%s': invalid name", name)
	}
	err := os.Remove(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("network '%s': cannot remove definition: %w", name, err)
	}
	if err := atomicfile.SyncDir(s.Dir); err != nil {
		return fmt.Errorf("network '%s': removed, but syncing the config dir failed: %w", name, err)
	}
	return nil
}

// Has reports whether NAME.xml exists as a regular file (following
// symlinks). It reads nothing else, so the hook can use it offline; an
// invalid name is never there.
func (s Store) Has(name string) bool { return netname.Defined(s.Dir, name) }
