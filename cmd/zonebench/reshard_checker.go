package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/consistency"
	"github.com/zonecache/zonecache/internal/fleet"
)

// staleChecker is the consistency checker's versioned workload run beside
// the demo's: a writer in zone a and a reader in every zone, each on its
// own client following the fleet's topology, recorded in a History whose
// phase is the second of the run, so that Check counts stale reads per
// second.
type staleChecker struct {
	logger  *slog.Logger
	cfg     consistency.WorkloadConfig
	h       *consistency.History
	clients []*client.Client
	watches []*watcher
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

func newStaleChecker(logger *slog.Logger) *staleChecker {
	return &staleChecker{logger: logger, h: consistency.NewHistory(), stop: make(chan struct{}),
		cfg: consistency.WorkloadConfig{Keys: consistency.Keys(200), WriteRate: 200, ReadRate: 200}}
}

// start opens the clients (seeded from seeds) and starts the writer and
// the readers.
func (s *staleChecker) start(ctx context.Context, seeds []string, zones []string) error {
	wc, err := s.client(ctx, seeds, "a", consistency.InflightHook(s.h, nil))
	if err != nil {
		return err
	}
	readers := make([]*client.Client, len(zones))
	for i, z := range zones {
		if readers[i], err = s.client(ctx, seeds, z, consistency.ReaderHook(s.h, z)); err != nil {
			return err
		}
	}
	s.wg.Add(1 + len(zones))
	go func() { defer s.wg.Done(); consistency.RunWriters(wc, s.cfg, s.h, s.stop, nil) }()
	for i, z := range zones {
		go func() { defer s.wg.Done(); consistency.RunReader(readers[i], z, s.cfg, s.h, s.stop) }()
	}
	return nil
}

// client is a client of zone, with hook, whose topology a discovery watch
// on seeds keeps current.
func (s *staleChecker) client(ctx context.Context, seeds []string, zone string, hook func(context.Context, client.AttemptEvent)) (*client.Client, error) {
	top, err := fleet.WaitTopology(ctx, discovery.Config{Seeds: seeds, Logger: s.logger}, 0, stepTimeout)
	if err != nil {
		return nil, fmt.Errorf("checker client in zone %s: %w", zone, err)
	}
	c, err := client.New(client.Config{Zone: zone, Topology: top, Logger: s.logger, Hooks: client.Hooks{OnAttempt: hook}})
	if err != nil {
		return nil, fmt.Errorf("checker client in zone %s: %w", zone, err)
	}
	w := &watcher{ctx: context.WithoutCancel(ctx), c: c, logger: s.logger}
	w.start(seeds)
	s.clients, s.watches = append(s.clients, c), append(s.watches, w)
	return c, nil
}

// markSeconds names the phase of the history after the second of the run
// (from start) until ctx ends: reads begun in second k count in phase k.
func (s *staleChecker) markSeconds(ctx context.Context, start time.Time) {
	for k := 0; ; k++ {
		s.h.MarkPhase(strconv.Itoa(k), start.Add(time.Duration(k)*time.Second))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(time.Duration(k+1) * time.Second))):
		}
	}
}

// finish stops the workload, closes the clients and judges the history
// as `zonebench consistency` does by default: a read of the previous
// version while the newer write was still in flight to a replica the
// write policy did not wait for is the client's documented window, counted
// apart (Result.InFlight), not stale.
func (s *staleChecker) finish() consistency.Result {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		for i, w := range s.watches {
			w.stop()
			s.clients[i].Close()
		}
	})
	return consistency.Check(s.h, consistency.CheckConfig{AllowInFlight: true})
}
