package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/busname"
	"github.com/virtswitch/virtswitch/clientenv"
)

// The online verbs talk to virtswitchd over the system bus
// (DBUS_SYSTEM_BUS_ADDRESS when set). Each call is bounded by
// VIRTSWITCH_TIMEOUT (seconds or a Go duration, as clientenv reads it;
// default 30s).
func init() {
	register("net-define", verb{args: "FILE|-", help: "define (or redefine) a network from an XML file", run: netDefine})
	register("net-undefine", verb{args: "NAME", help: "remove a network definition (refused while in use)", run: netUndefine})
	register("net-list", verb{args: "", help: "list networks with their mode and connections", run: netList})
	register("net-dumpxml", verb{args: "[--status] NAME", help: "print a network's XML (--status: with connection counts)", run: netDumpXML})
	register("net-info", verb{args: "NAME", help: "show a network's mode, devices and their connections", run: netInfo})
	register("reload", verb{args: "", help: "make virtswitchd re-read its config dir and reconcile", run: reload})
	register("domain-status", verb{args: "UUID", help: "print a running domain's state (with <actual>)", run: domainStatus})
}

const defaultTimeout = 30 * time.Second

// online dials the bus, runs fn, and makes "nobody owns the name" errors
// say what they mean.
func online(fn func(c *busapi.Client) error) error {
	d, err := clientenv.Timeout(os.Getenv, defaultTimeout)
	if err != nil {
		return err
	}
	c, err := busapi.Dial(d)
	if err != nil {
		return fmt.Errorf("%v; virtswitchd serves on the system bus: start both with 'systemctl start dbus virtswitchd'", err)
	}
	defer c.Close()
	err = fn(c)
	var re *busapi.RemoteError
	if errors.As(err, &re) {
		if e := busname.NotRunning(re.Name); e != nil {
			return e
		}
	}
	return err
}

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", usagef("expected one %s, got %d arguments", what, len(args))
	}
	if strings.HasPrefix(args[0], "-") && args[0] != "-" {
		return "", usagef("unknown option '%s'", args[0])
	}
	return args[0], nil
}

func netDefine(args []string, stdin io.Reader, stdout io.Writer) error {
	from, data, err := readArg(args, stdin, "network definition")
	if err != nil {
		return err
	}
	return online(func(c *busapi.Client) error {
		var path dbus.ObjectPath
		if err := c.Call("DefineNetwork", []any{&path}, string(data)); err != nil {
			return err
		}
		v, err := c.Property(string(path), busapi.NetworkInterface, "Name")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Network %s defined from %s\n", v.Value(), from)
		return nil
	})
}

