package busname

import (
	"strings"
	"testing"
)

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"red-network": "red_2dnetwork",
		"abcXYZ019":   "abcXYZ019",
		"a.b_c+d":     "a_2eb_5fc_2bd",
		"é":           "_c3_a9",
	} {
		if got := EscapePath(in); got != want {
			t.Errorf("EscapePath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := NetworkPath("red-network"); got != "/io/github/virtswitch1/network/red_2dnetwork" {
		t.Errorf("NetworkPath = %q", got)
	}
}

func TestNotRunning(t *testing.T) {
	for name, want := range map[string]bool{
		"org.freedesktop.DBus.Error.ServiceUnknown":    true,
		"org.freedesktop.DBus.Error.NameHasNoOwner":    true,
		"org.freedesktop.DBus.Error.NoReply":           true,
		"org.freedesktop.DBus.Error.Spawn.ChildExited": true,
		"org.freedesktop.DBus.Error.AccessDenied":      false,
		"org.freedesktop.DBus.Error.InvalidArgs":       false,
		"io.github.virtswitch1.Error.NotFound":         false,
		"org.freedesktop.DBus.Error.SpawnChildExited":  false,
		"": false,
	} {
		err := NotRunning(name)
		if (err != nil) != want {
			t.Errorf("NotRunning(%q) = %v, want an error: %v", name, err, want)
			continue
		}
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "virtswitchd is not running (") || !strings.Contains(msg, BusName) ||
				!strings.Contains(msg, name) || strings.Contains(msg, "\n") {
				t.Errorf("NotRunning(%q) = %q: not one line naming the daemon, the bus name and the error", name, msg)
			}
		}
	}
}
