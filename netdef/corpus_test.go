package netdef

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/testenv"
	"github.com/virtswitch/virtswitch/vport"
)

// verdict is the expected outcome for one input file: accepted (kind ""),
// or rejected with kind and a message naming element.
type verdict struct {
	kind    apierr.Kind
	element string // substring the message must contain
	why     string // the SPEC §1 reason, for the log
}

const byLibvirt = "libvirt's own network driver"

var (
	accept      = verdict{why: "a network virtswitch serves"}
	nat         = verdict{apierr.Unsupported, byLibvirt, "forward mode nat: libvirt's network"}
	route       = verdict{apierr.Unsupported, byLibvirt, "forward mode route: libvirt's network"}
	open        = verdict{apierr.Unsupported, byLibvirt, "forward mode open: libvirt's network"}
	hostdev     = verdict{apierr.Unsupported, byLibvirt, "forward mode hostdev: libvirt's network"}
	isolated    = verdict{apierr.Unsupported, byLibvirt, "no <forward>: libvirt's network"}
	noBridgeOVS = verdict{apierr.InvalidXML, "needs either <bridge name>", "bridge mode with neither <bridge name> nor a pool (its portgroup <vlan>s would be Unsupported too; invalid wins)"}
)

// corpusVerdicts holds the expected outcome of every file of the shared
// libvirt corpus (libvirt's networkxml2xml test data). libvirt's own
// expected failures (open-network-with-forward-dev: parse error;
// passthrough-pf, passthrough-address-crash: validate error) stay failures.
var corpusVerdicts = map[string]map[string]verdict{
	"in": {
		"8021Qbh-net.xml":                        {apierr.Unsupported, "<vlan>", "private pool with 802.1Qbh, but a network <vlan>"},
		"dhcp6-nat-network.xml":                  nat,
		"dhcp6host-routed-network.xml":           route,
		"empty-allow-ipv6.xml":                   isolated,
		"host-bridge-net.xml":                    accept,
		"hostdev-pf-driver-model.xml":            hostdev,
		"hostdev.xml":                            hostdev,
		"isolated-network.xml":                   isolated,
		"isolated-ports.xml":                     {apierr.Unsupported, "<port isolated>", "host bridge with <port isolated>"},
		"leasetime-hours.xml":                    nat,
		"leasetime-infinite.xml":                 nat,
		"leasetime-minutes.xml":                  nat,
		"leasetime-seconds.xml":                  nat,
		"metadata.xml":                           accept,
		"nat-network-dns-forwarders.xml":         nat,
		"nat-network-dns-hosts.xml":              nat,
		"nat-network-dns-local-domain.xml":       nat,
		"nat-network-dns-srv-record-minimal.xml": nat,
		"nat-network-dns-txt-record.xml":         nat,
		"nat-network-explicit-flood.xml":         nat,
		"nat-network-forward-nat-ipv6.xml":       nat,
		"nat-network-forward-nat-no-address.xml": nat,
		"nat-network-mtu.xml":                    nat,
		"nat-network.xml":                        nat,
		"netboot-network.xml":                    {apierr.Unsupported, "mode='nat'", "<forward/> without mode means nat: libvirt's network"},
		"netboot-proxy-network.xml":              {apierr.Unsupported, "mode='nat'", "<forward/> without mode means nat: libvirt's network"},
		"netboot-tftp.xml":                       nat,
		"open-network-with-forward-dev.xml":      open, // libvirt: parse error
		"open-network.xml":                       open,
		"openvswitch-net.xml":                    noBridgeOVS,
		"passthrough-address-crash.xml":          {apierr.Unsupported, "<address>", "passthrough pool of PCI addresses (libvirt: validate error)"},
		"passthrough-pf.xml":                     {apierr.InvalidXML, "<ip>", "passthrough with <ip> (and a <pf>; libvirt: validate error)"},
		"routed-network.xml":                     route,
		"vepa-net.xml":                           accept,
	},
	"out": {
		"8021Qbh-net.xml":                         {apierr.Unsupported, "<vlan>", "private pool with 802.1Qbh, but a network <vlan>"},
		"bandwidth-network.xml":                   nat,
		"dhcp6-network.xml":                       nat,
		"dhcp6host-routed-network.xml":            route,
		"dnsmasq-options.xml":                     nat,
		"empty-allow-ipv6.xml":                    isolated,
		"host-bridge-net.xml":                     accept,
		"hostdev-pf.xml":                          hostdev,
		"isolated-network.xml":                    isolated,
		"isolated-ports.xml":                      {apierr.Unsupported, "<port isolated>", "host bridge with <port isolated>"},
		"leasetime-hours.xml":                     nat,
		"leasetime-infinite.xml":                  nat,
		"leasetime-minutes.xml":                   nat,
		"leasetime-seconds.xml":                   nat,
		"nat-network-dns-forward-plain.xml":       nat,
		"nat-network-dns-forwarder-no-resolv.xml": nat,
		"nat-network-dns-forwarders.xml":          nat,
		"nat-network-dns-hosts.xml":               nat,
		"nat-network-dns-srv-record-minimal.xml":  nat,
		"nat-network-dns-srv-record.xml":          nat,
		"nat-network-dns-srv-records.xml":         nat,
		"nat-network-dns-txt-record.xml":          nat,
		"nat-network-explicit-flood.xml":          nat,
		"nat-network-forward-nat-address.xml":     nat,
		"nat-network-forward-nat-ipv6.xml":        nat,
		"nat-network-forward-nat-no-address.xml":  nat,
		"nat-network-mtu.xml":                     nat,
		"nat-network-name-with-quotes.xml":        nat,
		"nat-network.xml":                         nat,
		"netboot-network.xml":                     nat,
		"netboot-proxy-network.xml":               nat,
		"openvswitch-net.xml":                     noBridgeOVS,
		"passthrough-pf.xml":                      {apierr.InvalidXML, "<ip>", "passthrough with <ip> (and a <pf>)"},
		"ptr-domains-auto.xml":                    nat,
		"routed-network-no-dns.xml":               route,
		"routed-network.xml":                      route,
		"set-mtu.xml":                             isolated,
		"vepa-net.xml":                            {apierr.Unsupported, "trustGuestRxFilters", "vepa pool, but trustGuestRxFilters on <network>"},
	},
}

