package nodeclient

import "sync/atomic"

// Stats are a Node's counters since it was created, for metrics and tests.
type Stats struct {
	// Dials counts connection attempts by the pools (not probes).
	Dials uint64
	// DialFailures counts failed connection attempts (connect or handshake).
	DialFailures uint64
	// Sent counts requests queued on a connection (a GetMulti counts once).
	Sent uint64
	// Writes counts write syscalls carrying requests.
	Writes uint64
	// FastFails counts requests refused with ErrCircuitOpen.
	FastFails uint64
	// Timeouts counts requests that outlived their pool's timeout after
	// they were sent.
	Timeouts uint64
	// QueueTimeouts counts requests that outlived their pool's timeout
	// before they were sent, waiting in the client (ErrQueueTimeout).
	QueueTimeouts uint64
	// BreakerFailures counts the failures counted against the node's
	// breaker (see BreakerConfig for which failures count).
	BreakerFailures uint64
	// Probes counts breaker probes.
	Probes uint64
	// BatchYields counts batch requests that waited at the batch pool's
	// gate because online traffic was active, when they would have gone at
	// once otherwise (see YieldConfig).
	BatchYields uint64
}

type counters struct {
	dials, dialFailures, sent, writes, fastFails, timeouts, probes, batchYields atomic.Uint64
	queueTimeouts, breakerFailures                                              atomic.Uint64
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	s := &n.stats
	return Stats{
		Dials:           s.dials.Load(),
		DialFailures:    s.dialFailures.Load(),
		Sent:            s.sent.Load(),
		Writes:          s.writes.Load(),
		FastFails:       s.fastFails.Load(),
		Timeouts:        s.timeouts.Load(),
		QueueTimeouts:   s.queueTimeouts.Load(),
		BreakerFailures: s.breakerFailures.Load(),
		Probes:          s.probes.Load(),
		BatchYields:     s.batchYields.Load(),
	}
}
