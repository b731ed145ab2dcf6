package membership

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zonecache/zonecache/replication"
)

// metrics are the member's Prometheus collectors (the README lists them),
// read at scrape time except the probe failure counter.
type metrics struct {
	m             *Member
	probeFailures prometheus.Counter
	members       *prometheus.Desc
	epoch         *prometheus.Desc
	isolated      *prometheus.Desc
	heldDead      *prometheus.Desc
	inContact     *prometheus.Desc
	known         *prometheus.Desc
	healthScore   *prometheus.Desc
}

func newMetrics(m *Member) *metrics {
	return &metrics{
		m: m,
		probeFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecache_membership_probe_failures_total",
			Help: "Failure probes of another member that got no ack (memberlist then suspects it)."}),
		members: prometheus.NewDesc("zonecache_membership_members",
			"Members in this member's topology (itself included) by zone and advertised state.", []string{"zone", "state"}, nil),
		epoch: prometheus.NewDesc("zonecache_membership_topology_epoch",
			"Epoch of this member's topology (Unix nanoseconds of its last change).", nil, nil),
		isolated: prometheus.NewDesc("zonecache_membership_isolated",
			"1 while this member is cut off from most of the members it knows (its cache serves no hits).", nil, nil),
		heldDead: prometheus.NewDesc("zonecache_membership_held_dead",
			"1 while a member of the fleet held this one dead within the pause bound (its cache serves no hits).", nil, nil),
		inContact: prometheus.NewDesc("zonecache_membership_members_in_contact",
			"Known members (itself included) heard from within the pause bound at the last contact check.", nil, nil),
		known: prometheus.NewDesc("zonecache_membership_members_known",
			"Members known at the last contact check (itself included): alive, or failed and not yet forgotten.", nil, nil),
		healthScore: prometheus.NewDesc("zonecache_membership_gossip_health_score",
			"memberlist's awareness score: 0 is healthy, higher when this member's own probes go unanswered (it may be the slow one).", nil, nil),
	}
}

// register registers the metrics with reg, if not nil.
func (x *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(x.probeFailures); err != nil {
		return err
	}
	if err := reg.Register(x); err != nil {
		reg.Unregister(x.probeFailures)
		return err
	}
	return nil
}

func (x *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{x.members, x.epoch, x.isolated, x.heldDead, x.inContact, x.known, x.healthScore} {
		ch <- d
	}
}

func (x *metrics) Collect(ch chan<- prometheus.Metric) {
	t := x.m.Topology()
	type zoneState struct {
		zone  string
		state replication.NodeState
	}
	counts := map[zoneState]int{}
	for _, n := range t.Nodes {
		counts[zoneState{n.Zone, n.State}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(x.members, prometheus.GaugeValue, float64(n), k.zone, string(k.state))
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(x.epoch, float64(t.Epoch))
	heard, known, isolated := x.m.health.contact()
	gauge(x.isolated, b2f(isolated))
	gauge(x.heldDead, b2f(x.m.health.heldDead()))
	gauge(x.inContact, float64(heard))
	gauge(x.known, float64(known))
	gauge(x.healthScore, float64(x.m.list.GetHealthScore()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
