package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNetValidate(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := file("valid.xml", "<network><name>red</name><forward mode='vepa' dev='eth10'/></network>")
	ipNet := file("ip.xml", "<network><name>red</name><forward mode='vepa' dev='eth10'/><ip address='10.0.0.1'/></network>")
	natNet := file("nat.xml", "<network><name>def</name><forward mode='nat'/><ip address='10.0.0.1'/></network>")
	dupDev := file("dup.xml", "<network><name>blue</name><forward mode='passthrough'><interface dev='eth1'/><interface dev='eth1'/></forward></network>")
	broken := file("broken.xml", "<network><name>red</name>")

	cases := []struct {
		name  string
		args  []string
		stdin string
		code  int
		// stderr must contain all of these (code 0: stderr must be empty)
		stderr []string
		stdout string // code 0: what it validated
	}{
		{"valid file", []string{valid}, "", 0, nil, "Network red from " + valid + " is valid: mode vepa, pool of 1 device(s), 0 portgroup(s)\n"},
		{"valid stdin", []string{"-"}, "<network><name>red</name><forward mode='bridge'/><bridge name='br0'/></network>", 0, nil,
			"Network red from standard input is valid: mode bridge, host bridge br0, 0 portgroup(s)\n"},
		{"seed example", []string{"../examples/red-network-vepa.xml"}, "", 0, nil,
			"Network red-network from ../examples/red-network-vepa.xml is valid: mode vepa, pool of 1 device(s), 2 portgroup(s)\n"},
		{"forbidden element", []string{ipNet}, "", 1, []string{"network 'red'", "<ip>"}, ""},
		{"libvirt's network", []string{natNet}, "", 1, []string{"network 'def'", "mode='nat'", "libvirt's own network driver"}, ""},
		{"device twice", []string{dupDev}, "", 1, []string{"network 'blue'", "'eth1'"}, ""},
		{"not well-formed", []string{broken}, "", 1, []string{"network 'red'", "not well-formed"}, ""},
		{"invalid stdin", []string{"-"}, "<network><name>x</name><forward mode='vepa'/></network>", 1, []string{"network 'x'", "pool"}, ""},
		{"seed route example", []string{"../examples/red-network-route.xml"}, "", 1, []string{"network 'red-network'", "mode='route'"}, ""},
		{"missing file", []string{filepath.Join(dir, "nope.xml")}, "", 1, []string{"nope.xml"}, ""},
		{"no file", nil, "", 2, []string{"usage"}, ""},
		{"two files", []string{valid, valid}, "", 2, []string{"usage"}, ""},
		{"option", []string{"--status"}, "", 2, []string{"unknown option"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"net-validate"}, c.args...), strings.NewReader(c.stdin), &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.code, stderr.String())
			}
			if stdout.String() != c.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), c.stdout)
			}
			if c.code == 0 && stderr.Len() != 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
			if c.code == 1 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr %q is not one line", stderr.String())
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks %q", stderr.String(), w)
				}
			}
		})
	}
}
