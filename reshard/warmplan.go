package reshard

import (
	"context"
	"fmt"
	"time"

	"github.com/zonecache/zonecache/warm"
)

// WarmPlan is a warm-up (warm.Warm) as a plan: from each serving node of
// cfg.FromZone to cfg.Target, the items Target owns, hottest first, so that
// Copy with a checkpoint, and Resume, carry it out and continue it when
// interrupted. Items that expire within SkipExpiring (DefaultSkipExpiring
// when 0) are left out. It fails as warm.Warm does before copying: with
// warm.ErrConfig, or ErrUnsettled when a node it depends on does not
// answer.
func WarmPlan(ctx context.Context, cfg warm.Config, skipExpiring time.Duration) (*Plan, error) {
	sel, err := warm.Select(cfg)
	if err != nil {
		return nil, err
	}
	dial := Config{DialTimeout: cfg.DialTimeout, TLS: cfg.Node.TLS, Auth: cfg.Node.Auth}.dial()
	if err := warm.CheckAnswering(ctx, sel.Depends(), dial); err != nil {
		return nil, fmt.Errorf("reshard: %w", err)
	}
	if skipExpiring == 0 {
		skipExpiring = DefaultSkipExpiring
	}
	expireBefore := time.Now().Add(max(skipExpiring, 0)).Unix() + 1
	p := &planner{curTop: cfg.Topology, tgtTop: cfg.Topology, moves: map[[3]string]*Move{}, stale: map[string]*Stale{}}
	for _, src := range sel.Sources {
		m := &Move{Zone: sel.Target.Zone, From: src, To: sel.Target}
		bad, err := warm.Dump(ctx, src.Addr, dial, func(it warm.Item) {
			p.stats.Scanned++
			switch {
			case it.Exp >= 0 && it.Exp < expireBefore:
				p.stats.Expiring++
			case !sel.Owns(it.Key):
				p.stats.Unchanged++
			default:
				p.stats.Moving++
				m.Items, m.Bytes = append(m.Items, it), m.Bytes+it.Size
			}
		})
		p.stats.Malformed += bad
		if err != nil {
			return nil, fmt.Errorf("reshard: dump %s (%s): %w", src.ID, src.Addr, err)
		}
		if len(m.Items) > 0 {
			p.moves[[3]string{m.Zone, src.ID, sel.Target.ID}] = m
		}
	}
	return p.plan(), nil
}