// exampleVerdicts holds the expected outcome of every file in examples/.
var exampleVerdicts = map[string]verdict{
	"red-network-bridge.xml":           {why: "seed: existing host bridge"},
	"red-network-vepa.xml":             {why: "seed: macvtap vepa, portgroups accounting/engineering"},
	"red-network-passthrough.xml":      {why: "seed: passthrough pool of 8"},
	"red-network-route.xml":            {apierr.Unsupported, byLibvirt, "seed: libvirt virtual network (route)"},
	"blue-network-private-qbh.xml":     {why: "private pool, 802.1Qbh, forward dev = first interface"},
	"green-network-macvtap-bridge.xml": {why: "macvtap bridge pool, portgroups, metadata"},
	"ovs-network.xml":                  {why: "host bridge with openvswitch"},
}

func corpusDir(t *testing.T) string {
	return testenv.CorpusDir(t, "libvirt-network")
}

// checkVerdicts runs every *.xml in dir against verdicts: a file without a
// verdict, or a verdict without a file, fails the test. Accepted networks
// are returned by file name.
func checkVerdicts(t *testing.T, dir string, verdicts map[string]verdict) map[string]*Network {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no XML files in %s: %v", dir, err)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	accepted := map[string]*Network{}
	t.Logf("%-42s %-12s %s", "file ("+dir+")", "verdict", "why / message")
	for _, f := range files {
		base := filepath.Base(f)
		seen[base] = true
		v, ok := verdicts[base]
		if !ok {
			t.Errorf("%s has no expected verdict: add one to the table", base)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n, err := Parse(data)
		got := "accepted"
		if err != nil {
			got = string(apierr.KindOf(err))
		}
		want := "accepted"
		if v.kind != "" {
			want = string(v.kind)
		}
		msg := v.why
		if err != nil {
			msg += " | " + err.Error()
		}
		t.Logf("%-42s %-12s %s", base, got, msg)
		if got != want {
			t.Errorf("%s: got %s (%v), want %s", base, got, err, want)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), v.element) {
				t.Errorf("%s: message %q does not name %q", base, err, v.element)
			}
			continue
		}
		accepted[base] = n
	}
	for base := range verdicts {
		if !seen[base] {
			t.Errorf("verdict for %s, but no such file in %s", base, dir)
		}
	}
	return accepted
}

