package plumb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/virtswitch/virtswitch/vlan"
)

// OVS reaches Open vSwitch the way libvirt does, through ovs-vsctl, with
// every call bounded: ovs-vsctl's own --timeout (it waits for ovsdb-server
// and for ovs-vswitchd to apply a change) and a context deadline a little
// later that kills it if it still hangs. The zero value uses ovs-vsctl from
// PATH, its default database socket and a 5 s timeout (libvirt's).
type OVS struct {
	Vsctl   string        // path of ovs-vsctl; "" = looked up in PATH
	DB      string        // ovs-vsctl --db=...; "" = its default (unix:/run/openvswitch/db.sock)
	Timeout time.Duration // per call; 0 = 5 s
}

// OVSPort is the port a guest's tap becomes, with the external-ids libvirt
// sets on it (virNetDevOpenvswitchAddPort).
type OVSPort struct {
	Bridge      string     // the Open vSwitch bridge
	InterfaceID string     // external-ids:iface-id (the merged virtualport's interfaceid)
	ProfileID   string     // Port external-ids:port-profile, "" = none
	VMID        string     // external-ids:vm-id (the domain UUID)
	Vlan        *vlan.Vlan // tag, trunks, vlan_mode; nil = none
}

const defaultOVSTimeout = 5 * time.Second

func (o *OVS) timeout() time.Duration {
	if o == nil || o.Timeout <= 0 {
		return defaultOVSTimeout
	}
	return o.Timeout
}

// vsctl runs ovs-vsctl with args; the error is one line with its stderr.
func (o *OVS) vsctl(args ...string) (string, error) {
	bin := "ovs-vsctl"
	if o != nil && o.Vsctl != "" {
		bin = o.Vsctl
	}
	t := o.timeout()
	secs := int((t + time.Second - 1) / time.Second)
	full := []string{"--timeout=" + strconv.Itoa(secs)}
	if o != nil && o.DB != "" {
		full = append(full, "--db="+o.DB)
	}
	full = append(full, args...)
	ctx, cancel := context.WithTimeout(context.Background(), t+2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("no answer within the %s timeout (is ovsdb-server or ovs-vswitchd not running?)", t+2*time.Second)
	}
	if err != nil {
		ve := &vsctlError{msg: strings.TrimSpace(stderr.String())}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ve.code = ee.ExitCode()
		}
		if ve.msg == "" {
			ve.msg = err.Error()
		}
		if ve.code == -1 {
			// Killed by its own --timeout alarm (SIGALRM).
			ve.msg = fmt.Sprintf("no answer within the %s timeout (is ovsdb-server or ovs-vswitchd not running?)", t)
		}
		if errors.Is(err, exec.ErrNotFound) {
			ve.msg = "ovs-vsctl not found (is Open vSwitch installed?)"
		}
		return "", ve
	}
	return strings.TrimSpace(stdout.String()), nil
}

// vsctlError is a failed ovs-vsctl: its exit code and stderr.
type vsctlError struct {
	code int
	msg  string
}

func (e *vsctlError) Error() string { return e.msg }

// BridgeExists reports whether Open vSwitch has a bridge called name.
func (o *OVS) BridgeExists(name string) (bool, error) {
	_, err := o.vsctl("br-exists", name)
	var ve *vsctlError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ve) && ve.code == 2:
		// br-exists exits 2, silently, when there is no such bridge.
		return false, nil
	}
	return false, err
}

// vlanArgs are the Port columns for v, as libvirt writes them
// (virNetDevOpenvswitchConstructVlans): vlan_mode for a native VLAN, then
// trunks for a trunk, else tag.
func vlanArgs(v *vlan.Vlan) []string {
	if v == nil || len(v.Tags) == 0 {
		return nil
	}
	var out []string
	switch v.NativeMode {
	case vlan.NativeTagged:
		out = append(out, "vlan_mode=native-tagged", "tag="+strconv.FormatUint(uint64(v.NativeTag), 10))
	case vlan.NativeUntagged:
		out = append(out, "vlan_mode=native-untagged", "tag="+strconv.FormatUint(uint64(v.NativeTag), 10))
	}
	if v.Trunk {
		tags := make([]string, len(v.Tags))
		for i, t := range v.Tags {
			tags[i] = strconv.FormatUint(uint64(t), 10)
		}
		out = append(out, "trunks="+strings.Join(tags, ","))
	} else {
		out = append(out, "tag="+strconv.FormatUint(uint64(v.Tags[0]), 10))
	}
	return out
}

