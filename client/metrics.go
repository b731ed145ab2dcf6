package client

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/internal/buildinfo"
	"github.com/zonecache/zonecache/nodeclient"
)

// Result label values of zonecache_client_requests_total.
const (
	resultHit         = "hit"
	resultMiss        = "miss"
	resultFallbackHit = "fallback_hit"
	resultError       = "error"
	resultOK          = "ok"
)

// metrics are the client's Prometheus collectors (the README lists them);
// each one's Help says what it counts.
type metrics struct {
	reg           prometheus.Registerer
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	readRepairs   *prometheus.CounterVec
	repairs       *prometheus.CounterVec
	spoolFull     prometheus.Counter
	spoolErrors   prometheus.Counter
	spoolReplayed prometheus.Counter
	gatedReads    prometheus.Counter
	// quarantinedReads counts replica reads skipped because the node's
	// breaker closed again less than Config.ReturnQuarantine ago.
	quarantinedReads prometheus.Counter
	leases           *prometheus.CounterVec
	collisions       prometheus.Counter
	topologySwaps    prometheus.Counter
	formerDeletes    prometheus.Counter
	tierDownReads    prometheus.Counter
	loads            *prometheus.CounterVec
	staleServed      *prometheus.CounterVec
	near             *prometheus.CounterVec
	nearBytes        prometheus.GaugeFunc
	hotReads         prometheus.Counter
	hedgedReads      prometheus.Counter
	pending          prometheus.GaugeFunc
	gauges           *gaugeCollector
	build            prometheus.Collector // zonecache_build_info
}

func newMetrics(c *core, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg:      reg,
		requests: counterVec("zonecache_client_requests_total", "Requests to nodes by operation, zone and result.", "op", "zone", "result"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "zonecache_client_request_duration_seconds", Help: "Latency of client calls.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
		readRepairs:      counterVec("zonecache_client_read_repairs_total", "Read repairs to the local zone by result.", "result"),
		repairs:          counterVec("zonecache_client_repairs_total", "Attempts to repair failed replica writes by result.", "result"),
		spoolFull:        counter("zonecache_client_repair_spool_full_total", "Repairs kept in memory only because the repair spool was full."),
		spoolErrors:      counter("zonecache_client_repair_spool_errors_total", "Repairs kept in memory only because of a repair spool I/O error."),
		spoolReplayed:    counter("zonecache_client_repair_spool_replayed_total", "Repairs taken over from the spool segments of exited clients."),
		gatedReads:       counter("zonecache_client_repair_gated_reads_total", "Reads that skipped a replica because a repair of the key there was pending."),
		quarantinedReads: counter("zonecache_client_quarantined_reads_total", "Reads that skipped a replica whose node had returned (breaker closed again) less than ReturnQuarantine ago."),
		leases:           counterVec("zonecache_client_leases_total", "GetOrLoad lease outcomes.", "result"),
		collisions:       counter("zonecache_client_key_collisions_total", "Hashed keys whose stored envelope named another key."),
		topologySwaps:    counter("zonecache_client_topology_swaps_total", "Topologies installed by SetTopology."),
		formerDeletes:    counter("zonecache_client_former_owner_deletes_total", "Deletes sent with a write to the key's owner in a view replaced within Config.FormerOwnerWindow (see there)."),
		tierDownReads:    counter("zonecache_client_tier_down_reads_total", "Reads that skipped the cache at once: every replica of the key had its breaker open."),
		loads:            counterVec("zonecache_client_loads_total", "GetOrLoad loader calls by result: ok, error, or rejected_concurrency and rejected_rate (over the bulkhead, not called).", "result"),
		staleServed:      counterVec("zonecache_client_stale_served_total", "GetOrLoad calls answered with a stale value by reason: tier_down (every replica down) or origin_busy (over the load budget).", "reason"),
		near:             counterVec("zonecache_client_near_requests_total", "Near-cache lookups by result: hit (fresh), revalidated (checked unchanged with its replica), changed (read afresh), stale (served past TTL, tier down), miss.", "result"),
		nearBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zonecache_client_near_bytes", Help: "Bytes held by the near cache (keys, values, overhead).",
		}, func() float64 { return c.nearBytes() }),
		hotReads:    counter("zonecache_client_hot_key_reads_total", "Reads of keys the hot-key sketch found hot."),
		hedgedReads: counter("zonecache_client_hedged_reads_total", "Reads that asked the remaining zones at once after a replica did not answer within ReadHedge."),
		pending: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zonecache_client_repairs_pending", Help: "Failed replica writes waiting to be repaired.",
		}, func() float64 { return float64(c.pendingRepairs()) }),
		gauges: &gaugeCollector{c: c,
			breaker:         nodeDesc("zonecache_client_breaker_state", "Circuit breaker state per node (1 open, 0 closed)."),
			yields:          nodeDesc("zonecache_client_batch_yields_total", "Batch requests that waited because online requests were running on the node."),
			waiting:         nodeDesc("zonecache_client_batch_waiting_requests", "Batch callers waiting for a slot of the node's batch pool."),
			queueTimeouts:   nodeDesc("zonecache_client_queue_timeouts_total", "Requests that timed out waiting in the client (rate limit, in-flight slot, connection) and were not sent."),
			breakerFailures: nodeDesc("zonecache_client_breaker_failures_total", "Failures counted against the node's circuit breaker."),
		},
		build: buildinfo.Read().Collector(),
	}
	if err := m.register(); err != nil {
		return nil, err
	}
	return m, nil
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// nodeDesc describes a metric with one sample per node.
func nodeDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"node"}, nil)
}

