package server

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/zonecache/zonecache/internal/buildinfo"
)

// metrics holds the server's Prometheus instruments. Counters that the
// stats command also reports are read at scrape time from the same
// counters, so the two never disagree.
type metrics struct {
	latency [numCmds]prometheus.Observer
}

func newMetrics(s *Server, reg *prometheus.Registry) *metrics {
	m := &metrics{}
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "zonecache",
		Subsystem: "server",
		Name:      "command_duration_seconds",
		Help: "Time to execute one command (a multi-key get counts once), excluding network I/O; " +
			"one command in 8 per connection is timed (zonecache_server_commands_total counts them all).",
		Buckets: []float64{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1},
	}, []string{"command"})
	for i := cmdID(0); i < numCmds; i++ {
		m.latency[i] = hist.WithLabelValues(i.String())
	}
	purged := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "zonecache", Subsystem: "server", Name: "purged_items_total",
		Help: "Items removed because this node no longer owns their key in the fleet's topology (PurgeUnowned).",
	}, func() float64 { return float64(s.own.purged.Load()) })
	handoffs := func(reason string, n *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "zonecache", Subsystem: "server", Name: "event_loop_handoffs_total",
			Help: "Connections an event loop gave to a goroutine of their own: reason read, the next command " +
				"was not buffered whole (a large value, a value arriving in pieces); wait, a command had to wait " +
				"(a full socket buffer, the large-value budget, a metadump).",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 { return float64(n.Load()) })
	}
	reg.MustRegister(handoffs("read", &s.handoffs[handoffRead]), handoffs("wait", &s.handoffs[handoffWait]))
	counter := func(name, help string, n *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "zonecache", Subsystem: "server", Name: name, Help: help,
		}, func() float64 { return float64(n.Load()) })
	}
	reg.MustRegister(
		counter("event_loop_send_batches_total",
			"io_uring system calls an event loop made to send the replies of a pass over its connections.", &s.sendBatches),
		counter("event_loop_batched_sends_total",
			"Sends in the event loops' io_uring batches, one per connection and batch; divided by "+
				"zonecache_server_event_loop_send_batches_total, the write system calls each batch saved.", &s.batchedSends),
		counter("event_loop_short_sends_total",
			"Batched sends a full socket buffer cut short; the rest went out from the connection's goroutine.", &s.shortSends),
		counter("event_loop_yields_total",
			"Passes over two or more ready connections after which an event loop yielded its thread to others waiting for the CPU.", &s.loopYields),
	)
	reg.MustRegister(hist, purged, &statsCollector{s: s}, buildinfo.Read().Collector(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(id cmdID, d time.Duration) {
	m.latency[id].Observe(d.Seconds())
}

var (
	descHits = prometheus.NewDesc("zonecache_server_hits_total",
		"Keys found by get, gets, gat, gats and mg.", nil, nil)
	descMisses = prometheus.NewDesc("zonecache_server_misses_total",
		"Keys not found by get, gets, gat, gats and mg.", nil, nil)
	descEvictions = prometheus.NewDesc("zonecache_server_evictions_total",
		"Live items removed to make room.", nil, nil)
	descReclaimed = prometheus.NewDesc("zonecache_server_reclaimed_total",
		"Expired or flushed items whose memory was reused.", nil, nil)
	descItems = prometheus.NewDesc("zonecache_server_items",
		"Items held in the store.", nil, nil)
	descBytes = prometheus.NewDesc("zonecache_server_item_bytes",
		"Bytes of the items held (keys, values and per-item headers).", nil, nil)
	descLimit = prometheus.NewDesc("zonecache_server_limit_bytes",
		"The store's memory limit (-m).", nil, nil)
	descConns = prometheus.NewDesc("zonecache_server_connections",
		"Open client connections.", nil, nil)
	descConnsTotal = prometheus.NewDesc("zonecache_server_connections_total",
		"Client connections accepted.", nil, nil)
	descRejected = prometheus.NewDesc("zonecache_server_rejected_connections_total",
		"Client connections refused over the -c limit.", nil, nil)
	descSets = prometheus.NewDesc("zonecache_server_sets_total",
		"Storage commands whose data was read (set, add, replace, append, prepend, cas, ms).", nil, nil)
	descReadBytes = prometheus.NewDesc("zonecache_server_read_bytes_total",
		"Bytes read from clients.", nil, nil)
	descCommands = prometheus.NewDesc("zonecache_server_commands_total",
		"Commands executed, by command.", []string{"command"}, nil)
	descWrittenBytes = prometheus.NewDesc("zonecache_server_written_bytes_total",
		"Bytes written to clients.", nil, nil)
	descClosed = prometheus.NewDesc("zonecache_server_closed_connections_total",
		"Connections the server closed: value_timeout (a value not received within --value-timeout, or stalled while the large-value budget was needed), idle (--idle-timeout).", []string{"reason"}, nil)
	descAuthErrors = prometheus.NewDesc("zonecache_server_auth_errors_total",
		"Authentication attempts refused (wrong username or password).", nil, nil)
)

// statsCollector exports the server's counters and the store's gauges.
type statsCollector struct{ s *Server }

func (sc *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHits, descMisses, descEvictions, descReclaimed, descItems,
		descBytes, descLimit, descConns, descConnsTotal, descRejected, descSets, descReadBytes, descWrittenBytes, descCommands, descClosed, descAuthErrors} {
		ch <- d
	}
}

func (sc *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := &sc.s.stats
	ss := sc.s.store.Stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(descHits, st.get(stGetHits)+st.get(stTouchHits))
	counter(descMisses, st.get(stGetMisses)+st.get(stTouchMisses))
	counter(descEvictions, ss.Evictions)
	counter(descReclaimed, ss.Reclaimed)
	gauge(descItems, float64(ss.Items))
	gauge(descBytes, float64(ss.Bytes))
	gauge(descLimit, float64(sc.s.cfg.MaxBytes))
	gauge(descConns, float64(st.currConns.Load()))
	counter(descConnsTotal, st.get(stTotalConns))
	counter(descRejected, st.get(stRejectedConns))
	counter(descSets, st.get(stCmdSet))
	counter(descReadBytes, st.get(stBytesRead))
	counter(descWrittenBytes, st.get(stBytesWritten))
	counter(descAuthErrors, st.get(stAuthErrors))
	ch <- prometheus.MustNewConstMetric(descClosed, prometheus.CounterValue, float64(st.get(stValueTimeouts)), "value_timeout")
	ch <- prometheus.MustNewConstMetric(descClosed, prometheus.CounterValue, float64(st.get(stIdleKicks)), "idle")
	for i := cmdID(0); i < numCmds; i++ {
		ch <- prometheus.MustNewConstMetric(descCommands, prometheus.CounterValue, float64(st.cmds[i].Load()), i.String())
	}
}
