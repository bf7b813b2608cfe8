package main

import (
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

const nobody = 65534

// dbusSendAs runs dbus-send as uid (a real non-root client process).
func dbusSendAs(t *testing.T, bus *testenv.Bus, uid uint32, path, member string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("dbus-send", append([]string{"--bus=" + bus.Address, "--print-reply", "--dest=" + busapi.BusName, path, member}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type call struct {
	path, member string
	args         []string
}

// rootCalls is one call of every root method, with valid arguments.
func rootCalls(g *guest) []call {
	m := busapi.ManagerInterface + "."
	return []call{
		{busapi.RootPath, m + "DefineNetwork", []string{"string:<network><name>evil</name><forward mode='bridge'/><bridge name='br0'/></network>"}},
		{busapi.RootPath, m + "UndefineNetwork", []string{"string:red-bridge"}},
		{busapi.RootPath, m + "PrepareDomain", []string{"string:" + g.formB}},
		{busapi.RootPath, m + "ReleaseDomain", []string{"string:" + g.uuid}},
		{busapi.RootPath, m + "ReconnectDomain", []string{"string:" + g.formB}},
		{busapi.RootPath, m + "RewriteIncoming", []string{"string:" + g.formA}},
		{busapi.RootPath, m + "Reload", nil},
		{busapi.RootPath, m + "Reserve", []string{"string:" + g.formB, "uint32:60"}},
		{busapi.RootPath, m + "CancelReservation", []string{"string:" + strings.Repeat("0", 32)}},
		{busapi.RootPath, m + "DrainDevice", []string{"string:red-pass", "string:eth20", "boolean:true"}},
	}
}

// Acceptance 4: a non-root caller is refused every root method and can
// still read properties and call the "anyone" methods.
func TestNonRootCaller(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	running := encode(t, c, "vm1", "11111111-1111-1111-1111-111111111111", testenv.FormAInterface("red-bridge", "", "52:54:00:00:01:01", ""))
	var status string
	if err := c.Call("PrepareDomain", []any{&status}, running.formB); err != nil {
		t.Fatal(err)
	}
	g := encode(t, c, "vm2", "22222222-2222-2222-2222-222222222222", testenv.FormAInterface("red-pass", "", "52:54:00:00:02:01", ""))
	before := counts(t, c)
	links := e.ns.Snapshot(t)

	checkRootRefused(t, e, c, g, running, "")
	if got := counts(t, c); got != before {
		t.Errorf("counts changed: %s -> %s", before, got)
	}
	if d := testenv.Diff(links, e.ns.Snapshot(t)); d != "" {
		t.Errorf("links changed:\n%s", d)
	}

	netPath := busapi.NetworkPath("red-vepa")
	m := busapi.ManagerInterface + "."
	for _, tc := range []struct {
		c    call
		want string
	}{
		{call{busapi.RootPath, m + "ListNetworks", nil}, "/io/github/virtswitch1/network/red_2dvepa"},
		{call{busapi.RootPath, m + "LookupNetwork", []string{"string:red-pass"}}, "/io/github/virtswitch1/network/red_2dpass"},
		{call{busapi.RootPath, m + "EncodeDomain", []string{"string:" + g.formA}}, "type='ethernet'"},
		{call{busapi.RootPath, m + "DecodeDomain", []string{"string:" + g.formB}}, "<source network='red-pass'/>"},
		{call{busapi.RootPath, m + "GetDomainStatus", []string{"string:" + running.uuid}}, "<actual type='bridge'>"},
		{call{busapi.NetworkPath("red-bridge"), busapi.NetworkInterface + ".GetXMLDesc", []string{"uint32:1"}}, "connections='1'"},
		{call{netPath, "org.freedesktop.DBus.Properties.Get", []string{"string:" + busapi.NetworkInterface, "string:Mode"}}, "vepa"},
		{call{busapi.NetworkPath("red-bridge"), "org.freedesktop.DBus.Properties.Get", []string{"string:" + busapi.NetworkInterface, "string:Connections"}}, "uint32 1"},
		{call{netPath, "org.freedesktop.DBus.Properties.GetAll", []string{"string:" + busapi.NetworkInterface}}, "Devices"},
		{call{busapi.RootPath, "org.freedesktop.DBus.Properties.Get", []string{"string:" + busapi.ManagerInterface, "string:Version"}}, "string"},
		{call{busapi.RootPath, "org.freedesktop.DBus.Introspectable.Introspect", nil}, "PrepareDomain"},
		{call{netPath, "org.freedesktop.DBus.Peer.Ping", nil}, ""},
	} {
		out, err := dbusSendAs(t, e.bus, nobody, tc.c.path, tc.c.member, tc.c.args...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s as nobody: %v\n%s", tc.c.member, err, out)
		}
	}
	// Setting a property is not among the anyone calls.
	out, _ := dbusSendAs(t, e.bus, nobody, netPath, "org.freedesktop.DBus.Properties.Set", "string:"+busapi.NetworkInterface, "string:Mode", "variant:string:private")
	if !strings.Contains(out, "AccessDenied") {
		t.Errorf("Properties.Set as nobody: %s", out)
	}
}

// checkRootRefused calls every root method as nobody and expects
// AccessDenied; from names whose message must appear ("" = any).
func checkRootRefused(t *testing.T, e *env, c *busapi.Client, g, running *guest, from string) {
	t.Helper()
	for _, rc := range rootCalls(g) {
		if strings.HasSuffix(rc.member, ".ReleaseDomain") {
			rc.args = []string{"string:" + running.uuid}
		}
		out, err := dbusSendAs(t, e.bus, nobody, rc.path, rc.member, rc.args...)
		if err == nil || !strings.Contains(out, "org.freedesktop.DBus.Error.AccessDenied") || !strings.Contains(out, from) {
			t.Errorf("%s as nobody: %v\n%s", rc.member, err, out)
		}
	}
	var paths []dbus.ObjectPath
	if err := c.Call("ListNetworks", []any{&paths}); err != nil || len(paths) != 3 {
		t.Errorf("networks after refused calls: %v %v", paths, err)
	}
	var st string
	if err := c.Call("GetDomainStatus", []any{&st}, running.uuid); err != nil {
		t.Errorf("running domain's state gone: %v", err)
	}
}

// Defence in depth: with a bus policy that lets everyone through, the
// daemon's own uid check still refuses.
func TestDaemonChecksUIDItself(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{Extra: `<policy context="default"><allow send_destination="io.github.virtswitch1"/></policy>`})
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	running := encode(t, c, "vm1", "11111111-1111-1111-1111-111111111111", testenv.FormAInterface("red-bridge", "", "52:54:00:00:01:01", ""))
	var status string
	if err := c.Call("PrepareDomain", []any{&status}, running.formB); err != nil {
		t.Fatal(err)
	}
	g := encode(t, c, "vm2", "22222222-2222-2222-2222-222222222222", testenv.FormAInterface("red-pass", "", "52:54:00:00:02:01", ""))
	before := counts(t, c)
	checkRootRefused(t, e, c, g, running, "allowed only for root (caller uid 65534)")
	if got := counts(t, c); got != before {
		t.Errorf("counts changed: %s -> %s", before, got)
	}
}

// Acceptance 5: bad input gets its named error; state dir and links stay.
func TestBadInputOverBus(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	e.start(t)
	c := dial(t)
	defineSeed(t, c)
	running := encode(t, c, "vm1", "11111111-1111-1111-1111-111111111111",
		testenv.FormAInterface("red-vepa", "engineering", "de:ad:be:ef:ca:fe", "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"))
	var st string
	if err := c.Call("PrepareDomain", []any{&st}, running.formB); err != nil {
		t.Fatal(err)
	}
	formB := func(uuid string, ifaces ...string) string {
		out, _, err := xmlrewrite.Encode([]byte(testenv.DomainXML("bad", uuid, ifaces...)), func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	const u = "66666666-6666-6666-6666-666666666666"
	conflicting := strings.Replace(formB(u, testenv.FormAInterface("red-vepa", "engineering", "52:54:00:bb:00:01", "")),
		"<virtswitch:port target='vsw525400bb0001' network='red-vepa' portgroup='engineering'/>",
		"<virtswitch:port target='vsw525400bb0001' network='red-vepa' portgroup='engineering'><virtswitch:virtualport type='802.1Qbg'><virtswitch:parameters typeid='99'/></virtswitch:virtualport></virtswitch:port>", 1)
	if !strings.Contains(conflicting, "typeid='99'") {
		t.Fatalf("could not build the conflicting document:\n%s", conflicting)
	}
	huge := testenv.DomainXML("big", u, testenv.FormAInterface("red-bridge", "", "52:54:00:bb:00:01", "")) + "<!--" + strings.Repeat("x", 5<<20) + "-->"

	for _, tc := range []struct {
		name, method, arg string
		want              string // apierr kind or D-Bus error name
		says              string
	}{
		{"malformed XML", "PrepareDomain", "<domain><name>x</name><devices><interface", string(apierr.InvalidXML), "malformed"},
		{"unknown network", "PrepareDomain", formB(u, testenv.FormAInterface("blue-network", "", "52:54:00:bb:00:01", "")), string(apierr.NotFound), "'blue-network'"},
		{"missing portgroup", "PrepareDomain", formB(u, testenv.FormAInterface("red-vepa", "sales", "52:54:00:bb:00:01", "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f")), string(apierr.NotFound), "no portgroup 'sales'"},
		{"conflicting virtualport", "PrepareDomain", conflicting, string(apierr.Conflict), "mismatched typeids (99 and 33)"},
		{"path in domain UUID", "PrepareDomain", formB("../../etc/x", testenv.FormAInterface("red-bridge", "", "52:54:00:bb:00:01", "")), string(apierr.InvalidXML), "../../etc/x"},
		{"path as UUID to ReleaseDomain", "ReleaseDomain", "../../etc/x", errInvalidArgs, "not a domain UUID"},
		{"path as UUID to GetDomainStatus", "GetDomainStatus", "../../etc/x", errInvalidArgs, "not a domain UUID"},
		{"5 MiB domain", "PrepareDomain", huge, errInvalidArgs, "4 MiB"},
		{"5 MiB to RewriteIncoming", "RewriteIncoming", huge, errInvalidArgs, "4 MiB"},
		{"5 MiB to EncodeDomain", "EncodeDomain", huge, errInvalidArgs, "4 MiB"},
		{"5 MiB network", "DefineNetwork", "<network><name>big</name><forward mode='bridge'/><bridge name='br0'/><metadata><!--" + strings.Repeat("x", 5<<20) + "--></metadata></network>", errInvalidArgs, "4 MiB"},
		{"invalid network", "DefineNetwork", "<network><name>n</name><forward mode='vepa'/></network>", string(apierr.InvalidXML), "'n'"},
		{"libvirt's own network", "DefineNetwork", "<network><name>n</name><forward mode='nat'/></network>", string(apierr.Unsupported), "libvirt"},
		{"pool exhausted", "RewriteIncoming", testenv.DomainXML("bad", u, passthroughIfaces(9)...), string(apierr.PoolExhausted), "red-pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			links := e.ns.Snapshot(t)
			files := testenv.StateFiles(t, e.stateDir)
			cs := counts(t, c)
			var out string
			err := c.Call(tc.method, []any{&out}, tc.arg)
			if err == nil {
				t.Fatalf("%s succeeded", tc.method)
			}
			name, msg := errorName(err)
			if name != tc.want || !strings.Contains(msg, tc.says) || strings.Contains(msg, "\n") {
				t.Errorf("error %s %q, want %s mentioning %q", name, msg, tc.want, tc.says)
			}
			if d := testenv.Diff(links, e.ns.Snapshot(t)); d != "" {
				t.Errorf("links changed:\n%s", d)
			}
			if got := testenv.StateFiles(t, e.stateDir); !reflect.DeepEqual(got, files) {
				t.Errorf("state files changed: %v -> %v", files, got)
			}
			if got := counts(t, c); got != cs {
				t.Errorf("counts changed: %s -> %s", cs, got)
			}
		})
	}
}

func passthroughIfaces(n int) []string {
	var out []string
	for i := range n {
		out = append(out, testenv.FormAInterface("red-pass", "", fmt.Sprintf("52:54:00:bb:01:%02x", i), ""))
	}
	return out
}
