package busname

import "testing"

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
