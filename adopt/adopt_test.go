package adopt_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtswitch/virtswitch/adopt"
	"github.com/virtswitch/virtswitch/libvirtconn"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

func libvirt(t *testing.T) (*testenv.Libvirtd, *libvirtconn.Client) {
	t.Helper()
	d := testenv.StartLibvirtd(t)
	c, err := libvirtconn.Dial(libvirtconn.Config{Sockets: []string{d.Socket}, URI: testenv.LibvirtURI, CallTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return d, c
}

func ours(n string) bool { return n == "red-vepa" || n == "red-bridge" }

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newAdopter() (*adopt.Adopter, *logBuf, *[]string) {
	lb := &logBuf{}
	var adopted []string
	a := &adopt.Adopter{
		Ours:    ours,
		Adopted: func(uuid, name string) { adopted = append(adopted, uuid+" "+name) },
		Logger:  slog.New(slog.NewTextHandler(lb, nil)),
	}
	return a, lb, &adopted
}

func TestAdoptRedefinesFormAOnly(t *testing.T) {
	d, c := libvirt(t)
	const u = "6a0c5f7e-4e6b-4b83-a0a1-000000000001"
	d.Define(t, testenv.TCGDomainXML("ad-one", u, testenv.FormAInterfaceRaw("red-vepa", "", "52:54:00:ad:00:01", ""), testenv.FormAInterfaceRaw("libvirt-net", "", "52:54:00:ad:00:02", "")))
	before, err := c.InactiveXML(u)
	if err != nil {
		t.Fatal(err)
	}
	a, lb, adopted := newAdopter()
	if r := a.Domain(c, u, "ad-one"); r != adopt.Adopted {
		t.Fatalf("Domain = %v, want Adopted; log:\n%s", r, lb)
	}
	if len(*adopted) != 1 || (*adopted)[0] != u+" ad-one" {
		t.Errorf("Adopted calls = %v", *adopted)
	}
	after, _ := c.InactiveXML(u)
	// libvirt formats what it is given in its own way, so the check is the
	// inverse: decoding what libvirt holds gives back the original bytes.
	if dec, _, err := xmlrewrite.Decode(after); err != nil || !bytes.Equal(dec, before) {
		t.Errorf("Decode(adopted) is not the original definition (err %v):\n--- got\n%s\n--- want\n%s", err, dec, before)
	}
	if _, changed, _ := xmlrewrite.Encode(after, ours); changed {
		t.Error("adopted definition still has a Form A interface of ours")
	}
	dom, _ := xmlrewrite.Inspect(after)
	if len(dom.Ports) != 1 || dom.Ports[0].Network != "red-vepa" || len(dom.FormA) != 1 || dom.FormA[0] != "libvirt-net" {
		t.Errorf("after adoption: ports %+v, Form A %v", dom.Ports, dom.FormA)
	}
	if !strings.Contains(lb.String(), "adopted: persistent definition redefined in Form B") {
		t.Errorf("no log line:\n%s", lb)
	}
	// A second look (our own define's event) changes nothing.
	if r := a.Domain(c, u, "ad-one"); r != adopt.Untouched {
		t.Errorf("second Domain = %v, want Untouched", r)
	}
	if again, _ := c.InactiveXML(u); !bytes.Equal(again, after) {
		t.Error("second look changed the definition")
	}
}

func TestAdoptLeavesOthers(t *testing.T) {
	d, c := libvirt(t)
	const (
		uNone     = "6a0c5f7e-4e6b-4b83-a0a1-000000000011"
		uConflict = "6a0c5f7e-4e6b-4b83-a0a1-000000000012"
		uBad      = "6a0c5f7e-4e6b-4b83-a0a1-000000000013"
	)
	d.Define(t, testenv.TCGDomainXML("ad-none", uNone, testenv.FormAInterfaceRaw("libvirt-net", "", "52:54:00:ad:01:01", "")))
	// libvirt's own network named like ours: libvirt's wins.
	p := filepath.Join(t.TempDir(), "net.xml")
	os.WriteFile(p, []byte("<network><name>red-bridge</name><bridge name='vswtestbr9'/></network>"), 0o644)
	if _, err := d.Virsh("net-define", p); err != nil {
		t.Fatal(err)
	}
	d.Define(t, testenv.TCGDomainXML("ad-conflict", uConflict, testenv.FormAInterfaceRaw("red-bridge", "", "52:54:00:ad:01:02", "")))
	// Form B cannot carry an isolated port: encode refuses it.
	d.Define(t, testenv.TCGDomainXML("ad-bad", uBad, testenv.FormAInterfaceRaw("red-vepa", "", "52:54:00:ad:01:03", "\n      <port isolated='yes'/>")))

	a, lb, adopted := newAdopter()
	for _, c2 := range []struct {
		uuid, name string
		want       adopt.Result
		log        string
	}{
		{uNone, "ad-none", adopt.Untouched, ""},
		{uConflict, "ad-conflict", adopt.Conflict, "libvirt also defines network 'red-bridge'"},
		{uBad, "ad-bad", adopt.Failed, "not adopted, encoding failed"},
	} {
		before, _ := c.InactiveXML(c2.uuid)
		lines := strings.Count(lb.String(), "\n")
		if r := a.Domain(c, c2.uuid, c2.name); r != c2.want {
			t.Errorf("%s: Domain = %v, want %v", c2.name, r, c2.want)
		}
		if after, _ := c.InactiveXML(c2.uuid); !bytes.Equal(before, after) {
			t.Errorf("%s: definition changed", c2.name)
		}
		out := lb.String()
		if c2.log != "" && (!strings.Contains(out, c2.log) || strings.Count(out, "\n") != lines+1) {
			t.Errorf("%s: want one log line with %q; log:\n%s", c2.name, c2.log, out)
		}
	}
	if len(*adopted) != 0 {
		t.Errorf("Adopted called: %v", *adopted)
	}
	if n := a.All(c); n != 0 {
		t.Errorf("All adopted %d", n)
	}
}

// interleave runs hook after the first InactiveXML, against the real
// libvirt: what a user does while adoption is under way.
type interleave struct {
	*libvirtconn.Client
	hook   func()
	mangle func([]byte) []byte
	done   bool
}

func (i *interleave) InactiveXML(uuid string) ([]byte, error) {
	x, err := i.Client.InactiveXML(uuid)
	if !i.done && i.hook != nil {
		i.done = true
		i.hook()
	}
	return x, err
}

func (i *interleave) DefineXML(doc []byte, validate bool) (libvirtconn.Domain, error) {
	if i.mangle != nil {
		doc = i.mangle(doc)
	}
	return i.Client.DefineXML(doc, validate)
}

func TestAdoptRaces(t *testing.T) {
	d, c := libvirt(t)
	const (
		uGone  = "6a0c5f7e-4e6b-4b83-a0a1-000000000021"
		uRedef = "6a0c5f7e-4e6b-4b83-a0a1-000000000022"
		uRefus = "6a0c5f7e-4e6b-4b83-a0a1-000000000023"
	)
	a, lb, adopted := newAdopter()

	// Undefined between the read and the define: not resurrected.
	d.Define(t, testenv.TCGDomainXML("ad-gone", uGone, testenv.FormAInterfaceRaw("red-vepa", "", "52:54:00:ad:02:01", "")))
	il := &interleave{Client: c, hook: func() {
		if _, err := d.Virsh("undefine", "ad-gone"); err != nil {
			t.Error(err)
		}
	}}
	if r := a.Domain(il, uGone, "ad-gone"); r != adopt.Skipped {
		t.Errorf("vanished: Domain = %v, want Skipped; log:\n%s", r, lb)
	}
	if out, _ := d.Virsh("list", "--all", "--name"); strings.Contains(out, "ad-gone") {
		t.Error("a domain undefined mid-adoption was defined again")
	}

	// Redefined by the user meanwhile: theirs stays (its event follows).
	d.Define(t, testenv.TCGDomainXML("ad-redef", uRedef, testenv.FormAInterfaceRaw("red-vepa", "", "52:54:00:ad:02:02", "")))
	newer := testenv.TCGDomainXML("ad-redef", uRedef, testenv.FormAInterfaceRaw("red-vepa", "", "52:54:00:ad:02:02", ""), testenv.FormAInterfaceRaw("red-vepa", "", "52:54:00:ad:02:03", ""))
	il = &interleave{Client: c, hook: func() { d.Define(t, newer) }}
	if r := a.Domain(il, uRedef, "ad-redef"); r != adopt.Skipped {
		t.Errorf("redefined: Domain = %v, want Skipped", r)
	}
	if x, _ := c.InactiveXML(uRedef); strings.Count(string(x), "type='network'") != 2 {
		t.Errorf("the user's newer definition was replaced:\n%s", x)
	}

	// libvirt refuses the definition: the original stays, one line logged.
	d.Define(t, testenv.TCGDomainXML("ad-refused", uRefus, testenv.FormAInterfaceRaw("red-vepa", "", "52:54:00:ad:02:04", "")))
	before, _ := c.InactiveXML(uRefus)
	il = &interleave{Client: c, mangle: func(b []byte) []byte {
		return bytes.Replace(b, []byte("<memory"), []byte("<memory unit='parsecs'"), 1)
	}}
	lines := strings.Count(lb.String(), "\n")
	if r := a.Domain(il, uRefus, "ad-refused"); r != adopt.Failed {
		t.Errorf("refused: Domain = %v, want Failed", r)
	}
	if after, _ := c.InactiveXML(uRefus); !bytes.Equal(before, after) {
		t.Error("refused: definition changed")
	}
	if out := lb.String(); strings.Count(out, "\n") != lines+1 || !strings.Contains(out, "libvirt refused the Form B definition; the original stays") {
		t.Errorf("refused: want one log line; log:\n%s", out)
	}
	if len(*adopted) != 0 {
		t.Errorf("Adopted called: %v", *adopted)
	}
	// All adopts what is left to adopt: ad-redef and ad-refused.
	if n := a.All(c); n != 2 {
		t.Errorf("All = %d, want 2; log:\n%s", n, lb)
	}
}
