package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// GetMulti reads many keys and returns the hits by key; misses are
// absent. In each zone of the read order the keys still missing are
// grouped by node and each node gets one pipelined multi-get, all nodes in
// parallel; only keys that missed (unless DisableFallbackOnMiss) or whose
// node failed go on to the next zone. Keys the request scope has seen are
// answered from it. Values found in another zone after a local miss are
// read-repaired. It returns an error wrapping ErrUnavailable only when
// keys are left and no node answered at all.
func (c *Client) GetMulti(ctx context.Context, keys []string) (map[string]Item, error) {
	start := time.Now()
	found, err := c.getMulti(ctx, keys)
	c.done(ctx, "get_multi", "", start, err)
	return found, err
}

type multiKey struct {
	k           nodeKey
	localMissed bool
	missed      bool // some zone answered with a miss
	done        bool
}

func (c *Client) getMulti(ctx context.Context, keys []string) (map[string]Item, error) {
	if c.c.shut.Load() {
		return nil, ErrClosed
	}
	readAt := time.Now() // bounds the age of its read repairs
	found := make(map[string]Item, len(keys))
	s := scopeFrom(ctx)
	pending := make([]*multiKey, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, key := range keys {
		if seen[key] {
			continue
		}
		seen[key] = true
		k, err := c.c.mapKey(key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		if s != nil {
			if it, ok, known := s.lookup(c.c, key); known {
				if ok {
					found[key] = it
				}
				continue
			}
		}
		pending = append(pending, &multiKey{k: k})
	}
	all := append([]*multiKey(nil), pending...)
	v := c.c.view.Load()
	local := len(v.order) > 0 && v.order[0] == c.c.cfg.Zone
	answered := false
	var lastErr error
	var mu sync.Mutex
	for zi, zone := range v.order {
		if len(pending) == 0 || ctx.Err() != nil {
			break
		}
		groups := make(map[*member][]*multiKey)
		for _, mk := range pending {
			m := v.readReplica(zone, mk.k.node)
			switch {
			case m == nil:
			case c.c.gated(m, mk.k.node): // as in read: a miss, on to the next zone
				answered, mk.missed = true, true
				mk.localMissed = mk.localMissed || zi == 0
			default:
				groups[m] = append(groups[m], mk)
			}
		}
		var wg sync.WaitGroup
		for m, group := range groups {
			wg.Add(1)
			go func(m *member, group []*multiKey) {
				defer wg.Done()
				nks := make([]string, len(group))
				for i, mk := range group {
					nks[i] = mk.k.node
				}
				hits, err := c.c.attemptMulti(ctx, c.class, m, nks)
				nodeAnswered := err == nil || len(hits) > 0
				for _, mk := range group {
					ti, hit := hits[mk.k.node]
					if hit && isTombstone(ti.Flags) {
						hit = false // a deleted key
					}
					if hit && len(ti.Value) == 0 && c.isLeaseStub(ctx, m, mk.k.node) {
						hit = false
					}
					var value []byte
					if hit {
						if value, hit = mk.k.unwrap(ti.Value); !hit {
							c.c.metrics.collisions.Inc()
						}
					}
					mu.Lock()
					switch {
					case hit:
						result := resultHit
						if zi > 0 {
							result = resultFallbackHit
						}
						c.c.metrics.request("get_multi", zone, result)
						it := Item{Key: mk.k.app, Value: value, Flags: ti.Flags, TTL: ttlFromRead(ti.TTL), CAS: ti.CAS, zone: zone}
						found[mk.k.app] = it
						mk.done = true
						if zi > 0 && local && mk.localMissed {
							c.c.readRepair(v, mk.k, ti, readAt)
						}
					case err == nil || (nodeAnswered && errors.Is(err, ErrCacheMiss)):
						c.c.metrics.request("get_multi", zone, resultMiss)
						answered, mk.missed = true, true
						if zi == 0 {
							mk.localMissed = true
						}
						mk.done = c.c.cfg.DisableFallbackOnMiss
					default:
						c.c.metrics.request("get_multi", zone, resultError)
						lastErr = err
					}
					mu.Unlock()
				}
			}(m, group)
		}
		wg.Wait()
		rest := pending[:0]
		for _, mk := range pending {
			if !mk.done {
				rest = append(rest, mk)
			}
		}
		pending = rest
	}
	if s != nil {
		for _, mk := range all {
			if it, ok := found[mk.k.app]; ok {
				s.remember(c.c, mk.k.app, it, true)
			} else if mk.missed {
				s.remember(c.c, mk.k.app, Item{}, false)
			}
		}
	}
	if len(pending) > 0 && !answered && len(found) == 0 {
		if lastErr == nil {
			if err := ctx.Err(); err != nil {
				return found, err
			}
			return found, fmt.Errorf("%w: no replica of the keys", ErrUnavailable)
		}
		return found, fmt.Errorf("%w: %w", ErrUnavailable, lastErr)
	}
	return found, nil
}

// isLeaseStub checks an empty value from a multi-get: the empty stub a
// lease left (Z, not stale) reads as a miss.
func (c *Client) isLeaseStub(ctx context.Context, m *member, key string) bool {
	var l nodeclient.Lease
	err := c.attempt(ctx, "get", m, func(ctx context.Context, p *nodeclient.Pool) error {
		var err error
		l, err = p.LeaseGet(ctx, key, nodeclient.LeaseOptions{})
		return err
	})
	return err != nil || (l.WinSent && !l.Stale && len(l.Value) == 0)
}
