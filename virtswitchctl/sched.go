package main

// The scheduler's verbs (issue 14): domain-check, domain-reserve,
// reservation-cancel, net-drain, net-undrain, metrics.

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/virtswitch/virtswitch/busapi"
)

func init() {
	register("domain-check", verb{args: "[FILE|-]", help: "can this host serve the domain now? (exit 0 yes, 1 no)", run: domainCheck})
	register("domain-reserve", verb{args: "FILE|- [--ttl S]", help: "hold what the domain's start would take (default 300 s); prints a token", run: domainReserve})
	register("reservation-cancel", verb{args: "TOKEN", help: "drop a reservation", run: reservationCancel})
	register("net-drain", verb{args: "NETWORK DEVICE", help: "give a pool device no new guests (kept across reboots)", run: netDrain(true)})
	register("net-undrain", verb{args: "NETWORK DEVICE", help: "give a drained pool device guests again", run: netDrain(false)})
	register("metrics", verb{args: "", help: "print the Prometheus metrics (for node_exporter's textfile collector)", run: metricsVerb})
}

// defaultTTL of domain-reserve: long enough for a start or the set-up of a
// migration.
const defaultTTL = 300

type portCheck struct {
	MAC, Network, Portgroup, Device string
	Fits                            bool
	Error, Message                  string
}

// silentError makes a verb exit 1 with no further message (domain-check:
// its table already says why).
type silentError struct{ msg string }

func (e silentError) Error() string { return e.msg }

func domainCheck(args []string, stdin io.Reader, stdout io.Writer) error {
	file := "-"
	if len(args) > 0 {
		f, err := oneArg(args, "FILE (or - for standard input)")
		if err != nil {
			return err
		}
		file = f
	}
	doc, err := readInput(file, stdin)
	if err != nil {
		return err
	}
	return online(func(c *busapi.Client) error {
		var fits bool
		var ports []portCheck
		if err := c.Call("CheckDomain", []any{&fits, &ports}, string(doc)); err != nil {
			return err
		}
		rows := make([][]any, len(ports))
		for i, p := range ports {
			verdict, dev, why := "yes", p.Device, ""
			if !p.Fits {
				verdict, why = "no", p.Message
				if dev == "" {
					dev = "-"
				}
			}
			if dev == "" {
				dev = "(bridge)"
			}
			pg := p.Portgroup
			if pg == "" {
				pg = "-"
			}
			rows[i] = []any{p.MAC, p.Network, pg, dev, verdict, why}
		}
		if err := writeTable(stdout, []string{"MAC", "Network", "Portgroup", "Device", "Fits", "Reason"}, rows); err != nil {
			return err
		}
		if !fits {
			return silentError{"the domain does not fit on this host"}
		}
		return nil
	})
}

func domainReserve(args []string, stdin io.Reader, stdout io.Writer) error {
	ttl := uint64(defaultTTL)
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--ttl" || strings.HasPrefix(a, "--ttl="):
			v := strings.TrimPrefix(a, "--ttl=")
			if a == "--ttl" {
				if i+1 == len(args) {
					return usagef("--ttl needs a number of seconds")
				}
				i++
				v = args[i]
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return usagef("--ttl %q is not a number of seconds", v)
			}
			ttl = n
		case strings.HasPrefix(a, "-") && a != "-":
			return usagef("unknown option '%s'", a)
		default:
			rest = append(rest, a)
		}
	}
	file, err := oneArg(rest, "FILE (or - for standard input)")
	if err != nil {
		return err
	}
	doc, err := readInput(file, stdin)
	if err != nil {
		return err
	}
	return online(func(c *busapi.Client) error {
		var tok string
		if err := c.Call("Reserve", []any{&tok}, string(doc), uint32(ttl)); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		return nil
	})
}

func reservationCancel(args []string, _ io.Reader, stdout io.Writer) error {
	tok, err := oneArg(args, "TOKEN")
	if err != nil {
		return err
	}
	return online(func(c *busapi.Client) error {
		if err := c.Call("CancelReservation", nil, tok); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Reservation %s cancelled\n", tok)
		return nil
	})
}

func netDrain(drained bool) func([]string, io.Reader, io.Writer) error {
	return func(args []string, _ io.Reader, stdout io.Writer) error {
		if len(args) != 2 {
			return usagef("expected NETWORK and DEVICE, got %d arguments", len(args))
		}
		for _, a := range args {
			if strings.HasPrefix(a, "-") {
				return usagef("unknown option '%s'", a)
			}
		}
		return online(func(c *busapi.Client) error {
			if err := c.Call("DrainDevice", nil, args[0], args[1], drained); err != nil {
				return err
			}
			state := "drained: it gets no new guests"
			if !drained {
				state = "no longer drained"
			}
			fmt.Fprintf(stdout, "Device %s of network %s is %s\n", args[1], args[0], state)
			return nil
		})
	}
}

func metricsVerb(args []string, _ io.Reader, stdout io.Writer) error {
	if len(args) != 0 {
		return usagef("metrics takes no arguments")
	}
	return online(func(c *busapi.Client) error {
		var text string
		if err := c.Call("GetMetrics", []any{&text}); err != nil {
			return err
		}
		_, err := io.WriteString(stdout, text)
		return err
	})
}
