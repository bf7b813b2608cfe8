// Command virtswitchctl is virtswitch's admin tool, in the style of virsh's
// net-* commands (SPEC §8). Each verb lives in the file of its group and
// registers itself in init.
//
// Global options (before or after the verb): --config-dir DIR,
// --libvirt-socket PATH[,PATH], --libvirt-uri URI, --help, --version.
//
// Exit codes: 0 success (and --help, --version), 1 the operation failed
// (message on stderr), 2 usage.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/virtswitch/virtswitch/libvirtconn"
	"github.com/virtswitch/virtswitch/netname"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

// verb is one subcommand. run returns an error for a failed operation and a
// usageError for bad arguments.
type verb struct {
	args string // argument synopsis for usage (global options not repeated)
	help string
	run  func(args []string, stdin io.Reader, stdout io.Writer) error
}

var verbs = map[string]verb{}

func register(name string, v verb) { verbs[name] = v }

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// globalOpts are accepted before or after the verb, by every verb (those
// that read networks use configDir; those that talk to libvirt, libvirt).
type globalOpts struct {
	configDir string
	libvirt   libvirtconn.Config
	help      bool
	version   bool
}

var globals globalOpts

// notes receives what a verb tells the user besides its output (warnings
// on stderr); run sets it.
var notes io.Writer = os.Stderr

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: virtswitchctl [--config-dir DIR] [--libvirt-socket PATH] [--libvirt-uri URI] VERB [ARGS]")
	fmt.Fprintln(w, "       virtswitchctl --help | --version | VERB --help")
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %-34s %s\n", n, verbs[n].args, verbs[n].help)
	}
	fmt.Fprintf(w, "--config-dir: network definitions (default %s); libvirt: VIRTSWITCH_LIBVIRT_SOCKET, VIRTSWITCH_LIBVIRT_URI\n", netname.DefaultDir)
}

// parseGlobals takes the global options out of args, wherever they are.
func parseGlobals(args []string) (globalOpts, []string, error) {
	g := globalOpts{configDir: netname.DefaultDir}
	if v := os.Getenv("VIRTSWITCH_LIBVIRT_SOCKET"); v != "" {
		g.libvirt.Sockets = strings.Split(v, ",")
	}
	g.libvirt.URI = os.Getenv("VIRTSWITCH_LIBVIRT_URI")
	valued := map[string]func(string){
		"--config-dir":     func(v string) { g.configDir = v },
		"--libvirt-socket": func(v string) { g.libvirt.Sockets = strings.Split(v, ",") },
		"--libvirt-uri":    func(v string) { g.libvirt.URI = v },
	}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-h", "--help":
			g.help = true
			continue
		case "--version":
			g.version = true
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		set, ok := valued[name]
		if !ok {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return g, nil, usagef("%s needs a value", name)
			}
			i++
			val = args[i]
		}
		if val == "" {
			return g, nil, usagef("%s needs a value", name)
		}
		set(val)
	}
	return g, rest, nil
}

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	notes = stderr
	g, args, err := parseGlobals(args)
	if err != nil {
		fmt.Fprintf(stderr, "virtswitchctl: %v\n", err)
		return 2
	}
	globals = g
	switch {
	case g.version:
		fmt.Fprintf(stdout, "virtswitchctl %s\n", version)
		return 0
	case len(args) == 0 && g.help, len(args) > 0 && args[0] == "help":
		usage(stdout)
		return 0
	case len(args) == 0:
		usage(stderr)
		return 2
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "virtswitchctl: unknown verb '%s'\n", args[0])
		usage(stderr)
		return 2
	}
	if g.help {
		fmt.Fprintf(stdout, "usage: virtswitchctl %s %s\n  %s\n", args[0], v.args, v.help)
		return 0
	}
	err = v.run(args[1:], stdin, stdout)
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
