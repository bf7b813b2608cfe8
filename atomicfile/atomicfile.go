// Package atomicfile replaces files so that a reader, or a crash, sees the
// old content or the new, never a mix: the config dir's network definitions
// and the state dir's domain files are both written this way.
package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the name of a file being written. It is hidden, so
// directory readers that skip dot files never see a half-written file; a
// crash can leave one behind, which readers ignore and Write's next call for
// the same name does not trip over.
const TempPrefix = "."

// IsTemp reports whether a directory entry name is one of Write's temporary
// files.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// Write replaces path with data: a temporary file in the same directory with
// the given mode, fsync, rename over path, fsync the directory. On error the
// temporary file is removed and path is untouched.
func Write(path string, data []byte, mode os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making renames and removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