// register registers every collector with m.reg, if any; on an error it
// unregisters those it registered.
func (m *metrics) register() error {
	if m.reg == nil {
		return nil
	}
	for i, col := range m.all() {
		if err := m.reg.Register(col); err != nil {
			for _, done := range m.all()[:i] {
				m.reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.readRepairs, m.repairs, m.spoolFull, m.spoolErrors, m.spoolReplayed,
		m.gatedReads, m.quarantinedReads, m.leases, m.collisions, m.topologySwaps, m.formerDeletes, m.tierDownReads, m.hedgedReads, m.loads, m.staleServed, m.near, m.nearBytes, m.hotReads, m.pending, m.gauges, m.build}
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, col := range m.all() {
		m.reg.Unregister(col)
	}
}

func (cc *core) nearBytes() float64 {
	if cc.near == nil {
		return 0
	}
	return float64(cc.near.cache.WeightedSize())
}

func (m *metrics) request(op, zone, result string) {
	m.requests.WithLabelValues(op, zone, result).Inc()
}

// gaugeCollector reads the breakers' states, the batch pools' gates and the
// nodes' queue-timeout and breaker-failure counters at scrape time.
type gaugeCollector struct {
	c               *core
	breaker         *prometheus.Desc
	yields          *prometheus.Desc
	waiting         *prometheus.Desc
	queueTimeouts   *prometheus.Desc
	breakerFailures *prometheus.Desc
}

func (g *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.breaker
	ch <- g.yields
	ch <- g.waiting
	ch <- g.queueTimeouts
	ch <- g.breakerFailures
}

func (g *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	v := g.c.view.Load()
	if v == nil {
		return
	}
	for id, m := range v.byID {
		s := 0.0
		if m.tn.State() == nodeclient.StateOpen {
			s = 1
		}
		ch <- prometheus.MustNewConstMetric(g.breaker, prometheus.GaugeValue, s, id)
		st := m.tn.Stats()
		ch <- prometheus.MustNewConstMetric(g.yields, prometheus.CounterValue, float64(st.BatchYields), id)
		ch <- prometheus.MustNewConstMetric(g.waiting, prometheus.GaugeValue, float64(m.tn.Batch().Waiting()), id)
		ch <- prometheus.MustNewConstMetric(g.queueTimeouts, prometheus.CounterValue, float64(st.QueueTimeouts), id)
		ch <- prometheus.MustNewConstMetric(g.breakerFailures, prometheus.CounterValue, float64(st.BreakerFailures), id)
	}
}
