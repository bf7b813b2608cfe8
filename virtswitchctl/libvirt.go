package main

// define, create, dumpxml, edit: race-free commands for scripts (issue 15
// point 3). They talk to libvirt directly (libvirtconn, libvirt's own RPC
// protocol on its local socket), not to virtswitchd: the document libvirt
// receives is already Form B, so no adoption has to happen and no start
// can race one; what they print is Form A, the portable form.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/virtswitch/virtswitch/libvirtconn"
	"github.com/virtswitch/virtswitch/xmlrewrite"
)

func init() {
	register("define", verb{
		args: "FILE|- [--validate]",
		help: "encode a domain (Form A) and define it in libvirt, in one step",
		run:  func(a []string, in io.Reader, out io.Writer) error { return runDefineCreate(a, in, out, false) },
	})
	register("create", verb{
		args: "FILE|- [--validate]",
		help: "encode a domain (Form A) and start it in libvirt as a transient domain",
		run:  func(a []string, in io.Reader, out io.Writer) error { return runDefineCreate(a, in, out, true) },
	})
	register("dumpxml", verb{
		args: "DOMAIN [--inactive] [--migratable] [--security-info]",
		help: "a domain's XML from libvirt in the portable Form A (name or UUID)",
		run:  runDumpXML,
	})
	register("edit", verb{
		args: "DOMAIN",
		help: "edit a domain's definition in Form A with $VISUAL/$EDITOR; encoded and defined on save",
		run:  runEdit,
	})
}

// libvirtOpts are a verb's arguments in this file: positional ones and
// the boolean options it knows (the global ones are in globals).
type libvirtOpts struct {
	pos   []string
	flags map[string]bool
}

func parseLibvirtArgs(args []string, npos int, bools ...string) (*libvirtOpts, error) {
	o := &libvirtOpts{flags: map[string]bool{}}
	for _, a := range args {
		if a == "-" || !strings.HasPrefix(a, "-") {
			o.pos = append(o.pos, a)
			continue
		}
		known := false
		for _, b := range bools {
			if a == "--"+b {
				o.flags[b], known = true, true
			}
		}
		if !known {
			return nil, usagef("unknown option '%s'", a)
		}
	}
	if len(o.pos) != npos {
		return nil, usagef("expected %d argument(s), got %d", npos, len(o.pos))
	}
	return o, nil
}

func runDefineCreate(args []string, stdin io.Reader, stdout io.Writer, create bool) error {
	o, err := parseLibvirtArgs(args, 1, "validate")
	if err != nil {
		return err
	}
	doc, err := readInput(o.pos[0], stdin)
	if err != nil {
		return err
	}
	formB, err := encodeHere(doc)
	if err != nil {
		return err
	}
	c, err := libvirtconn.Dial(globals.libvirt)
	if err != nil {
		return err
	}
	defer c.Close()
	from := o.pos[0]
	if from == "-" {
		from = "standard input"
	}
	if create {
		d, err := c.CreateXML(formB, o.flags["validate"])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Domain '%s' created from %s\n", d.Name, from)
		return nil
	}
	d, err := c.DefineXML(formB, o.flags["validate"])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Domain '%s' defined from %s\n", d.Name, from)
	return nil
}

func runDumpXML(args []string, _ io.Reader, stdout io.Writer) error {
	o, err := parseLibvirtArgs(args, 1, "inactive", "migratable", "security-info")
	if err != nil {
		return err
	}
	c, _, formA, err := o.formA(libvirtconn.XMLFlags{
		Inactive: o.flags["inactive"], Migratable: o.flags["migratable"], Secure: o.flags["security-info"]})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = stdout.Write(formA)
	return err
}

// formA connects and reads the domain named by the argument in Form A. The
// caller closes the client.
func (o *libvirtOpts) formA(f libvirtconn.XMLFlags) (*libvirtconn.Client, libvirtconn.Domain, []byte, error) {
	c, err := libvirtconn.Dial(globals.libvirt)
	if err != nil {
		return nil, libvirtconn.Domain{}, nil, err
	}
	d, err := c.Lookup(o.pos[0])
	var x, formA []byte
	if err == nil {
		x, err = c.DomainXML(d.UUID, f)
	}
	if err == nil {
		formA, _, err = xmlrewrite.Decode(x)
	}
	if err != nil {
		c.Close()
		return nil, d, nil, err
	}
	return c, d, formA, nil
}

// runEdit is virsh edit on Form A: the definition (passwords included, as
// virsh edit does) decoded into a private temp file, $VISUAL or $EDITOR (vi)
// on it, then encode and define with libvirt's schema check. A refused edit
// is shown and offered again; declining leaves the definition as it was.
func runEdit(args []string, stdin io.Reader, stdout io.Writer) error {
	o, err := parseLibvirtArgs(args, 1)
	if err != nil {
		return err
	}
	c, d, orig, err := o.formA(libvirtconn.XMLFlags{Inactive: true, Secure: true})
	if err != nil {
		return err
	}
	defer c.Close()
	dir, err := os.MkdirTemp("", "virtswitchctl-edit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, d.Name+".xml")
	if err := os.WriteFile(file, orig, 0o600); err != nil {
		return err
	}
	answers := bufio.NewReader(stdin)
	for {
		if err := runEditor(file); err != nil {
			return err
		}
		edited, err := readInput(file, nil)
		if err != nil {
			return err
		}
		if bytes.Equal(edited, orig) {
			fmt.Fprintf(stdout, "Domain '%s' XML configuration not changed.\n", d.Name)
			return nil
		}
		err = defineEdited(c, edited)
		if err == nil {
			fmt.Fprintf(stdout, "Domain '%s' XML configuration edited.\n", d.Name)
			return nil
		}
		fmt.Fprintf(stdout, "error: %v\nFailed. Try again? [y,n]: ", err)
		line, _ := answers.ReadString('\n')
		if a := strings.TrimSpace(strings.ToLower(line)); a != "y" && a != "yes" {
			return fmt.Errorf("edit of domain '%s' abandoned; its definition is unchanged", d.Name)
		}
	}
}

func defineEdited(c *libvirtconn.Client, doc []byte) error {
	formB, err := encodeHere(doc)
	if err != nil {
		return err
	}
	_, err = c.DefineXML(formB, true)
	return err
}

// runEditor runs $VISUAL or $EDITOR (default vi) through the shell, as
// virsh does, on the terminal.
func runEditor(file string) error {
	ed := os.Getenv("VISUAL")
	if ed == "" {
		ed = os.Getenv("EDITOR")
	}
	if ed == "" {
		ed = "vi"
	}
	cmd := exec.Command("/bin/sh", "-c", ed+` "$1"`, "sh", file)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("editor '%s' failed (%v); the definition is unchanged", ed, err)
		}
		return fmt.Errorf("running editor '%s': %w", ed, err)
	}
	return nil
}
