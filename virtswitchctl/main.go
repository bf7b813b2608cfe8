// Command virtswitchctl is virtswitch's admin tool, in the style of virsh's
// net-* commands (SPEC §8). Each verb lives in the file of its group and
// registers itself in init.
//
// Exit codes: 0 success, 1 the operation failed (message on stderr), 2 usage.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// verb is one subcommand. run returns an error for a failed operation and a
// usageError for bad arguments.
type verb struct {
	args string // argument synopsis for usage
	help string
	run  func(args []string, stdin io.Reader, stdout io.Writer) error
}

var verbs = map[string]verb{}

func register(name string, v verb) { verbs[name] = v }

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: virtswitchctl VERB [ARGS]")
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %-22s %s\n", n, verbs[n].args, verbs[n].help)
	}
}

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "virtswitchctl: unknown verb '%s'\n", args[0])
		usage(stderr)
		return 2
	}
	err := v.run(args[1:], stdin, stdout)
	var ue usageError
	var se silentError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		return 1 // the output already says why
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "virtswitchctl %s: %s\nusage: virtswitchctl %s %s\n", args[0], ue.msg, args[0], v.args)
		return 2
	default:
		fmt.Fprintf(stderr, "virtswitchctl %s: %s\n", args[0], err)
		return 1
	}
}
