package netdef

import (
	"testing"
)

func TestFormatCanonical(t *testing.T) {
	in := `<network>
  <forward dev="eth1" mode="vepa"><interface dev="eth1"/><interface dev="eth2"/></forward>
  <portgroup default="YES" name="eng"><virtualport><parameters typeid="0x21"/></virtualport></portgroup>
  <name>red</name>
  <metadata><m:x xmlns:m="urn:m">1</m:x></metadata>
  <virtualport type="802.1Qbg"><parameters typeidversion="2" managerid="011"/></virtualport>
  <uuid>09B11C53-8B5C-4EEB-8F00-D84EAA0AAA4F</uuid>
  <portgroup name="acct"/>
</network>`
	n, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	// libvirt's element order, single quotes, forward dev = first device,
	// the whole pool as children, default='yes' in lower case, numbers in
	// decimal (libvirt reads 011 as octal), metadata as given.
	want := `<network>
  <name>red</name>
  <uuid>09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f</uuid>
  <metadata><m:x xmlns:m="urn:m">1</m:x></metadata>
  <forward dev='eth1' mode='vepa'>
    <interface dev='eth1'/>
    <interface dev='eth2'/>
  </forward>
  <virtualport type='802.1Qbg'>
    <parameters managerid='9' typeidversion='2'/>
  </virtualport>
  <portgroup name='eng' default='yes'>
    <virtualport>
      <parameters typeid='33'/>
    </virtualport>
  </portgroup>
  <portgroup name='acct'>
  </portgroup>
</network>
`
	if got := n.Format(nil); got != want {
		t.Errorf("config view:\n%s\nwant:\n%s", got, want)
	}

	st := &Status{Connections: 3, Devices: map[string]uint{"eth2": 3, "eth1": 0}}
	wantSt := `<network connections='3'>
  <name>red</name>
  <uuid>09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f</uuid>
  <metadata><m:x xmlns:m="urn:m">1</m:x></metadata>
  <forward dev='eth1' mode='vepa'>
    <interface dev='eth1'/>
    <interface dev='eth2' connections='3'/>
  </forward>
`
	if got := n.Format(st); got[:len(wantSt)] != wantSt {
		t.Errorf("status view:\n%s\nwant prefix:\n%s", got, wantSt)
	}
	// No connections: no attribute, as libvirt.
	if got := n.Format(&Status{}); got != want {
		t.Errorf("status view with no connections differs from config view:\n%s", got)
	}
}

func TestFormatHostBridgeStatus(t *testing.T) {
	n, err := Parse([]byte(hostBridge("<virtualport type='openvswitch'/>")))
	if err != nil {
		t.Fatal(err)
	}
	want := `<network connections='12'>
  <name>net1</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
  <virtualport type='openvswitch'/>
</network>
`
	if got := n.Format(&Status{Connections: 12}); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
