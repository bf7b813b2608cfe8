package netdef

import (
	"fmt"
	"strings"
)

// Format writes n as canonical libvirt-style network XML: single quotes,
// two-space indent, elements in the order libvirt's formatter writes them
// (virNetworkDefFormatBuf): name, uuid, metadata, forward, bridge,
// bandwidth, virtualport, portgroups (each: virtualport, bandwidth).
//
// A pool network's <forward> carries dev= equal to the first pool device and
// lists the whole pool as <interface dev> children, first one included.
// Metadata is written back exactly as given. With st != nil (the status view,
// GetXMLDesc flag 1) <network> gets connections='N' and so does each
// <forward><interface> whose device has N > 0, as in libvirt's live XML;
// zero counts are left out, as libvirt does.
func (n *Network) Format(st *Status) string {
	var b strings.Builder
	b.WriteString("<network")
	if st != nil && st.Connections > 0 {
		fmt.Fprintf(&b, " connections='%d'", st.Connections)
	}
	b.WriteString(">\n")
	b.WriteString("  <name>" + escape(n.Name) + "</name>\n")
	if n.UUID != "" {
		b.WriteString("  <uuid>" + escape(n.UUID) + "</uuid>\n")
	}
	if n.Metadata != "" {
		b.WriteString("  <metadata>" + n.Metadata + "</metadata>\n")
	}
	if len(n.Devices) > 0 {
		fmt.Fprintf(&b, "  <forward dev='%s' mode='%s'>\n", escape(n.Devices[0]), escape(n.Mode))
		for _, d := range n.Devices {
			fmt.Fprintf(&b, "    <interface dev='%s'", escape(d))
			if st != nil && st.Devices[d] > 0 {
				fmt.Fprintf(&b, " connections='%d'", st.Devices[d])
			}
			b.WriteString("/>\n")
		}
		b.WriteString("  </forward>\n")
	} else {
		fmt.Fprintf(&b, "  <forward mode='%s'/>\n", escape(n.Mode))
	}
	if n.Bridge != "" {
		fmt.Fprintf(&b, "  <bridge name='%s'/>\n", escape(n.Bridge))
	}
	b.WriteString(n.Vlan.FormatIndented("  "))
	b.WriteString(n.Bandwidth.FormatIndented("  "))
	b.WriteString(n.VirtualPort.Format("  "))
	for _, pg := range n.Portgroups {
		fmt.Fprintf(&b, "  <portgroup name='%s'", escape(pg.Name))
		if pg.Default {
			b.WriteString(" default='yes'")
		}
		b.WriteString(">\n")
		b.WriteString(pg.Vlan.FormatIndented("    "))
		b.WriteString(pg.VirtualPort.Format("    "))
		b.WriteString(pg.Bandwidth.FormatIndented("    "))
		b.WriteString("  </portgroup>\n")
	}
	b.WriteString("</network>\n")
	return b.String()
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", "\"", "&quot;")

func escape(s string) string { return escaper.Replace(s) }
