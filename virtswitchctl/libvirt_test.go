package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// libvirtWorld: a private libvirtd, a config dir with red-vepa, and the
// environment that points virtswitchctl at both.
func libvirtWorld(t *testing.T) (*testenv.Libvirtd, string) {
	t.Helper()
	lv := testenv.StartLibvirtd(t)
	t.Setenv("VIRTSWITCH_LIBVIRT_SOCKET", lv.Socket)
	t.Setenv("VIRTSWITCH_LIBVIRT_URI", testenv.LibvirtURI)
	dir := filepath.Join(t.TempDir(), "networks")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "red-vepa.xml"), []byte(testenv.SeedVEPA), 0o644)
	return lv, dir
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func inactive(t *testing.T, lv *testenv.Libvirtd, name string) string {
	t.Helper()
	x, err := lv.Virsh("dumpxml", "--inactive", name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

const (
	clUUID = "3f1d2a55-0c6e-4a8e-9d55-00000000c001"
	clMAC  = "52:54:00:c1:00:01"
)

func TestDefineDumpxml(t *testing.T) {
	lv, dir := libvirtWorld(t)
	doc := testenv.TCGDomainXML("cl-one", clUUID, testenv.FormAInterface("red-vepa", "", clMAC, ""))
	file := writeFile(t, "cl-one.xml", doc)

	code, out, errOut := ctl(t, "", "define", file, "--config-dir", dir)
	if code != 0 || out != "Domain 'cl-one' defined from "+file+"\n" {
		t.Fatalf("define: %d %q %q", code, out, errOut)
	}
	x := inactive(t, lv, "cl-one")
	if d, err := xmlrewrite.Inspect([]byte(x)); err != nil || len(d.Ports) != 1 || len(d.FormA) != 0 {
		t.Fatalf("libvirt does not hold Form B: %v\n%s", err, x)
	}
	// dumpxml gives Form A back, by name or UUID; the password only with
	// --security-info.
	for _, who := range []string{"cl-one", clUUID} {
		code, out, errOut = ctl(t, "", "dumpxml", who)
		if code != 0 || !strings.Contains(out, "<source network='red-vepa'/>") || strings.Contains(out, "vsw5254") {
			t.Errorf("dumpxml %s: %d %q\n%s", who, code, errOut, out)
		}
		if dec, _, _ := xmlrewrite.Decode([]byte(x)); out != string(dec) {
			t.Errorf("dumpxml %s is not the decoded definition", who)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Error("dumpxml printed the password without --security-info")
	}
	if _, out, _ = ctl(t, "", "dumpxml", "--inactive", "--security-info", "cl-one"); !strings.Contains(out, "passwd='s3cret'") {
		t.Error("dumpxml --security-info lacks the password")
	}

	// Standard input; redefinition keeps it Form B.
	code, out, _ = ctl(t, doc, "define", "-", "--config-dir="+dir)
	if code != 0 || out != "Domain 'cl-one' defined from standard input\n" {
		t.Errorf("define -: %d %q", code, out)
	}

	// Bad input: one line, exit 1, nothing defined.
	for name, c := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"libvirt refuses": {"<domain type='qemu'><name>cl-bad</name></domain>", []string{"define", "-", "--config-dir", dir, "--validate"}, "libvirt refused the domain definition"},
		"not XML":         {"<domain", []string{"define", "-", "--config-dir", dir}, "XML"},
		"no config dir":   {doc, []string{"define", "-", "--config-dir", "/nonexistent"}, "config dir '/nonexistent' is not a directory"},
		"dumpxml unknown": {"", []string{"dumpxml", "cl-nope"}, "domain 'cl-nope' not found"},
		"unreachable":     {doc, []string{"define", "-", "--config-dir", dir, "--libvirt-socket", "/nonexistent-sock"}, "libvirt is not reachable"},
	} {
		code, out, errOut := ctl(t, c.stdin, c.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: %d %q %q, want exit 1 and one line with %q", name, code, out, errOut, c.want)
		}
	}
	if list, _ := lv.Virsh("list", "--all", "--name"); strings.TrimSpace(list) != "cl-one" {
		t.Errorf("domains after bad input: %q", list)
	}
	if code, _, errOut := ctl(t, "", "dumpxml"); code != 2 || !strings.Contains(errOut, "usage: virtswitchctl dumpxml DOMAIN") {
		t.Errorf("dumpxml without a domain: %d %q", code, errOut)
	}
}

func TestCreate(t *testing.T) {
	lv, dir := libvirtWorld(t)
	file := writeFile(t, "cl-tr.xml", testenv.TCGDomainXML("cl-tr", "3f1d2a55-0c6e-4a8e-9d55-00000000c002"))
	code, out, errOut := ctl(t, "", "create", file, "--config-dir", dir)
	if code != 0 || out != "Domain 'cl-tr' created from "+file+"\n" {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	defer lv.Virsh("destroy", "cl-tr")
	if p, _ := lv.Virsh("dominfo", "cl-tr"); !strings.Contains(p, "Persistent:     no") || !strings.Contains(p, "running") {
		t.Errorf("not a running transient domain:\n%s", p)
	}
	// The running domain's XML, in Form A.
	if code, out, _ := ctl(t, "", "dumpxml", "cl-tr"); code != 0 || !strings.Contains(out, "<name>cl-tr</name>") {
		t.Errorf("dumpxml of a running domain: %d\n%s", code, out)
	}
	// What libvirt receives is Form B: the start fails on the unmanaged
	// device that no daemon created — or, while someone's `make e2e` has
	// virtswitch's hook installed (testenv.StartLibvirtd), in that hook,
	// which fails only a domain with Form B ports or a Form A interface on
	// a network of /etc/virtswitch/networks (red-vepa is not one there).
	doc := testenv.TCGDomainXML("cl-tr2", "3f1d2a55-0c6e-4a8e-9d55-00000000c003", testenv.FormAInterface("red-vepa", "", "52:54:00:c1:00:03", ""))
	code, _, errOut = ctl(t, doc, "create", "-", "--config-dir", dir)
	if _, err := os.Stat("/etc/virtswitch/networks/red-vepa.xml"); err == nil {
		t.Skip("this host defines red-vepa: the hook would refuse Form A too")
	}
	if code != 1 || !(strings.Contains(errOut, "target managed='no' but specified dev doesn't exist") ||
		strings.Contains(errOut, "hooks/qemu.d/virtswitch cl-tr2 prepare begin")) {
		t.Errorf("create of Form B without its device: %d %q, want libvirt's error about the unmanaged device", code, errOut)
	}
}

func TestEdit(t *testing.T) {
	lv, dir := libvirtWorld(t)
	doc := testenv.TCGDomainXML("cl-ed", clUUID, testenv.FormAInterface("red-vepa", "", clMAC, ""))
	if code, _, errOut := ctl(t, doc, "define", "-", "--config-dir", dir); code != 0 {
		t.Fatal(errOut)
	}
	before := inactive(t, lv, "cl-ed")
	seen := filepath.Join(t.TempDir(), "seen.xml")
	count := filepath.Join(t.TempDir(), "count")

	// Unchanged.
	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", "true")
	if code, out, _ := ctl(t, "", "edit", "cl-ed", "--config-dir", dir); code != 0 || out != "Domain 'cl-ed' XML configuration not changed.\n" {
		t.Errorf("unchanged edit: %d %q", code, out)
	}

	// The editor sees Form A (with the password); the change is defined in Form B.
	t.Setenv("EDITOR", writeFile(t, "ed.sh", `#!/bin/sh
cp "$1" `+seen+`
sed -i "s|<memory unit='KiB'>32768</memory>|<memory unit='KiB'>65536</memory>|" "$1"
`))
	if code, out, errOut := ctl(t, "", "edit", "cl-ed", "--config-dir", dir); code != 0 || out != "Domain 'cl-ed' XML configuration edited.\n" {
		t.Fatalf("edit: %d %q %q", code, out, errOut)
	}
	s, _ := os.ReadFile(seen)
	if !strings.Contains(string(s), "<source network='red-vepa'/>") || !strings.Contains(string(s), "passwd='s3cret'") {
		t.Errorf("the editor did not get Form A with the password:\n%s", s)
	}
	x := inactive(t, lv, "cl-ed")
	if d, err := xmlrewrite.Inspect([]byte(x)); err != nil || len(d.Ports) != 1 || !strings.Contains(x, "<memory unit='KiB'>65536</memory>") {
		t.Errorf("after edit: not Form B or the change is missing (%v):\n%s", err, x)
	}

	// An invalid edit is refused, shown, and offered again; "y" reopens the
	// editor on the user's text, whose second save is valid.
	t.Setenv("EDITOR", writeFile(t, "ed2.sh", `#!/bin/sh
n=$(cat `+count+` 2>/dev/null || echo 0); echo $((n+1)) > `+count+`
if [ "$n" = 0 ]; then sed -i "s|<memory unit='KiB'>65536</memory>|<memory unit='parsecs'>1</memory>|" "$1"
else sed -i "s|<memory unit='parsecs'>1</memory>|<memory unit='KiB'>131072</memory>|" "$1"; fi
`))
	code, out, errOut := ctl(t, "y\n", "edit", "cl-ed", "--config-dir", dir)
	if code != 0 || !strings.Contains(out, "Failed. Try again? [y,n]") || !strings.Contains(out, "failed to validate against schema") || !strings.HasSuffix(out, "Domain 'cl-ed' XML configuration edited.\n") {
		t.Errorf("invalid, then fixed: %d %q %q", code, out, errOut)
	}
	if x := inactive(t, lv, "cl-ed"); !strings.Contains(x, "<memory unit='KiB'>131072</memory>") {
		t.Errorf("second save not defined:\n%s", x)
	}

	// Declined: exit 1, definition unchanged.
	t.Setenv("EDITOR", writeFile(t, "ed3.sh", `#!/bin/sh
sed -i "s|<memory unit='KiB'>131072</memory>|<memory unit='parsecs'>1</memory>|" "$1"
`))
	before = inactive(t, lv, "cl-ed")
	code, out, errOut = ctl(t, "n\n", "edit", "cl-ed", "--config-dir", dir)
	if code != 1 || !strings.Contains(out, "Failed. Try again?") || !strings.Contains(errOut, "definition is unchanged") {
		t.Errorf("declined: %d %q %q", code, out, errOut)
	}
	if after := inactive(t, lv, "cl-ed"); after != before {
		t.Error("a declined edit changed the definition")
	}
}
