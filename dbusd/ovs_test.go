package main

import (
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/vishvananda/netlink"

	"github.com/virtswitch/virtswitch/testenv"
)

const ovsBwNet = `<network>
  <name>ovs-net</name>
  <forward mode='bridge'/>
  <bridge name='ovsbr0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='tenant' default='yes'>
    <vlan>
      <tag id='42'/>
    </vlan>
    <bandwidth>
      <inbound average='AVG'/>
    </bandwidth>
  </portgroup>
</network>`

// htbRateOf is the HTB class rate (bytes/s) on link name's egress, 0 if none.
func htbRateOf(t *testing.T, ns *testenv.NetNS, name string) uint64 {
	t.Helper()
	l, err := ns.Handle().LinkByName(name)
	if err != nil {
		return 0
	}
	cs, err := ns.Handle().ClassList(l, netlink.MakeHandle(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if h, ok := c.(*netlink.HtbClass); ok {
			return h.Rate
		}
	}
	return 0
}

// Issue 17 through the real daemon: an Open vSwitch port with a VLAN and a
// bandwidth limit; a redefinition leaves the running guest's limit alone;
// kill -9 while the guest runs keeps everything, kill -9 and the guest dying
// leaves recovery to remove port, tap and IFB.
func TestKill9RecoveryOVS(t *testing.T) {
	e := newEnv(t, testenv.BusOptions{})
	o := testenv.StartOVS(t, e.ns)
	o.AddBridge("ovsbr0")
	e.start(t, "--ovs-db", o.DB)
	c := dial(t)
	var p dbus.ObjectPath
	if err := c.Call("DefineNetwork", []any{&p}, strings.Replace(ovsBwNet, "AVG", "8000", 1)); err != nil {
		t.Fatal(err)
	}
	g := encode(t, c, "ovs1", "d0000000-0000-4000-8000-000000000001",
		testenv.FormAInterface("ovs-net", "", "52:54:00:00:d0:01", ""))
	const tap, ifb = "vsw52540000d001", "vso52540000d001"
	var st string
	if err := c.Call("PrepareDomain", []any{&st}, g.formB); err != nil {
		t.Fatal(err)
	}
	stop := testenv.StartFakeQEMU(t, e.libvirt, g.name, g.uuid)
	check := func(when string) {
		t.Helper()
		if got := o.Run("--no-wait", "list-ports", "ovsbr0"); got != tap {
			t.Errorf("%s: ports %q", when, got)
		}
		if got := o.Run("get", "Port", tap, "tag"); got != "42" {
			t.Errorf("%s: tag %s", when, got)
		}
		if !strings.Contains(o.Run("get", "Interface", tap, "external-ids"), `vm-id="`+g.uuid+`"`) {
			t.Errorf("%s: no vm-id", when)
		}
		if r := htbRateOf(t, e.ns, ifb); r != 8000*1024 {
			t.Errorf("%s: inbound HTB rate %d", when, r)
		}
	}
	check("prepared")

	// A redefinition does not change the running guest's limit.
	if err := c.Call("DefineNetwork", []any{&p}, strings.Replace(ovsBwNet, "AVG", "100", 1)); err != nil {
		t.Fatal(err)
	}
	check("after redefining the network")

	e.d.Kill()
	e.start(t, "--ovs-db", o.DB)
	c = dial(t)
	check("after kill -9 and restart, the guest running")

	e.d.Kill()
	stop()
	e.start(t, "--ovs-db", o.DB)
	if got := o.Run("--no-wait", "list-ports", "ovsbr0"); got != "" {
		t.Errorf("after kill -9, the guest dead, and restart: ports %q", got)
	}
	for _, l := range []string{tap, ifb} {
		if e.ns.HasLink(t, l) {
			t.Errorf("link %s survived", l)
		}
	}
}
