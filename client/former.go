package client

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// maxFormerViews bounds how many replaced views writes look back at.
const maxFormerViews = 4

// opFormerDelete is the AttemptEvent.Op of a delete at a former owner:
// not one of the write's replicas, so hooks that count a write's replica
// answers can tell it apart.
const opFormerDelete = "former_delete"

// formerView is a view SetTopology replaced, looked at until until.
type formerView struct {
	v     *view
	until time.Time
}

// rememberFormer records old, just replaced, for Config.FormerOwnerWindow;
// cc.vmu is held.
func (cc *core) rememberFormer(old *view, now time.Time) {
	if cc.cfg.FormerOwnerWindow <= 0 {
		return
	}
	list := []formerView{{v: old, until: now.Add(cc.cfg.FormerOwnerWindow)}}
	if prev := cc.former.Load(); prev != nil {
		for _, f := range *prev {
			if len(list) < maxFormerViews && now.Before(f.until) {
				list = append(list, f)
			}
		}
	}
	cc.former.Store(&list)
}

// formerOwners returns the members of v, the current view, that served
// reads of key in a view replaced within FormerOwnerWindow and are not
// among targets (nodes of v): a client whose view lags may still read the
// key there. A node that only took writes in the replaced view (warming)
// is left out: no client with that view reads it. Nil when no view was
// replaced within the window: an atomic load once the list is dropped,
// which the first write after the window does.
func (cc *core) formerOwners(v *view, key string, targets []*member) []*member {
	list := cc.former.Load()
	if list == nil {
		return nil
	}
	now := time.Now()
	if now.After((*list)[0].until) {
		cc.former.CompareAndSwap(list, nil) // lost to SetTopology's newer list: fine
		return nil
	}
	var out []*member
	for _, f := range *list {
		if now.After(f.until) {
			break // newest first: the older ones ended sooner
		}
		for _, zn := range f.v.order {
			old := f.v.readReplica(zn, key)
			if old == nil {
				continue
			}
			m := v.byID[old.node.ID]
			if m == nil || slices.ContainsFunc(targets, func(t *member) bool { return t.node.ID == m.node.ID }) || slices.Contains(out, m) {
				continue
			}
			out = append(out, m)
		}
	}
	return out
}

// deleteAtFormerOwners deletes k at its former owners (formerOwners) in
// the background and returns a channel closed when every delete is done,
// or nil when there is none. A former owner whose breaker is open is
// skipped: a client that reads it gets an error too. Failures are
// ignored: the write's outcome is its targets'.
func (c *Client) deleteAtFormerOwners(ctx context.Context, k nodeKey, targets []*member) <-chan struct{} {
	v := c.c.view.Load()
	former := c.c.formerOwners(v, k.node, targets)
	if len(former) == 0 {
		return nil
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, m := range former {
		if m.tn.State() == nodeclient.StateOpen {
			continue
		}
		c.c.metrics.formerDeletes.Inc()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.write(ctx, opFormerDelete, m, k.node, func(ctx context.Context, p *nodeclient.Pool) error {
				return c.c.deleteOn(ctx, p, k.node)
			})
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}
