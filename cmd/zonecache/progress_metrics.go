package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// copyMetrics exports the latest snapshot of a watch as Prometheus
// metrics zonecache_<subsystem>_*, reset with each run of the command.
type copyMetrics struct {
	w                                  *watch
	copied, bytes, left, skipped, errs *prometheus.Desc
	eta, deleted, scanned              *prometheus.Desc
	reshard                            bool
}

// metricsHandler serves the metrics of w's copy, for subsystem reshard or
// warm.
func metricsHandler(subsystem string, w *watch) http.Handler {
	name := func(n string) string { return prometheus.BuildFQName("zonecache", subsystem, n) }
	pair := []string{"from", "to"}
	m := &copyMetrics{w: w, reshard: subsystem == "reshard",
		copied:  prometheus.NewDesc(name("keys_copied_total"), "Keys added to their destination, per source and destination node.", pair, nil),
		bytes:   prometheus.NewDesc(name("bytes_copied_total"), "Bytes of the keys copied, per source and destination node.", pair, nil),
		left:    prometheus.NewDesc(name("keys_left"), "Keys not tried yet, per source and destination node (warm: of the sources dumped).", pair, nil),
		skipped: prometheus.NewDesc(name("keys_skipped_total"), "Keys not copied, by reason (present: the destination had a newer value; gone, expired, not_owned).", []string{"reason"}, nil),
		errs:    prometheus.NewDesc(name("errors_total"), "Keys that could not be read or written.", nil, nil),
		eta:     prometheus.NewDesc(name("eta_seconds"), "Estimated time left at the rate of the last 10 s; -1 when unknown.", nil, nil),
		deleted: prometheus.NewDesc(name("stale_keys_deleted_total"), "Stale keys deleted from their new owners before the copy.", nil, nil),
		scanned: prometheus.NewDesc(name("keys_scanned_total"), "Items listed by the source nodes' dumps.", nil, nil),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// Describe implements prometheus.Collector.
func (m *copyMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.copied, m.bytes, m.left, m.skipped, m.errs, m.eta, m.deleted, m.scanned} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *copyMetrics) Collect(ch chan<- prometheus.Metric) {
	m.w.mu.Lock()
	v := m.w.views()
	m.w.mu.Unlock()
	for _, r := range v.snapshot.rows {
		ch <- prometheus.MustNewConstMetric(m.copied, prometheus.CounterValue, float64(r.copied), r.from, r.to)
		ch <- prometheus.MustNewConstMetric(m.bytes, prometheus.CounterValue, float64(r.bytes), r.from, r.to)
		if r.known {
			ch <- prometheus.MustNewConstMetric(m.left, prometheus.GaugeValue, float64(r.left), r.from, r.to)
		}
	}
	for reason, n := range v.skipped {
		ch <- prometheus.MustNewConstMetric(m.skipped, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(m.errs, prometheus.CounterValue, float64(v.errors))
	eta := v.total.eta.Seconds()
	if v.total.eta < 0 {
		eta = -1
	}
	ch <- prometheus.MustNewConstMetric(m.eta, prometheus.GaugeValue, eta)
	if m.reshard {
		ch <- prometheus.MustNewConstMetric(m.deleted, prometheus.CounterValue, float64(v.deleted))
	} else {
		ch <- prometheus.MustNewConstMetric(m.scanned, prometheus.CounterValue, float64(v.scanned))
	}
}
