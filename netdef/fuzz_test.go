package netdef

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/virtswitch/virtswitch/apierr"
)

// FuzzParse: Parse never panics; every rejection is a one-line InvalidXML or
// Unsupported *apierr.Error; every accepted definition formats to XML that
// parses back to an equal network and formats identically (config and
// status views).
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s -parallel 1 ./netdef/
func FuzzParse(f *testing.F) {
	for _, c := range ruleCases {
		f.Add([]byte(c.xml))
	}
	var files []string
	for _, pat := range []string{
		filepath.Join("..", "examples", "*.xml"),
		filepath.Join("..", "..", "shared", "corpus", "libvirt-network", "*", "*.xml"),
	} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Parse(data)
		if err != nil {
			e, ok := err.(*apierr.Error)
			if !ok {
				t.Fatalf("error %T is not an *apierr.Error: %v", err, err)
			}
			if e.Kind != apierr.InvalidXML && e.Kind != apierr.Unsupported {
				t.Fatalf("kind %s: %v", e.Kind, err)
			}
			if !strings.HasPrefix(e.Msg, "network") || strings.ContainsAny(e.Msg, "\n\r") {
				t.Fatalf("message does not start by naming the network, or is not one line: %q", e.Msg)
			}
			if len(e.Msg) > 520 {
				t.Fatalf("message of %d bytes", len(e.Msg))
			}
			if !utf8.ValidString(e.Msg) {
				t.Fatalf("message is not valid UTF-8 (D-Bus needs it): %q", e.Msg)
			}
			if strings.Contains(e.Msg, "internal error") {
				t.Fatalf("internal error: %v", err)
			}
			return
		}
		out := n.Format(nil)
		n2, err := Parse([]byte(out))
		if err != nil {
			t.Fatalf("accepted input formats to XML that is rejected: %v\ninput: %q\noutput:\n%s", err, data, out)
		}
		if !reflect.DeepEqual(n, n2) {
			t.Fatalf("re-parsed network differs:\n%#v\n%#v\noutput:\n%s", n, n2, out)
		}
		if out2 := n2.Format(nil); out2 != out {
			t.Fatalf("format not idempotent:\n%s\n---\n%s", out, out2)
		}
		st := &Status{Connections: 1, Devices: map[string]uint{}}
		for _, d := range n.Devices {
			st.Devices[d] = 1
		}
		n3, err := Parse([]byte(n.Format(st)))
		if err != nil || !reflect.DeepEqual(n, n3) {
			t.Fatalf("status view does not re-parse to the same network: %v", err)
		}
	})
}