func TestCorpus(t *testing.T) {
	root := corpusDir(t)
	for _, sub := range []string{"in", "out"} {
		t.Run(sub, func(t *testing.T) {
			accepted := checkVerdicts(t, filepath.Join(root, sub), corpusVerdicts[sub])
			for name, n := range accepted {
				checkRoundTrip(t, n)
				validateXML(t, name, n)
			}
		})
	}
}

func TestExamples(t *testing.T) {
	accepted := checkVerdicts(t, filepath.Join("..", "examples"), exampleVerdicts)
	for name, n := range accepted {
		checkRoundTrip(t, n)
		validateXML(t, name, n)
	}
	// The seed's networks behave as SPEC says.
	br := accepted["red-network-bridge.xml"]
	if br.Name != "red-network" || br.Mode != ModeBridge || br.Bridge != "eth0" || br.Pool() {
		t.Errorf("seed host bridge: %+v", br)
	}
	vepa := accepted["red-network-vepa.xml"]
	if vepa.Mode != ModeVEPA || !reflect.DeepEqual(vepa.Devices, []string{"eth10"}) || !vepa.Pool() {
		t.Errorf("seed vepa: %+v", vepa)
	}
	wantVP := &vport.VirtualPort{Type: vport.Qbg, Params: &vport.Params{ManagerID: "11", TypeID: "1193047", TypeIDVersion: "2"}}
	if !reflect.DeepEqual(vepa.VirtualPort, wantVP) {
		t.Errorf("seed vepa virtualport %+v", vepa.VirtualPort)
	}
	for name, typeid := range map[string]string{"accounting": "22", "engineering": "33"} {
		pg := vepa.Portgroup(name)
		if pg == nil || pg.VirtualPort == nil || pg.VirtualPort.Type != "" || pg.VirtualPort.Get("typeid") != typeid {
			t.Errorf("seed vepa portgroup %s: %+v", name, pg)
		}
	}
	if d := vepa.DefaultPortgroup(); d == nil || d.Name != "accounting" {
		t.Errorf("seed vepa default portgroup %+v, want accounting", d)
	}
	pt := accepted["red-network-passthrough.xml"]
	wantDevs := []string{"eth10", "eth11", "eth12", "eth13", "eth14", "eth15", "eth16", "eth17"}
	if pt.Mode != ModePassthrough || !reflect.DeepEqual(pt.Devices, wantDevs) || pt.Bridge != "" {
		t.Errorf("seed passthrough: %+v", pt)
	}
	if got := pt.Format(nil); !strings.Contains(got, "<forward dev='eth10' mode='passthrough'>\n    <interface dev='eth10'/>\n") {
		t.Errorf("seed passthrough output lacks forward dev = first device:\n%s", got)
	}
	qbh := accepted["blue-network-private-qbh.xml"]
	if !reflect.DeepEqual(qbh.Devices, []string{"eth20", "eth21", "eth22"}) {
		t.Errorf("forward dev counted twice? %v", qbh.Devices)
	}
}

// validateXML checks the config and status views of n with libvirt's own
// schema (virt-xml-validate FILE network).
func validateXML(t *testing.T, name string, n *Network) {
	t.Helper()
	tool := testenv.Tool(t, "virt-xml-validate", "libvirt-clients + libxml2-utils")
	st := &Status{Connections: 5, Devices: map[string]uint{}}
	for _, d := range n.Devices {
		st.Devices[d] = 2
	}
	for view, xml := range map[string]string{"config": n.Format(nil), "status": n.Format(st)} {
		f := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".xml")+"-"+view+".xml")
		if err := os.WriteFile(f, []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tool, f, "network").CombinedOutput()
		if err != nil {
			t.Errorf("%s (%s view) fails virt-xml-validate: %v\n%s\n%s", name, view, err, out, xml)
		}
	}
}
