package statedir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/virtswitch/virtswitch/atomicfile"
)

// Reservations (issue 14) live next to the domain files, one per token:
// DIR/reservations/TOKEN, mode 0600, written atomically. The token is 32
// lower-case hex digits from crypto/rand; ValidToken is checked before a
// token is joined into a path.
const reservationsDir = "reservations"

// NewToken is a fresh reservation token.
func NewToken() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b[:])
}

// ValidToken reports whether s has the shape NewToken gives.
func ValidToken(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (d *Dir) resvDir() string { return filepath.Join(filepath.Dir(d.path), reservationsDir) }

func (d *Dir) resvFile(token string) (string, error) {
	if !ValidToken(token) {
		return "", fmt.Errorf("'%s' is not a reservation token", printable(token))
	}
	return filepath.Join(d.resvDir(), token), nil
}

// WriteReservation stores a reservation's record.
func (d *Dir) WriteReservation(token string, data []byte) error {
	name, err := d.resvFile(token)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.resvDir(), 0o700); err != nil {
		return fmt.Errorf("state dir: %v", err)
	}
	if err := atomicfile.Write(name, data, 0o600); err != nil {
		return fmt.Errorf("reservation %s: writing: %v", token, err)
	}
	return nil
}

// RemoveReservation deletes a reservation's record; gone is success.
func (d *Dir) RemoveReservation(token string) error {
	name, err := d.resvFile(token)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reservation %s: removing: %v", token, err)
	}
	if err := atomicfile.SyncDir(d.resvDir()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state dir: fsync: %v", err)
	}
	return nil
}

// Reservations reads every reservation record, by token. Files of another
// shape (and temporary files a crash left) are ignored.
func (d *Dir) Reservations() (map[string][]byte, error) {
	out := map[string][]byte{}
	ents, err := os.ReadDir(d.resvDir())
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %v", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !ValidToken(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.resvDir(), e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reservation %s: reading: %v", e.Name(), err)
		}
		out[e.Name()] = b
	}
	return out, nil
}
