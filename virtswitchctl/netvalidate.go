package main

import (
	"fmt"
	"io"

	"github.com/virtswitch/virtswitch/netdef"
)

// net-validate checks a network definition offline, without the daemon, by
// the same rules DefineNetwork applies (package netdef). Valid: exit 0 and
// one line saying what was validated. Invalid: exit 1 with the error on one
// line of stderr.
func init() {
	register("net-validate", verb{
		args: "FILE|-",
		help: "check a network definition offline (no daemon needed)",
		run:  netValidate,
	})
}

func netValidate(args []string, stdin io.Reader, stdout io.Writer) error {
	from, data, err := readArg(args, stdin, "network definition")
	if err != nil {
		return err
	}
	n, err := netdef.Parse(data)
	if err != nil {
		return err
	}
	what := "host bridge " + n.Bridge
	if n.Pool() {
		what = fmt.Sprintf("pool of %d device(s)", len(n.Devices))
	}
	fmt.Fprintf(stdout, "Network %s from %s is valid: mode %s, %s, %d portgroup(s)\n", n.Name, from, n.Mode, what, len(n.Portgroups))
	return nil
}
