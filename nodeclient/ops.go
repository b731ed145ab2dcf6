package nodeclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/zonecache/zonecache/internal/protocol"
)

const getFlags = protocol.FlagReturnValue | protocol.FlagReturnFlags | protocol.FlagReturnCAS | protocol.FlagReturnTTL

func checkKey(key string) error {
	if err := protocol.ValidateKey(key); err != nil {
		return fmt.Errorf("nodeclient: key %.40q: %w", key, err)
	}
	return nil
}

// roundTrip runs c and, on success, leaves its reply in c for the caller.
// On error the call is already recycled (or owned by the connection) and c
// must not be touched.
func (p *Pool) roundTrip(ctx context.Context, c *call, tokens int) error {
	done, err := p.do(ctx, c, tokens)
	if err != nil {
		if done {
			p.putCall(c)
		}
		return err
	}
	return nil
}

// Get reads key: value, client flags, CAS and remaining TTL (mg v f c t). A
// miss is ErrCacheMiss.
func (p *Pool) Get(ctx context.Context, key string) (Item, error) {
	return p.get(ctx, key, protocol.Args{Flags: getFlags})
}

// GetAndTouch reads key and sets its TTL to ttl seconds (0: never expire)
// in one request; the lease flags tell a lease stub from a value, and TTL
// is from before the touch (0 from a text node). A miss is ErrCacheMiss.
func (p *Pool) GetAndTouch(ctx context.Context, key string, ttl int32) (Lease, error) {
	return p.lease(ctx, key, protocol.Args{Flags: getFlags | protocol.WithTTL, TTL: ttl})
}

func (p *Pool) get(ctx context.Context, key string, a protocol.Args) (Item, error) {
	if err := checkKey(key); err != nil {
		return Item{}, err
	}
	c := p.getCall()
	c.kind, c.key, c.args = kindGet, key, a
	if err := p.roundTrip(ctx, c, 1); err != nil {
		return Item{}, err
	}
	defer p.putCall(c)
	switch c.rep.Code {
	case protocol.CodeVA:
		return itemFromReply(key, &c.rep, c.val), nil
	case protocol.CodeEN:
		return Item{}, ErrCacheMiss
	}
	return Item{}, unexpected(p, c)
}

// LeaseGet is a lease-aware read: the item with the Won, Stale and WinSent
// flags, so that one caller refreshes a value while others wait. With
// VivifyTTL a miss creates an empty stub, Won; without, it is ErrCacheMiss.
func (p *Pool) LeaseGet(ctx context.Context, key string, o LeaseOptions) (Lease, error) {
	a := protocol.Args{Flags: getFlags}
	if o.VivifyTTL != 0 {
		a.Flags |= protocol.WithVivify
		a.VivifyTTL = o.VivifyTTL
	}
	if o.RecacheBelow != 0 {
		a.Flags |= protocol.WithRecache
		a.RecacheTTL = o.RecacheBelow
	}
	if o.TTL != 0 {
		a.Flags |= protocol.WithTTL
		a.TTL = o.TTL
	}
	return p.lease(ctx, key, a)
}

// lease sends the mg of LeaseGet, GetAndTouch or SwapTTL.
func (p *Pool) lease(ctx context.Context, key string, a protocol.Args) (Lease, error) {
	if err := checkKey(key); err != nil {
		return Lease{}, err
	}
	c := p.getCall()
	c.kind, c.key, c.args = kindGet, key, a
	if err := p.roundTrip(ctx, c, 1); err != nil {
		return Lease{}, err
	}
	defer p.putCall(c)
	switch c.rep.Code {
	case protocol.CodeVA, protocol.CodeHD: // HD: SwapTTL asks for no value
		r := &c.rep
		size := r.Size
		if r.Code == protocol.CodeHD {
			size = int(r.ItemSize)
		}
		return Lease{
			Item:    itemFromReply(key, r, c.val),
			Size:    size,
			Won:     r.Has(protocol.RetWon),
			Stale:   r.Has(protocol.RetStale),
			WinSent: r.Has(protocol.RetWinSent),
		}, nil
	case protocol.CodeEN:
		return Lease{}, ErrCacheMiss
	}
	return Lease{}, unexpected(p, c)
}

// SwapTTL sets key's TTL like Touch and returns, without the value, what
// the item was before (CAS, flags, TTL, size, lease flags), so a caller can
// put the TTL back. A missing key is ErrNotFound; a text node ErrNoMeta.
func (p *Pool) SwapTTL(ctx context.Context, key string, ttl int32) (Lease, error) {
	a := protocol.Args{Flags: protocol.FlagReturnCAS | protocol.FlagReturnFlags | protocol.FlagReturnTTL | protocol.FlagReturnSize | protocol.WithTTL, TTL: ttl}
	l, err := p.lease(ctx, key, a)
	switch {
	case errors.Is(err, ErrCacheMiss):
		return Lease{}, ErrNotFound
	case err != nil:
		return Lease{}, err
	}
	return l, nil
}