// CreateOVSTap creates a tap like CreateTap (persistent, IFF_VNET_HDR,
// MAC = guest MAC with 0xFE first, multi-queue for queues > 1) and adds it
// to the Open vSwitch bridge port.Bridge with libvirt's external-ids
// (attached-mac = the guest MAC, iface-id, iface-status=active, vm-id),
// the port-profile and the VLAN settings. The bridge must exist in Open
// vSwitch. All or nothing: a failure removes the port (which ovs-vsctl may
// have committed before it timed out waiting for ovs-vswitchd) and the tap.
func (p *Plumber) CreateOVSTap(name, mac string, queues int, o *OVS, port OVSPort, opts ...CreateOption) error {
	if err := checkName("bridge", port.Bridge); err != nil {
		return err
	}
	if port.InterfaceID == "" {
		return plumbErr("cannot create tap '%s' on Open vSwitch bridge '%s': no interfaceid", name, port.Bridge)
	}
	hw, err := guestMAC(mac, "tap '"+name+"'")
	if err != nil {
		return err
	}
	return p.createTap(name, mac, queues, createOptions(opts), tapJoin{
		where: "Open vSwitch bridge '" + port.Bridge + "'",
		check: func(what string) (int, error) {
			ok, err := o.BridgeExists(port.Bridge)
			if err != nil {
				return 0, plumbErr("cannot create %s: asking Open vSwitch about bridge '%s': %v", what, port.Bridge, errText(err))
			}
			if !ok {
				return 0, plumbErr("cannot create %s: Open vSwitch bridge '%s' does not exist (virtswitch never creates host bridges)", what, port.Bridge)
			}
			// The bridge's own device, when the datapath has one here,
			// gives the MTU (as for a Linux bridge); else the default.
			if br, found, err := p.linkByName(port.Bridge); err == nil && found {
				return br.Attrs().MTU, nil
			}
			return 0, nil
		},
		join: func(tap netlink.Link, rev *reverter, what string) error {
			args := []string{"--", "--may-exist", "add-port", port.Bridge, name}
			args = append(args, vlanArgs(port.Vlan)...)
			set := func(table, kv string) { args = append(args, "--", "set", table, name, kv) }
			set("Interface", "external-ids:attached-mac=\""+hw.String()+"\"")
			set("Interface", "external-ids:iface-id=\""+port.InterfaceID+"\"")
			if port.VMID != "" {
				set("Interface", "external-ids:vm-id=\""+port.VMID+"\"")
			}
			set("Interface", "external-ids:iface-status=active")
			if port.ProfileID != "" {
				set("Port", "external-ids:port-profile=\""+port.ProfileID+"\"")
			}
			rev.add("removing Open vSwitch port '"+name+"'", func() error { return o.DeletePort(name) })
			if _, err := o.vsctl(args...); err != nil {
				return plumbErr("cannot add %s to Open vSwitch bridge '%s': %v", what, port.Bridge, errText(err))
			}
			return nil
		},
	})
}

// DeletePort removes the Open vSwitch port called name, if there is one.
// It does not wait for ovs-vswitchd (--no-wait): the port is gone from the
// database, which is what a later add-port of the name checks, and a
// missing ovs-vswitchd must not make a release hang.
func (o *OVS) DeletePort(name string) error {
	if _, err := o.vsctl("--no-wait", "--if-exists", "del-port", name); err != nil {
		return plumbErr("cannot remove Open vSwitch port '%s': %v", name, errText(err))
	}
	return nil
}

// Ports lists the names of Open vSwitch ports (any bridge) that start with
// prefix, for recovery's orphan sweep.
func (o *OVS) Ports(prefix string) ([]string, error) {
	out, err := o.vsctl("--no-wait", "--format=csv", "--no-headings", "--columns=name", "list", "Port")
	if err != nil {
		return nil, plumbErr("cannot list Open vSwitch ports: %v", errText(err))
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		n := strings.Trim(strings.TrimSpace(l), "\"")
		if n != "" && strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	return names, nil
}
