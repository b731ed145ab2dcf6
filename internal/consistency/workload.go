package consistency

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/replication"
)

// Recorder receives what a writer does: the History itself in process, a
// line encoder (LineRecorder) in a writer subprocess.
type Recorder interface {
	Issue(w Write)
	Acknowledge(key string, version uint64, at time.Time)
	Complete(key string, version uint64, at time.Time)
	AddError(e CallerError)
	AddNodeEvent(e NodeEvent)
}

// WorkloadConfig is the versioned workload. Zero fields take defaults.
type WorkloadConfig struct {
	// Keys are the keys written and read. Required.
	Keys []string
	// Writers is the number of writer goroutines, each owning a share of
	// the keys and writing each of its keys sequentially. Default 4.
	Writers int
	// WriteRate is the writes per second of all writers. Default 300.
	WriteRate float64
	// DeleteShare is the share of writes that are deletes. Default 0.2.
	DeleteShare float64
	// ReadRate is the reads per second of each zone's reader. Default 300.
	ReadRate float64
	// TTL of written values. Default 1 h: nothing expires during a run.
	TTL time.Duration
	// CallTimeout bounds each call. Default 5 s: beyond the client's own
	// timeouts, so that a fallback is not cut short.
	CallTimeout time.Duration
	// Seed seeds the key and operation choices.
	Seed uint64
	// Versions are the versions already issued of each key, by a writer
	// this one takes over from (a restarted writer process): each key's
	// versions go on above them. Default none: versions start at 1.
	Versions map[string]uint64
}

func (c WorkloadConfig) withDefaults() WorkloadConfig {
	if c.Writers <= 0 {
		c.Writers = 4
	}
	if c.WriteRate <= 0 {
		c.WriteRate = 300
	}
	if c.DeleteShare <= 0 {
		c.DeleteShare = 0.2
	}
	if c.ReadRate <= 0 {
		c.ReadRate = 300
	}
	if c.TTL <= 0 {
		c.TTL = time.Hour
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 5 * time.Second
	}
	return c
}

// Keys returns n keys named ck-000 ....
func Keys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("ck-%03d", i)
	}
	return keys
}

// Pause holds writers between two writes while it is set; the join-drain
// fault holds them during the drain, so that keys the joined node took are
// not rewritten onto their previous owners before it leaves.
type Pause struct{ on atomic.Bool }

// Set holds (true) or releases (false) the writers.
func (p *Pause) Set(on bool) { p.on.Store(on) }

func (p *Pause) held() bool { return p != nil && p.on.Load() }

// RunWriters runs the writers against c until stop closes, recording every
// write in rec. Versions of each key start at 1. It returns when every
// writer has finished its current call. pause, if not nil, holds them.
func RunWriters(c *client.Client, cfg WorkloadConfig, rec Recorder, stop <-chan struct{}, pause *Pause) {
	cfg = cfg.withDefaults()
	var wg sync.WaitGroup
	for i := 0; i < cfg.Writers; i++ {
		var own []string
		for j := i; j < len(cfg.Keys); j += cfg.Writers {
			own = append(own, cfg.Keys[j])
		}
		if len(own) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			writer(c, cfg, own, rand.New(rand.NewPCG(cfg.Seed, uint64(i))), rec, stop, pause)
		}()
	}
	wg.Wait()
}

func writer(c *client.Client, cfg WorkloadConfig, keys []string, rng *rand.Rand, rec Recorder, stop <-chan struct{}, pause *Pause) {
	versions := make(map[string]uint64, len(keys))
	for _, k := range keys {
		versions[k] = cfg.Versions[k]
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) * float64(cfg.Writers) / cfg.WriteRate))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if pause.held() {
			continue
		}
		key := keys[rng.IntN(len(keys))]
		versions[key]++
		w := Write{Key: key, Version: versions[key], Op: OpSet, Start: time.Now()}
		if rng.Float64() < cfg.DeleteShare {
			w.Op = OpDelete
		}
		rec.Issue(w)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.CallTimeout)
		ctx, track := withInflight(ctx, w, func(at time.Time) { rec.Complete(key, w.Version, at) })
		var err error
		var res client.WriteResult
		if w.Op == OpSet {
			res, err = c.Set(ctx, client.Item{Key: key, Value: EncodeValue(key, w.Version), TTL: cfg.TTL})
		} else {
			res, err = c.Delete(ctx, key)
		}
		cancel()
		track.returned(res.Replicas)
		now := time.Now()
		if err != nil && !(w.Op == OpDelete && errors.Is(err, client.ErrNotFound)) {
			rec.AddError(CallerError{Who: "writer", At: now, Err: fmt.Sprintf("%s %s v%d: %v", w.Op, key, w.Version, err),
				PolicyNotMet: errors.Is(err, replication.ErrPolicyNotMet)})
			continue
		}
		rec.Acknowledge(key, w.Version, now)
	}
}

// RunReader runs a reader in zone through c until stop closes, recording every
// read in h; phase of verify reads is PhaseVerify only when the history's
// marks say so.
func RunReader(c *client.Client, zone string, cfg WorkloadConfig, h *History, stop <-chan struct{}) {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(len(zone))<<32|uint64(zone[0])))
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.ReadRate))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ReadOnce(c, zone, cfg.Keys[rng.IntN(len(cfg.Keys))], cfg.CallTimeout, h, "")
	}
}

// ReadOnce reads key through c, a client of zone, and records the read
// (and its error, if any) in h under phase ("" = the phase it began in).
func ReadOnce(c *client.Client, zone, key string, timeout time.Duration, h *History, phase string) Read {
	tr := &readTrace{}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), readTraceKey{}, tr), timeout)
	r := Read{Key: key, Zone: zone, Phase: phase, Start: time.Now()}
	it, err := c.Get(ctx, key)
	r.End = time.Now()
	cancel()
	r.Node, r.NodeZone = tr.answered()
	switch {
	case err == nil:
		r.Found = true
		v, ok := DecodeValue(key, it.Value)
		r.Version, r.Bogus = v, !ok
	case errors.Is(err, client.ErrCacheMiss):
	default:
		r.Err = err
		h.AddError(CallerError{Who: "reader " + zone, Phase: phase, At: r.End, Err: fmt.Sprintf("get %s: %v", key, err)})
	}
	h.AddRead(r)
	return r
}
