package main

// domain-encode and domain-decode: offline Form A <-> Form B conversion of
// guest domain XML (SPEC §2, §8). No daemon is needed; encode learns which
// networks are virtswitch's from the config dir.

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/virtswitch/virtswitch/netdef"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

// defaultConfigDir is where virtswitchd keeps network definitions.
const defaultConfigDir = "/etc/virtswitch/networks"

// maxDomainXML bounds what we read: virsh reads XML files of up to 10 MiB
// (VSH_MAX_XML_FILE), so nothing larger is a domain libvirt would take.
const maxDomainXML = 10 << 20

func init() {
	register("domain-encode", verb{
		args: "[FILE|-] [--config-dir DIR]",
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
	file, dir, err := domainArgs(args, true)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("config dir '%s' is not a directory", dir)
	}
	doc, err := readDomain(file, stdin)
	if err != nil {
		return err
	}
	// A network is ours when the config dir has NAME.xml (as the hook
	// decides); Has also refuses names that could reach outside the dir.
	out, _, err := xmlrewrite.Encode(doc, netdef.Store{Dir: dir}.Has)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

func runDomainDecode(args []string, stdin io.Reader, stdout io.Writer) error {
	file, _, err := domainArgs(args, false)
	if err != nil {
		return err
	}
	doc, err := readDomain(file, stdin)
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

// domainArgs parses [FILE|-] and, for encode, --config-dir DIR (or
// --config-dir=DIR), in any order. No file, or "-", means stdin.
func domainArgs(args []string, configDir bool) (file, dir string, err error) {
	dir = defaultConfigDir
	file = "-"
	seenFile := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case configDir && a == "--config-dir":
			if i+1 >= len(args) || args[i+1] == "" {
				return "", "", usagef("--config-dir needs a directory")
			}
			i++
			dir = args[i]
		case configDir && strings.HasPrefix(a, "--config-dir="):
			dir = strings.TrimPrefix(a, "--config-dir=")
			if dir == "" {
				return "", "", usagef("--config-dir needs a directory")
			}
		case a != "-" && strings.HasPrefix(a, "-"):
			return "", "", usagef("unknown option '%s'", a)
		default:
			if seenFile {
				return "", "", usagef("more than one input file")
			}
			seenFile, file = true, a
		}
	}
	return file, dir, nil
}

func readDomain(file string, stdin io.Reader) ([]byte, error) {
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
	doc, err := io.ReadAll(io.LimitReader(r, maxDomainXML+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", name, err)
	}
	if len(doc) > maxDomainXML {
		return nil, fmt.Errorf("%s: domain XML larger than %d bytes", name, maxDomainXML)
	}
	return doc, nil
}