// Touch sets key's TTL (mg T, no value). A missing key is ErrNotFound.
func (p *Pool) Touch(ctx context.Context, key string, ttl int32) error {
	if err := checkKey(key); err != nil {
		return err
	}
	c := p.getCall()
	c.kind, c.key = kindGet, key
	c.args = protocol.Args{Flags: protocol.WithTTL, TTL: ttl}
	if err := p.roundTrip(ctx, c, 1); err != nil {
		return err
	}
	defer p.putCall(c)
	switch c.rep.Code {
	case protocol.CodeHD:
		return nil
	case protocol.CodeEN:
		return ErrNotFound
	}
	return unexpected(p, c)
}

// Set stores item unconditionally (ms MS).
func (p *Pool) Set(ctx context.Context, item Item) error {
	return p.storeAs(ctx, item, ModeSet)
}

// Add stores item only if the key is absent; otherwise ErrNotStored.
func (p *Pool) Add(ctx context.Context, item Item) error {
	return p.storeAs(ctx, item, ModeAdd)
}

// Replace stores item only if the key exists; otherwise ErrNotStored.
func (p *Pool) Replace(ctx context.Context, item Item) error {
	return p.storeAs(ctx, item, ModeReplace)
}

// Append appends item.Value to the existing value (flags and TTL are kept);
// a missing key is ErrNotStored.
func (p *Pool) Append(ctx context.Context, item Item) error {
	return p.storeAs(ctx, item, ModeAppend)
}

// Prepend prepends item.Value to the existing value; a missing key is
// ErrNotStored.
func (p *Pool) Prepend(ctx context.Context, item Item) error {
	return p.storeAs(ctx, item, ModePrepend)
}

// storeAs stores item in mode, ignoring any CAS it carries: the five
// unconditional and conditional writes other than CompareAndSwap.
func (p *Pool) storeAs(ctx context.Context, item Item, mode StoreMode) error {
	item.CAS = 0
	_, err := p.Store(ctx, item, StoreOptions{Mode: mode})
	return err
}

// CompareAndSwap stores item only if the key's CAS still equals item.CAS:
// ErrCASConflict if it changed, ErrNotFound if the key is gone.
func (p *Pool) CompareAndSwap(ctx context.Context, item Item) error {
	if item.CAS == 0 {
		return fmt.Errorf("nodeclient: CompareAndSwap of %q without a CAS value", item.Key)
	}
	_, err := p.Store(ctx, item, StoreOptions{Mode: ModeSet})
	return err
}

// Store is the general ms: mode, optional compare-CAS (item.CAS != 0) and
// invalidate. It returns the item's new CAS. Outcomes: ErrNotStored (NS),
// ErrCASConflict (EX), ErrNotFound (NF).
func (p *Pool) Store(ctx context.Context, item Item, o StoreOptions) (uint64, error) {
	if err := checkKey(item.Key); err != nil {
		return 0, err
	}
	if len(item.Value) > p.node.cfg.MaxValueSize {
		return 0, fmt.Errorf("nodeclient: value of %q is %d bytes, limit %d: %w",
			item.Key, len(item.Value), p.node.cfg.MaxValueSize, ErrValueTooLarge)
	}
	mode := o.Mode
	if mode == 0 {
		mode = ModeSet
	}
	a := protocol.Args{Flags: protocol.FlagReturnCAS | protocol.WithTTL | protocol.WithClientFlags, TTL: item.TTL, ClientFlags: item.Flags}
	if mode != ModeSet {
		a.Flags |= protocol.WithMode
		a.Mode = byte(mode)
	}
	if item.CAS != 0 {
		a.Flags |= protocol.WithCompareCAS
		a.CompareCAS = item.CAS
	}
	if o.Invalidate {
		a.Flags |= protocol.FlagInvalidate
	}
	c := p.getCall()
	c.kind, c.key, c.value, c.args = kindSet, item.Key, item.Value, a
	if err := p.roundTrip(ctx, c, 1); err != nil {
		return 0, err
	}
	defer p.putCall(c)
	switch c.rep.Code {
	case protocol.CodeHD:
		return c.rep.CAS, nil
	case protocol.CodeNS:
		return 0, ErrNotStored
	case protocol.CodeEX:
		return 0, ErrCASConflict
	case protocol.CodeNF:
		return 0, ErrNotFound
	}
	return 0, unexpected(p, c)
}

// Delete removes key (md); a missing key is ErrNotFound.
func (p *Pool) Delete(ctx context.Context, key string) error {
	return p.delete(ctx, key, protocol.Args{})
}

// Invalidate marks key stale instead of deleting it (md I T<ttl>): the
// next LeaseGet sees Stale and Won and refreshes it while others may serve
// the stale value. ttl 0 keeps the item's TTL. A missing key is ErrNotFound.
func (p *Pool) Invalidate(ctx context.Context, key string, ttl int32) error {
	a := protocol.Args{Flags: protocol.FlagInvalidate}
	if ttl != 0 {
		a.Flags |= protocol.WithTTL
		a.TTL = ttl
	}
	return p.delete(ctx, key, a)
}

