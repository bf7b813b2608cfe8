package main

// domain-encode and domain-decode: offline Form A <-> Form B conversion of
// guest domain XML (SPEC §2, §8). No daemon is needed; encode learns which
// networks are virtswitch's from the config dir.

import (
	"fmt"
	"io"
	"os"

	"github.com/virtswitch/virtswitch/netdef"
	"github.com/virtswitch/virtswitch/netname"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// maxInput bounds every document we read: virsh reads XML files of up to
// 10 MiB (VSH_MAX_XML_FILE), so nothing larger is one libvirt would take.
const maxInput = 10 << 20

func init() {
	register("domain-encode", verb{
		args: "[FILE|-]",
		help: "convert interfaces on virtswitch networks to the libvirt-startable form (offline)",
		run:  runDomainEncode,
	})
	register("domain-decode", verb{
		args: "[FILE|-]",
		help: "convert virtswitch interfaces back to the portable form (offline)",
		run:  runDomainDecode,
	})
}

func runDomainEncode(args []string, stdin io.Reader, stdout io.Writer) error {
	file, err := optFileArg(args)
	if err != nil {
		return err
	}
	doc, err := readInput(file, stdin)
	if err != nil {
		return err
	}
	out, err := encodeHere(doc)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

func runDomainDecode(args []string, stdin io.Reader, stdout io.Writer) error {
	file, err := optFileArg(args)
	if err != nil {
		return err
	}
	doc, err := readInput(file, stdin)
	if err != nil {
		return err
	}
	out, _, err := xmlrewrite.Decode(doc)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// encodeHere encodes doc for this host: Form A interfaces naming networks
// of the config dir (NAME.xml exists: the hook's rule) become Form B. It
// tells the user (notes) about interfaces it leaves to libvirt and about
// portgroups this host's definition lacks (still encoded: the guest may
// start on another host; a start here would fail).
func encodeHere(doc []byte) ([]byte, error) {
	dir := globals.configDir
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("config dir '%s' is not a directory", dir)
	}
	// Has also refuses names that could reach outside the dir.
	out, _, err := xmlrewrite.Encode(doc, netdef.Store{Dir: dir}.Has)
	if err != nil {
		return nil, err
	}
	d, err := xmlrewrite.Inspect(out)
	if err != nil {
		return out, nil // Encode succeeded; Inspect's stricter Form B checks are the daemon's to report
	}
	seen := map[string]bool{}
	for _, n := range d.FormA {
		if !seen[n] {
			seen[n] = true
			fmt.Fprintf(notes, "virtswitchctl: note: network '%s' is not a virtswitch network here (no %s): its interface is left to libvirt\n",
				n, netname.File(dir, n))
		}
	}
	nets := map[string]*netdef.Network{}
	for _, p := range d.Ports {
		if p.Portgroup == "" {
			continue
		}
		n, ok := nets[p.Network]
		if !ok {
			data, err := os.ReadFile(netname.File(dir, p.Network))
			if err == nil {
				n, err = netdef.Parse(data)
			}
			if err != nil {
				fmt.Fprintf(notes, "virtswitchctl: warning: cannot check portgroups of virtswitch network '%s': %v\n", p.Network, err)
			}
			nets[p.Network] = n
		}
		if n != nil && n.Portgroup(p.Portgroup) == nil {
			fmt.Fprintf(notes, "virtswitchctl: warning: virtswitch network '%s' has no portgroup '%s' on this host (interface %s): "+
				"encoded anyway, the guest may start on another host; starting it here would fail\n", p.Network, p.Portgroup, p.MAC)
		}
	}
	return out, nil
}

// optFileArg reads [FILE|-]: no file, or "-", means standard input.
func optFileArg(args []string) (string, error) {
	if len(args) == 0 {
		return "-", nil
	}
	return oneArg(args, "FILE (or - for standard input)")
}

// readArg reads the one FILE|- argument: what it names for messages
// ("standard input" for -) and its content.
func readArg(args []string, stdin io.Reader, what string) (from string, data []byte, err error) {
	file, err := oneArg(args, "FILE (or - for standard input)")
	if err != nil {
		return "", nil, err
	}
	if data, err = readInput(file, stdin); err != nil {
		return "", nil, fmt.Errorf("cannot read %s: %v", what, err)
	}
	if file == "-" {
		file = "standard input"
	}
	return file, data, nil
}

// readInput reads FILE, or standard input for "-": every verb's one way to
// read a document, with one size limit (maxInput).
func readInput(file string, stdin io.Reader) ([]byte, error) {
	r := stdin
	name := "standard input"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, file
	}
	doc, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", name, err)
	}
	if len(doc) > maxInput {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxInput)
	}
	return doc, nil
}
