package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/virtswitch/virtswitch/netdef"
)

// net-validate checks a network definition offline, without the daemon, by
// the same rules DefineNetwork applies (package netdef). Valid: exit 0 and
// no output. Invalid: exit 1 with the error on one line of stderr.
func init() {
	register("net-validate", verb{
		args: "FILE|-",
		help: "check a network definition offline (no daemon needed)",
		run:  netValidate,
	})
}

func netValidate(args []string, stdin io.Reader, _ io.Writer) error {
	if len(args) != 1 {
		return usagef("expected one FILE (or - for standard input), got %d arguments", len(args))
	}
	file := args[0]
	if strings.HasPrefix(file, "-") && file != "-" {
		return usagef("unknown option '%s'", file)
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("cannot read network definition: %v", err)
	}
	_, err = netdef.Parse(data)
	return err
}
