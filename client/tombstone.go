package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// Tombstones.
//
// A Delete (and a repair's delete) does not leave nothing behind: it stores
// a tombstone, an empty value with client flags TombstoneFlags and a TTL
// covering Config.DeleteHoldOff, as Facebook's memcache deletes carry a
// hold-off. An add fails on a tombstone, so a read repair (or any other
// fill that uses add) of a value read before the delete cannot put it back;
// every read treats a tombstone as a miss; Set and CompareAndSwap overwrite
// it; the client's own Add, Replace, Append, Prepend, Touch, Incr and Decr
// treat it as a missing key.

// TombstoneFlags is the client-flags value reserved for tombstones. An item
// stored with these flags reads as a miss whatever its value, so writes
// that carry client flags (Set, Add, Replace, CompareAndSwap) refuse it with
// ErrReservedFlags. Every other flags value is the application's.
const TombstoneFlags uint32 = 0xDE1E7ED0

// tombstoneMargin is added to the tombstone's TTL: memcached's clock has a
// one-second granularity (an item set with TTL n may expire after n-1 s)
// and a request sent just before the hold-off ends still travels.
const tombstoneMargin = time.Second

// errReadRepairExpired drops a read repair sent too late to be covered by a
// tombstone's hold-off.
var errReadRepairExpired = errors.New("zonecache: read repair older than the delete hold-off")

func isTombstone(flags uint32) bool { return flags == TombstoneFlags }

// checkFlags refuses the reserved flags on a write that sets them.
func checkFlags(item Item) error {
	if isTombstone(item.Flags) {
		return fmt.Errorf("%w: %#x marks tombstones", ErrReservedFlags, item.Flags)
	}
	return nil
}

// holdOff reports whether deletes leave tombstones.
func (cc *core) holdOff() bool { return cc.cfg.DeleteHoldOff > 0 }

// tombstoneTTL is a tombstone's lifetime: the hold-off plus the margin.
func (cc *core) tombstoneTTL() time.Duration { return cc.cfg.DeleteHoldOff + tombstoneMargin }

// deleteOn deletes key on p: a tombstone, or (hold-off off) a plain delete.
// A key the node did not hold is ErrNotFound only for the plain delete.
func (cc *core) deleteOn(ctx context.Context, p *nodeclient.Pool, key string) error {
	if !cc.holdOff() {
		return p.Delete(ctx, key)
	}
	return p.Set(ctx, nodeclient.Item{Key: key, Flags: TombstoneFlags, TTL: ttlSeconds(cc.tombstoneTTL())})
}

// addOverTombstone is an add that takes a tombstone for a missing key: on
// NOT_STORED it reads the key and, if it is a tombstone, replaces it under
// its CAS (a racing writer wins: ErrNotStored). Reserved for the caller's
// Add, a new write; fills of old values use a plain add.
func addOverTombstone(ctx context.Context, p *nodeclient.Pool, ti nodeclient.Item) error {
	for range 3 {
		err := p.Add(ctx, ti)
		if !errors.Is(err, nodeclient.ErrNotStored) {
			return err
		}
		cur, err := p.Get(ctx, ti.Key)
		switch {
		case errors.Is(err, nodeclient.ErrCacheMiss):
			continue // the tombstone expired meanwhile: add again
		case err != nil:
			return err
		case !isTombstone(cur.Flags):
			return nodeclient.ErrNotStored
		}
		ti.CAS = cur.CAS
		_, err = p.Store(ctx, ti, nodeclient.StoreOptions{Mode: nodeclient.ModeSet})
		switch {
		case errors.Is(err, nodeclient.ErrCASConflict):
			return nodeclient.ErrNotStored
		case errors.Is(err, nodeclient.ErrNotFound):
			ti.CAS = 0
			continue
		}
		return err
	}
	return nodeclient.ErrNotStored
}

// storeExisting is Replace, Append or Prepend on one replica, which fails
// with ErrNotStored on a tombstone as on a missing key. A replace is a read
// and a compare-and-swap under the read's CAS, so a tombstone written in
// between is not overwritten (retried on a conflict). An append or prepend
// checks first, then is sent as is: the node keeps the item's flags, so one
// that lands on a tombstone written in between leaves a tombstone (the key
// stays deleted) although the replica counts it as stored.
func storeExisting(ctx context.Context, p *nodeclient.Pool, ti nodeclient.Item, mode nodeclient.StoreMode) error {
	for range 4 {
		cur, err := p.Get(ctx, ti.Key)
		switch {
		case errors.Is(err, nodeclient.ErrCacheMiss):
			return nodeclient.ErrNotStored
		case err != nil:
			return err
		case isTombstone(cur.Flags):
			return nodeclient.ErrNotStored
		}
		if mode != nodeclient.ModeReplace {
			_, err = p.Store(ctx, ti, nodeclient.StoreOptions{Mode: mode})
			return err
		}
		ti.CAS = cur.CAS
		_, err = p.Store(ctx, ti, nodeclient.StoreOptions{Mode: nodeclient.ModeSet})
		switch {
		case errors.Is(err, nodeclient.ErrCASConflict):
			continue
		case errors.Is(err, nodeclient.ErrNotFound):
			return nodeclient.ErrNotStored
		}
		return err
	}
	return fmt.Errorf("zonecache: replace of %q: %w after 4 attempts", ti.Key, nodeclient.ErrCASConflict)
}

// isTombstoneAt reports whether the node holds a tombstone of key: it
// tells a CAS conflict or a non-numeric counter on a deleted key from one
// on a live value.
func isTombstoneAt(ctx context.Context, p *nodeclient.Pool, key string) bool {
	cur, err := p.Get(ctx, key)
	return err == nil && isTombstone(cur.Flags)
}

// untouchTombstone gives a tombstone that a get-and-touch or a touch has
// just touched its own short lifetime back (prev is what the node held
// before: its remaining TTL, 0 when unknown), at most the tombstone TTL, so
// that a touch never makes a deleted key's hold-off outlive its bound. A
// value that replaced the tombstone meanwhile (its CAS differs) gets its
// own TTL back. Errors are dropped: the tombstone then lives until the
// touch's TTL and the key stays deleted.
func (cc *core) untouchTombstone(ctx context.Context, p *nodeclient.Pool, key string, prev nodeclient.Lease) {
	life := ttlFromRead(prev.TTL)
	if life <= 0 || life > cc.tombstoneTTL() {
		life = cc.tombstoneTTL()
	}
	swapped, err := p.SwapTTL(ctx, key, ttlSeconds(life))
	if errors.Is(err, nodeclient.ErrNoMeta) {
		_ = p.Touch(ctx, key, ttlSeconds(life))
		return
	}
	if err != nil || swapped.CAS == prev.CAS || prev.CAS == 0 {
		return
	}
	_ = p.Touch(ctx, key, ttlSeconds(ttlFromRead(swapped.TTL)))
}
