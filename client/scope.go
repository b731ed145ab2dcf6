package client

import (
	"context"
	"sync"
)

// scopeKeyType is the context key under which a request scope is stored.
type scopeKeyType struct{}

// requestScope is the memo of one request: the result of each lookup made
// under the request's context, so that a request asks the cache for a key
// at most once. It is safe for concurrent use by the request's goroutines.
type requestScope struct {
	mu    sync.Mutex
	items map[scopeItemKey]scopeItem
}

// scopeItemKey keeps two clients' keys apart when one request uses both.
type scopeItemKey struct {
	owner any
	key   string
}

type scopeItem struct {
	item  Item
	found bool
}

// WithRequestScope returns a context under which each key is fetched from
// the cache at most once: later lookups of the key through the same Client
// under this context (or contexts derived from it) are answered from the
// scope's memo, and writes made under it update the memo. Use one scope per
// incoming request and let it go with the request; it holds every value it
// has seen until then.
func WithRequestScope(ctx context.Context) context.Context {
	if scopeFrom(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, scopeKeyType{}, &requestScope{items: make(map[scopeItemKey]scopeItem)})
}

func scopeFrom(ctx context.Context) *requestScope {
	s, _ := ctx.Value(scopeKeyType{}).(*requestScope)
	return s
}

// lookup returns the memo of key for owner; ok is false when the scope has
// not seen the key.
func (s *requestScope) lookup(owner any, key string) (it Item, found, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[scopeItemKey{owner, key}]
	return e.item, e.found, ok
}

// remember records what the cache said of key: an item, or a miss.
func (s *requestScope) remember(owner any, key string, it Item, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[scopeItemKey{owner, key}] = scopeItem{item: it, found: found}
}

// forget drops key from the memo, so the next lookup asks the cache.
func (s *requestScope) forget(owner any, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.items, scopeItemKey{owner, key})
}
