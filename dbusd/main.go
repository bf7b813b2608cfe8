// Command virtswitchd is virtswitch's daemon (SPEC §6): it owns the network
// definitions, pool counts and per-domain state, creates and deletes links
// with netlink, and serves io.github.virtswitch1 on the system bus.
//
// Start-up order matters to libvirt: the unit is Type=notify and ordered
// before libvirtd, so READY=1 is sent only after recovery has rebuilt the
// counts and the bus name is owned — a guest started right after can be
// prepared. SIGTERM stops serving but keeps links and state: guests keep
// running, and the next start recovers them. SIGHUP reloads.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/godbus/dbus/v5"

	"github.com/virtswitch/virtswitch/busapi"
	"github.com/virtswitch/virtswitch/libvirtconn"
	"github.com/virtswitch/virtswitch/metrics"
	"github.com/virtswitch/virtswitch/netname"
	"github.com/virtswitch/virtswitch/plumb"
	"github.com/virtswitch/virtswitch/vswitch"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

type options struct {
	configDir, stateDir, libvirtDir, netns string
	drainFile, metricsAddr, ovsDB          string
	interval                               time.Duration
	libvirtSockets, libvirtURI             string
	adopt                                  bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("virtswitchd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configDir, "config-dir", netname.DefaultDir, "network definitions `dir`")
	fs.StringVar(&o.stateDir, "state-dir", vswitch.DefaultStateDir, "per-domain state `dir` (tmpfs)")
	fs.StringVar(&o.libvirtDir, "libvirt-state-dir", vswitch.DefaultLibvirtStateDir, "libvirt's qemu state `dir` (NAME.pid of running domains)")
	fs.StringVar(&o.netns, "netns", "", "do all plumbing in the network namespace at `path` (default: the daemon's own)")
	fs.DurationVar(&o.interval, "reconcile-interval", 60*time.Second, "periodic recovery `interval` (0 disables)")
	fs.StringVar(&o.ovsDB, "ovs-db", "", "Open vSwitch database `socket` for ovs-vsctl --db (default: ovs-vsctl's own)")
	fs.StringVar(&o.libvirtSockets, "libvirt-socket", strings.Join(libvirtconn.DefaultSockets, ","),
		"libvirt's RPC socket `paths`, comma-separated, tried in order (virtqemud, then libvirtd); none: do not follow libvirt")
	fs.StringVar(&o.libvirtURI, "libvirt-uri", libvirtconn.DefaultURI, "the libvirt `URI` opened on that socket")
	fs.BoolVar(&o.adopt, "adopt", true, "redefine persistent Form A domains naming our networks in Form B (--adopt=false: off)")
	fs.StringVar(&o.drainFile, "drain-file", vswitch.DefaultDrainFile, "where drained pool devices are kept (`file`; survives reboots)")
	fs.StringVar(&o.metricsAddr, "metrics-address", "", "serve Prometheus metrics at http://`addr`/metrics (e.g. 127.0.0.1:9469; default off)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtswitchd: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(o, log); err != nil {
		log.Error("virtswitchd failed", "err", err)
		daemon.SdNotify(false, "STATUS="+err.Error())
		return 1
	}
	return 0
}

func serve(o options, log *slog.Logger) error {
	plumber, err := plumb.New(o.netns)
	if err != nil {
		return err
	}
	defer plumber.Close()

	// DBUS_SYSTEM_BUS_ADDRESS, when set, names the bus (tests, demos).
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return fmt.Errorf("connecting to the system bus: %w", err)
	}
	defer conn.Close()

	srv := newServer(conn, log, version)
	// Set once libvirt is followed; read by the switch on every incoming
	// migration (links stay down only while events will bring them up).
	var following atomic.Pointer[libvirtSide]
	sw, err := vswitch.Open(vswitch.Config{
		ConfigDir:       o.configDir,
		StateDir:        o.stateDir,
		LibvirtStateDir: o.libvirtDir,
		Plumber:         plumber,
		OVS:             &plumb.OVS{DB: o.ovsDB},
		Observer:        srv,
		Logger:          log,
		DrainFile:       o.drainFile,
		IncomingHeldDown: func() bool {
			ls := following.Load()
			return ls != nil && ls.connected()
		},
	})
	if err != nil {
		return err
	}
	defer sw.Close()
	srv.sw = sw
	srv.metrics = metrics.New(sw)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Carrier first: the pools must know which devices are down before
	// the first prepare.
	if err := sw.FollowCarrier(ctx); err != nil {
		log.Warn("not following pool devices' carrier", "err", err)
	}
	// Problems with single domains are logged; the daemon still serves.
	t0 := time.Now()
	if err := sw.Recover(); err != nil {
		log.Warn("start-up recovery", "err", err)
	}
	recovery := time.Since(t0)
	if err := srv.export(); err != nil {
		return fmt.Errorf("exporting objects: %w", err)
	}
	go srv.refresh(ctx)
	if o.metricsAddr != "" {
		addr, stop, err := srv.metrics.Serve(o.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer stop()
		log.Info("serving metrics", "url", "http://"+addr+"/metrics")
	}

	reply, err := conn.RequestName(busapi.BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("requesting bus name %s: %w", busapi.BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("bus name %s is already taken (%s)", busapi.BusName, reply)
	}

	go sw.Run(ctx, o.interval)
	if ls := newLibvirtSide(o, sw, srv, log); ls != nil {
		following.Store(ls)
		go ls.run(ctx)
	}
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify READY", "err", err)
	}
	go watchdog(ctx, sw, log)
	log.Info("virtswitchd ready", "bus_name", busapi.BusName, "config_dir", o.configDir, "state_dir", o.stateDir,
		"libvirt_state_dir", o.libvirtDir, "netns", o.netns, "recovery", recovery.Round(time.Millisecond),
		"libvirt_socket", o.libvirtSockets, "adopt", o.adopt)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			daemon.SdNotify(false, daemon.SdNotifyReloading)
			if err := sw.Reload(); err != nil {
				log.Warn("reload", "err", err)
			}
			srv.syncAll()
			daemon.SdNotify(false, daemon.SdNotifyReady)
			continue
		}
		break
	}

	log.Info("stopping; links and state stay for the running guests")
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	cancel()
	if _, err := conn.ReleaseName(busapi.BusName); err != nil {
		log.Warn("releasing bus name", "err", err)
	}
	// Let calls already running finish (and their replies go out) before
	// the connection closes.
	sw.Drain()
	return nil
}

// watchdog pings systemd at half the WatchdogSec interval while the core
// answers, so a wedged daemon gets restarted.
func watchdog(ctx context.Context, sw *vswitch.Switch, log *slog.Logger) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sw.Ping()
			if _, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog); err != nil {
				log.Warn("sd_notify WATCHDOG", "err", err)
			}
		}
	}
}