func (p *Pool) delete(ctx context.Context, key string, a protocol.Args) error {
	if err := checkKey(key); err != nil {
		return err
	}
	c := p.getCall()
	c.kind, c.key, c.args = kindDelete, key, a
	if err := p.roundTrip(ctx, c, 1); err != nil {
		return err
	}
	defer p.putCall(c)
	switch c.rep.Code {
	case protocol.CodeHD:
		return nil
	case protocol.CodeNF:
		return ErrNotFound
	case protocol.CodeEX:
		return ErrCASConflict
	}
	return unexpected(p, c)
}

// Incr adds delta to the decimal value of key and returns the new value
// (wrapping at 2^64). A missing key is ErrNotFound; a non-numeric value is
// an error wrapping ErrClientError.
func (p *Pool) Incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	return p.arith(ctx, key, protocol.ModeIncr, delta)
}

// Decr subtracts delta from the decimal value of key, stopping at 0.
func (p *Pool) Decr(ctx context.Context, key string, delta uint64) (uint64, error) {
	return p.arith(ctx, key, protocol.ModeDecr, delta)
}

func (p *Pool) arith(ctx context.Context, key string, mode byte, delta uint64) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	c := p.getCall()
	c.kind, c.key = kindArith, key
	c.args = protocol.Args{Flags: protocol.FlagReturnValue | protocol.WithMode | protocol.WithDelta, Mode: mode, Delta: delta}
	if err := p.roundTrip(ctx, c, 1); err != nil {
		return 0, err
	}
	defer p.putCall(c)
	switch c.rep.Code {
	case protocol.CodeVA:
		n, err := parseCounter(c.val)
		if err != nil {
			return 0, fmt.Errorf("nodeclient: %s: ma %q: %w", p.node.addr, key, err)
		}
		return n, nil
	case protocol.CodeNF:
		return 0, ErrNotFound
	}
	return 0, unexpected(p, c)
}

// Noop sends `mn` on the pipeline and waits for `MN`: a round trip that
// proves the connection and the node are alive.
func (p *Pool) Noop(ctx context.Context) error {
	c := p.getCall()
	c.kind = kindNoop
	if err := p.roundTrip(ctx, c, 1); err != nil {
		return err
	}
	p.putCall(c)
	return nil
}

// GetMulti reads many keys of this node in one pipelined request and
// returns the hits by key; with an error, the hits so far come with it. A
// rate-limited or yielding pool sends a large one as several requests.
func (p *Pool) GetMulti(ctx context.Context, keys []string) (map[string]Item, error) {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		return map[string]Item{}, nil
	}
	if k := p.multiChunk(); k > 0 && len(keys) > k {
		m := make(map[string]Item, len(keys))
		for len(keys) > 0 {
			part := keys[:min(k, len(keys))]
			keys = keys[len(part):]
			got, err := p.getMulti(ctx, part)
			for key, it := range got {
				m[key] = it
			}
			if err != nil {
				if len(m) == 0 {
					return nil, err
				}
				return m, err
			}
		}
		return m, nil
	}
	return p.getMulti(ctx, keys)
}

// multiChunk is how many keys a GetMulti sends per request (0: all at
// once): the rate limit's chunk, or the yield chunk while online traffic is
// active, whichever is smaller.
func (p *Pool) multiChunk() int {
	k := p.yieldChunk()
	if p.chunk > 0 && (k == 0 || p.chunk < k) {
		k = p.chunk
	}
	return k
}

func (p *Pool) getMulti(ctx context.Context, keys []string) (map[string]Item, error) {
	c := p.getCall()
	c.kind, c.keys = kindMulti, keys
	c.args = protocol.Args{Flags: getFlags}
	done, err := p.do(ctx, c, len(keys))
	if !done {
		return nil, err
	}
	defer p.putCall(c)
	if err != nil && len(c.hits) == 0 {
		return nil, err
	}
	m := make(map[string]Item, len(c.hits))
	for _, h := range c.hits {
		m[h.item.Key] = h.item
	}
	return m, err
}

func unexpected(p *Pool, c *call) error {
	return fmt.Errorf("nodeclient: %s: %w: unexpected %v reply", p.node.addr, protocol.ErrMalformed, c.rep.Code)
}

var errBadCounter = errors.New("counter value is not a decimal number")

func parseCounter(b []byte) (uint64, error) {
	// memcached pads a shrinking decr with spaces.
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	v, ok := protocol.ParseUint(b, 64)
	if !ok {
		return 0, errBadCounter
	}
	return v, nil
}

// Peek reads key's metadata without its value (mg c f t s): CAS, flags,
// remaining TTL, size and lease flags, a cheap check that a copy held
// elsewhere is still current. A miss is ErrCacheMiss; a text node ErrNoMeta.
func (p *Pool) Peek(ctx context.Context, key string) (Lease, error) {
	return p.lease(ctx, key, protocol.Args{Flags: protocol.FlagReturnCAS | protocol.FlagReturnFlags | protocol.FlagReturnTTL | protocol.FlagReturnSize})
}
