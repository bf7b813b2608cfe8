// Package metrics is virtswitchd's Prometheus exposition (issue 14): per
// network connections and capacity, per pool device connections, carrier
// and drain, allocation failures by error kind, Prepare and Release
// latency, and the reservations held.
//
// Counts are not copied into gauges as they change: a collector reads the
// core's current state at every scrape (Source), so a scrape always agrees
// with the D-Bus properties and costs nothing between scrapes. Only the
// failure counters and the latency histograms are updated per call.
package metrics

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/virtswitch/virtswitch/apierr"
	"github.com/virtswitch/virtswitch/vswitch"
)

// Source is what a scrape reads: the core (vswitch.Switch).
type Source interface {
	Networks() []vswitch.NetworkInfo
	ReservationCount() int
}

// Metrics holds the registry and the per-call instruments.
type Metrics struct {
	reg      *prometheus.Registry
	failures *prometheus.CounterVec
	prepare  prometheus.Histogram
	release  prometheus.Histogram
}

// Operations whose failures are counted (the label op).
var Ops = []string{"prepare", "reserve", "reconnect"}

// New registers everything for src.
func New(src Source) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	// Buckets from 100 µs (a prepare without netlink) to 10 s (the hook's
	// timeout).
	buckets := prometheus.ExponentialBuckets(0.0001, 2.5, 12)
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "virtswitch_allocation_failures_total",
		Help: "Failed PrepareDomain, Reserve and ReconnectDomain calls, by operation and error kind.",
	}, []string{"op", "kind"})
	m.prepare = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "virtswitch_prepare_duration_seconds", Help: "PrepareDomain latency in the daemon (successful and failed calls).", Buckets: buckets,
	})
	m.release = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "virtswitch_release_duration_seconds", Help: "ReleaseDomain latency in the daemon.", Buckets: buckets,
	})
	// Every series exists from the start, so rate() sees the first failure.
	for _, op := range Ops {
		for _, k := range apierr.Kinds {
			m.failures.WithLabelValues(op, string(k))
		}
		m.failures.WithLabelValues(op, "other")
	}
	m.reg.MustRegister(m.failures, m.prepare, m.release, &collector{src: src})
	m.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// ObservePrepare records one PrepareDomain.
func (m *Metrics) ObservePrepare(d time.Duration, err error) {
	m.prepare.Observe(d.Seconds())
	m.Failed("prepare", err)
}

// ObserveRelease records one ReleaseDomain.
func (m *Metrics) ObserveRelease(d time.Duration) { m.release.Observe(d.Seconds()) }

// Failed counts err (if any) against op.
func (m *Metrics) Failed(op string, err error) {
	if err == nil {
		return
	}
	k := string(apierr.KindOf(err))
	if k == "" {
		k = "other"
	}
	m.failures.WithLabelValues(op, k).Inc()
}

// Text is the exposition in Prometheus's text format (what /metrics
// serves), for `virtswitchctl metrics` and node_exporter's textfile
// collector.
func (m *Metrics) Text() (string, error) {
	fams, err := m.reg.Gather()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Serve listens on addr and serves /metrics until the listener fails. It
// returns the listener's address once listening (":0" picks a port), and a
// function that stops it.
func (m *Metrics) Serve(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// collector reads the core at scrape time.
type collector struct{ src Source }

var (
	descNetConns    = prometheus.NewDesc("virtswitch_network_connections", "Guest interfaces counted on the network (reservations included).", []string{"network", "mode"}, nil)
	descNetDevices  = prometheus.NewDesc("virtswitch_network_devices", "Pool devices of the network (its capacity; 0 for a host-bridge network).", []string{"network"}, nil)
	descNetUsable   = prometheus.NewDesc("virtswitch_network_usable_devices", "Pool devices with carrier and not drained.", []string{"network"}, nil)
	descNetFree     = prometheus.NewDesc("virtswitch_network_free_devices", "Usable pool devices with no connection (what exclusive requests can still get).", []string{"network"}, nil)
	descDevConns    = prometheus.NewDesc("virtswitch_device_connections", "Guest interfaces on the pool device.", []string{"network", "device"}, nil)
	descDevCarrier  = prometheus.NewDesc("virtswitch_device_carrier", "1 unless the pool device is up without carrier.", []string{"network", "device"}, nil)
	descDevDrained  = prometheus.NewDesc("virtswitch_device_drained", "1 if an admin drained the pool device.", []string{"network", "device"}, nil)
	descDevExcl     = prometheus.NewDesc("virtswitch_device_exclusive", "1 if one interface holds the pool device alone.", []string{"network", "device"}, nil)
	descReservation = prometheus.NewDesc("virtswitch_reservations", "Reservations held (Reserve, not yet consumed, cancelled or expired).", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNetConns, descNetDevices, descNetUsable, descNetFree, descDevConns, descDevCarrier, descDevDrained, descDevExcl, descReservation} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := prometheus.GaugeValue
	for _, n := range c.src.Networks() {
		ch <- prometheus.MustNewConstMetric(descNetConns, g, float64(n.Connections), n.Name, strings.ToLower(n.Mode))
		ch <- prometheus.MustNewConstMetric(descNetDevices, g, float64(len(n.Devices)), n.Name)
		usable := 0
		for _, d := range n.Devices {
			if d.Usable() {
				usable++
			}
			ch <- prometheus.MustNewConstMetric(descDevConns, g, float64(d.Connections), n.Name, d.Device)
			ch <- prometheus.MustNewConstMetric(descDevCarrier, g, b2f(!d.Down), n.Name, d.Device)
			ch <- prometheus.MustNewConstMetric(descDevDrained, g, b2f(d.Drained), n.Name, d.Device)
			ch <- prometheus.MustNewConstMetric(descDevExcl, g, b2f(d.Exclusive), n.Name, d.Device)
		}
		ch <- prometheus.MustNewConstMetric(descNetUsable, g, float64(usable), n.Name)
		ch <- prometheus.MustNewConstMetric(descNetFree, g, float64(n.Free), n.Name)
	}
	ch <- prometheus.MustNewConstMetric(descReservation, g, float64(c.src.ReservationCount()))
}
