package netinst

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the manager's Prometheus metrics: counters and the reconcile histogram that
// actors update as things happen, and per-instance gauges read from the statuses at scrape
// time (so a stuck actor's inbox depth and lag still show).
//
// Owner: the Manager. Lifetime: the manager's; Close unregisters them.
type metrics struct {
	reg        prometheus.Registerer
	reinstalls *prometheus.CounterVec
	failures   *prometheus.CounterVec
	reconcile  *prometheus.HistogramVec
	gauges     *statusCollector
}

// instanceMetrics are one instance's children of the vectors.
type instanceMetrics struct {
	reinstalls prometheus.Counter
	failures   prometheus.Counter
	reconcile  prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, status func() []Status) (*metrics, error) {
	m := &metrics{
		reg: reg,
		reinstalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_kernel_route_reinstalls_total",
			Help: "Kernel routes that periodic reconciliation found missing and installed again.",
		}, []string{"instance"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_kernel_route_install_failures_total",
			Help: "Kernel route installs that the kernel refused.",
		}, []string{"instance"}),
		reconcile: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fanout_kernel_route_reconcile_duration_seconds",
			Help:    "Time of one kernel route reconciliation (dump, diff, repair) of an instance.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"instance"}),
		gauges: &statusCollector{status: status},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.reinstalls, m.failures, m.reconcile, m.gauges} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.reinstalls, m.failures, m.reconcile, m.gauges} {
		m.reg.Unregister(c)
	}
}

func (m *metrics) instance(name string) *instanceMetrics {
	return &instanceMetrics{
		reinstalls: m.reinstalls.WithLabelValues(name),
		failures:   m.failures.WithLabelValues(name),
		reconcile:  m.reconcile.WithLabelValues(name),
	}
}

func (m *metrics) forget(name string) {
	m.reinstalls.DeleteLabelValues(name)
	m.failures.DeleteLabelValues(name)
	m.reconcile.DeleteLabelValues(name)
}

// statusCollector turns instance statuses into gauges at scrape time.
type statusCollector struct {
	status func() []Status
}

var (
	descDesired   = prometheus.NewDesc("fanout_instance_routes_desired", "Routes the instance's best paths want in the kernel.", []string{"instance"}, nil)
	descInstalled = prometheus.NewDesc("fanout_instance_routes_installed", "Routes the instance's actor has installed in the kernel.", []string{"instance"}, nil)
	descDepth     = prometheus.NewDesc("fanout_instance_inbox_depth", "Route events waiting in the instance actor's inbox.", []string{"instance"}, nil)
	descLag       = prometheus.NewDesc("fanout_instance_event_loop_lag_seconds", "How long the oldest event of the actor's last batch waited in its inbox.", []string{"instance"}, nil)
	descPending   = prometheus.NewDesc("fanout_instance_pending", "1 while the instance's actor has not acknowledged the config version it was sent.", []string{"instance"}, nil)
	descActivated = prometheus.NewDesc("fanout_instance_activated", "1 when the instance's bridge, ports and rules are set up.", []string{"instance"}, nil)
)

// Describe implements prometheus.Collector.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDesired, descInstalled, descDepth, descLag, descPending, descActivated} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.status() {
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, s.Name)
		}
		g(descDesired, float64(s.RoutesDesired))
		g(descInstalled, float64(s.RoutesInstalled))
		g(descDepth, float64(s.InboxDepth))
		g(descLag, s.EventLoopLag.Seconds())
		g(descPending, b2f(s.Pending))
		g(descActivated, b2f(s.Activated))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
