package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SPEC §2's example, in a domain written at column 0 so that the expected
// Form B is SPEC's text verbatim.
const (
	domFormA = `<domain type='kvm'>
<name>seed</name>
<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
<devices>
<interface type='network'>
  <source network='red-network' portgroup='engineering'/>
  <virtualport type='802.1Qbg'>
    <parameters instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
  </virtualport>
  <mac address='de:ad:be:ef:ca:fe'/>
  <model type='virtio'/>
</interface>
<interface type='network'>
  <source network='default'/>
  <mac address='52:54:00:00:00:01'/>
</interface>
</devices>
</domain>
`
	domFormB = `<domain type='kvm'>
<name>seed</name>
<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
<metadata>
  <virtswitch:ports xmlns:virtswitch='http://virtswitch.github.io/xmlns/domain/1.0'>
    <virtswitch:port target='vswdeadbeefcafe' network='red-network' portgroup='engineering'>
      <virtswitch:virtualport type='802.1Qbg'>
        <virtswitch:parameters instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
      </virtswitch:virtualport>
    </virtswitch:port>
  </virtswitch:ports>
</metadata>
<devices>
<interface type='ethernet'>
  <mac address='de:ad:be:ef:ca:fe'/>
  <target dev='vswdeadbeefcafe' managed='no'/>
  <model type='virtio'/>
</interface>
<interface type='network'>
  <source network='default'/>
  <mac address='52:54:00:00:00:01'/>
</interface>
</devices>
</domain>
`
)

func domainCtl(stdin string, args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := run(args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

func TestDomainEncodeDecode(t *testing.T) {
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "networks")
	if err := os.Mkdir(cfg, 0o755); err != nil {
		t.Fatal(err)
	}
	// red-network is ours; "default" is libvirt's; a file beside the config
	// dir must not make "../outside" ours.
	redNet := "<network><name>red-network</name><forward mode='vepa' dev='eth1'/><portgroup name='engineering'/></network>"
	for _, f := range []string{filepath.Join(cfg, "red-network.xml"), filepath.Join(tmp, "outside.xml")} {
		if err := os.WriteFile(f, []byte(redNet), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Encode notes each network it leaves to libvirt (point 4), on stderr.
	noteDefault := "virtswitchctl: note: network 'default' is not a virtswitch network here (no " + filepath.Join(cfg, "default.xml") + "): its interface is left to libvirt\n"
	formAFile := filepath.Join(tmp, "a.xml")
	formBFile := filepath.Join(tmp, "b.xml")
	outsideFile := filepath.Join(tmp, "outside-guest.xml")
	outside := strings.Replace(domFormA, "red-network", "../outside", 1)
	for f, s := range map[string]string{formAFile: domFormA, formBFile: domFormB, outsideFile: outside} {
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		args    []string
		stdin   string
		want    string
		wantErr string
	}{
		{"encode file", []string{"domain-encode", formAFile, "--config-dir", cfg}, "", domFormB, noteDefault},
		{"encode, option first", []string{"domain-encode", "--config-dir", cfg, formAFile}, "", domFormB, noteDefault},
		{"encode, option before the verb", []string{"--config-dir", cfg, "domain-encode", formAFile}, "", domFormB, noteDefault},
		{"encode, option with =", []string{"domain-encode", "--config-dir=" + cfg, formAFile}, "", domFormB, noteDefault},
		{"encode stdin", []string{"domain-encode", "--config-dir", cfg}, domFormA, domFormB, noteDefault},
		{"encode -", []string{"domain-encode", "-", "--config-dir", cfg}, domFormA, domFormB, noteDefault},
		{"encode Form B is a no-op", []string{"domain-encode", formBFile, "--config-dir", cfg}, "", domFormB, noteDefault},
		{"network not configured", []string{"domain-encode", formAFile, "--config-dir", tmp + "/"}, "", domFormA,
			"virtswitchctl: note: network 'red-network' is not a virtswitch network here (no " + filepath.Join(tmp, "red-network.xml") + "): its interface is left to libvirt\n" +
				strings.Replace(noteDefault, cfg, tmp, 1)},
		{"name outside the config dir", []string{"domain-encode", outsideFile, "--config-dir", cfg}, "", outside,
			"virtswitchctl: note: network '../outside' is not a virtswitch network here (no " + filepath.Join(tmp, "outside.xml") + "): its interface is left to libvirt\n" + noteDefault},
		{"decode file", []string{"domain-decode", formBFile}, "", domFormA, ""},
		{"decode stdin", []string{"domain-decode"}, domFormB, domFormA, ""},
		{"decode -", []string{"domain-decode", "-"}, domFormB, domFormA, ""},
		{"decode Form A is a no-op", []string{"domain-decode", formAFile}, "", domFormA, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := domainCtl(tc.stdin, tc.args...)
			if code != 0 || errOut != tc.wantErr {
				t.Fatalf("exit %d, stderr %q\nwant stderr %q", code, errOut, tc.wantErr)
			}
			if out != tc.want {
				t.Fatalf("stdout:\n%s\nwant:\n%s", out, tc.want)
			}
		})
	}
}

func TestDomainVerbErrors(t *testing.T) {
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.xml")
	if err := os.WriteFile(bad, []byte("<domain><name>vm1</name><devices>"), 0o644); err != nil {
		t.Fatal(err)
	}
	dupMAC := strings.Replace(domFormA, "52:54:00:00:00:01", "de:ad:be:ef:ca:fe", 1)
	if err := os.WriteFile(filepath.Join(tmp, "default.xml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "red-network.xml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  []string // in stderr
	}{
		{"malformed", []string{"domain-encode", bad, "--config-dir", tmp}, "", 1, []string{"virtswitchctl domain-encode: ", "malformed XML"}},
		{"malformed decode", []string{"domain-decode"}, "<domain>", 1, []string{"virtswitchctl domain-decode: ", "malformed XML"}},
		{"duplicate MAC", []string{"domain-encode", "--config-dir", tmp}, dupMAC, 1, []string{"domain 'seed'", "interface de:ad:be:ef:ca:fe"}},
		{"Form B without its port", []string{"domain-decode"}, strings.Replace(domFormB, "target='vswdeadbeefcafe'", "target='vsw000000000001'", 1), 1,
			[]string{"domain 'seed'", "interface de:ad:be:ef:ca:fe", "vswdeadbeefcafe"}},
		{"missing file", []string{"domain-decode", filepath.Join(tmp, "nope.xml")}, "", 1, []string{"nope.xml"}},
		{"missing config dir", []string{"domain-encode", "--config-dir", filepath.Join(tmp, "nope")}, domFormA, 1, []string{"config dir", "nope"}},
		{"two files", []string{"domain-encode", bad, bad}, "", 2, []string{"expected one FILE", "usage: virtswitchctl domain-encode"}},
		{"unknown option", []string{"domain-decode", "--status"}, "", 2, []string{"unknown option '--status'"}},
		{"option without value", []string{"domain-encode", "--config-dir"}, "", 2, []string{"--config-dir needs a value"}},
		{"empty option value", []string{"domain-encode", "--config-dir="}, "", 2, []string{"--config-dir needs a value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := domainCtl(tc.stdin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}