func netUndefine(args []string, _ io.Reader, stdout io.Writer) error {
	name, err := oneArg(args, "NAME")
	if err != nil {
		return err
	}
	return online(func(c *busapi.Client) error {
		if err := c.Call("UndefineNetwork", nil, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Network %s has been undefined\n", name)
		return nil
	})
}

// netProps reads every Network property of path.
func netProps(c *busapi.Client, path dbus.ObjectPath) (map[string]dbus.Variant, error) {
	var m map[string]dbus.Variant
	err := c.CallOn(string(path), "org.freedesktop.DBus.Properties.GetAll", []any{&m}, busapi.NetworkInterface)
	return m, err
}

// deviceState is one element of the DeviceStates property, a(subbb).
type deviceState struct {
	Device      string
	Connections uint32
	Exclusive   bool
	Carrier     bool
	Drained     bool
}

func netList(args []string, _ io.Reader, stdout io.Writer) error {
	if len(args) != 0 {
		return usagef("net-list takes no arguments")
	}
	return online(func(c *busapi.Client) error {
		var paths []dbus.ObjectPath
		if err := c.Call("ListNetworks", []any{&paths}); err != nil {
			return err
		}
		rows := make([][]any, 0, len(paths))
		for _, p := range paths {
			m, err := netProps(c, p)
			if err != nil {
				return err
			}
			rows = append(rows, []any{m["Name"].Value(), m["Mode"].Value(), m["Connections"].Value()})
		}
		return writeTable(stdout, []string{"Name", "Mode", "Connections"}, rows)
	})
}

func netDumpXML(args []string, _ io.Reader, stdout io.Writer) error {
	var flags uint32
	var rest []string
	for _, a := range args {
		switch {
		case a == "--status":
			flags = 1
		case strings.HasPrefix(a, "-"):
			return usagef("unknown option '%s'", a)
		default:
			rest = append(rest, a)
		}
	}
	name, err := oneArg(rest, "NAME")
	if err != nil {
		return err
	}
	return online(func(c *busapi.Client) error {
		var path dbus.ObjectPath
		if err := c.Call("LookupNetwork", []any{&path}, name); err != nil {
			return err
		}
		var x string
		if err := c.CallOn(string(path), busapi.NetworkInterface+".GetXMLDesc", []any{&x}, flags); err != nil {
			return err
		}
		_, err := io.WriteString(stdout, x)
		return err
	})
}

func netInfo(args []string, _ io.Reader, stdout io.Writer) error {
	name, err := oneArg(args, "NAME")
	if err != nil {
		return err
	}
	return online(func(c *busapi.Client) error {
		var path dbus.ObjectPath
		if err := c.Call("LookupNetwork", []any{&path}, name); err != nil {
			return err
		}
		m, err := netProps(c, path)
		if err != nil {
			return err
		}
		var devs []deviceState
		if v, ok := m["DeviceStates"]; ok {
			if err := dbus.Store([]any{v.Value()}, &devs); err != nil {
				return fmt.Errorf("network '%s': unexpected DeviceStates property: %v", name, err)
			}
		}
		var pgs []string
		if v, ok := m["Portgroups"]; ok {
			dbus.Store([]any{v.Value()}, &pgs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 8, 1, ' ', 0)
		fmt.Fprintf(tw, "Name:\t%v\n", m["Name"].Value())
		fmt.Fprintf(tw, "UUID:\t%v\n", m["UUID"].Value())
		fmt.Fprintf(tw, "Mode:\t%v\n", m["Mode"].Value())
		if b, _ := m["Bridge"].Value().(string); b != "" {
			fmt.Fprintf(tw, "Bridge:\t%s\n", b)
		}
		if len(pgs) > 0 {
			fmt.Fprintf(tw, "Portgroups:\t%s\n", strings.Join(pgs, ", "))
		}
		fmt.Fprintf(tw, "Connections:\t%v\n", m["Connections"].Value())
		if len(devs) > 0 {
			fmt.Fprintf(tw, "Free devices:\t%v\n", m["FreeDevices"].Value())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(devs) == 0 {
			return nil
		}
		fmt.Fprintln(stdout)
		rows := make([][]any, len(devs))
		for i, d := range devs {
			carrier, drained, held := "up", "no", ""
			if !d.Carrier {
				carrier = "down"
			}
			if d.Drained {
				drained = "yes"
			}
			if d.Exclusive {
				held = " (exclusive)"
			}
			rows[i] = []any{d.Device, fmt.Sprint(d.Connections, held), carrier, drained}
		}
		return writeTable(stdout, []string{"Device", "Connections", "Carrier", "Drained"}, rows)
	})
}

func reload(args []string, _ io.Reader, _ io.Writer) error {
	if len(args) != 0 {
		return usagef("reload takes no arguments")
	}
	return online(func(c *busapi.Client) error { return c.Call("Reload", nil) })
}

func domainStatus(args []string, _ io.Reader, stdout io.Writer) error {
	uuid, err := oneArg(args, "UUID")
	if err != nil {
		return err
	}
	return online(func(c *busapi.Client) error {
		var st string
		if err := c.Call("GetDomainStatus", []any{&st}, uuid); err != nil {
			return err
		}
		_, err := io.WriteString(stdout, st)
		return err
	})
}

// writeTable prints a table as virsh does: a header, a rule as wide as the
// table, the rows, columns aligned. The rule has no cells, so it is added
// after tabwriter has aligned the rest (a cell-less line would end
// tabwriter's column block and misalign the header).
func writeTable(w io.Writer, header []string, rows [][]any) error {
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, " "+strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = fmt.Sprint(c)
		}
		fmt.Fprintln(tw, " "+strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(table.String(), "\n")
	width := 0
	for _, l := range lines {
		width = max(width, len(strings.TrimRight(l, " \n")))
	}
	_, err := io.WriteString(w, lines[0]+strings.Repeat("-", width+1)+"\n"+strings.Join(lines[1:], ""))
	return err
}
