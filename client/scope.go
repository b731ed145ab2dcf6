package client

import (
	"context"
	"errors"
	"net/http"
	"sync"
)

var errFetchAbandoned = errors.New("zonecache: scoped fetch abandoned")

// scopeKeyType is the context key under which a request scope is stored.
type scopeKeyType struct{}

// requestScope is the memo of one request: the result of each lookup made
// under the request's context, so that a request asks the cache for a key
// at most once. It is safe for concurrent use by the request's goroutines.
type requestScope struct {
	mu    sync.Mutex
	items map[scopeItemKey]*scopeItem
}

// scopeItemKey keeps two clients' keys apart when one request uses both.
type scopeItemKey struct {
	owner any
	key   string
}

type scopeItem struct {
	item  Item
	found bool
	// done is closed when the lookup that fills the entry ends; nil for
	// an entry remembered directly.
	done chan struct{}
	err  error
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
	return context.WithValue(ctx, scopeKeyType{}, &requestScope{items: make(map[scopeItemKey]*scopeItem)})
}

// ScopeMiddleware wraps an HTTP handler so that each request it serves
// runs under its own request scope (WithRequestScope): the handler's
// lookups through any Client under r.Context() ask the cache for a key at
// most once per request.
func ScopeMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithRequestScope(r.Context())))
	})
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
	if !ok {
		return Item{}, false, false
	}
	if e.done != nil {
		select {
		case <-e.done:
		default:
			return Item{}, false, false // still being fetched
		}
	}
	return e.item, e.found, true
}

// fetch returns the memo of key for owner, running fn to fill it if the
// scope has not seen the key; concurrent callers of one scope wait for
// the one fetch instead of starting their own. A failed fetch is not
// remembered.
func (s *requestScope) fetch(ctx context.Context, owner any, key string, fn func() (Item, bool, error)) (Item, bool, error) {
	sk := scopeItemKey{owner, key}
	s.mu.Lock()
	e, ok := s.items[sk]
	if ok {
		s.mu.Unlock()
		if e.done != nil {
			select {
			case <-e.done:
			case <-ctx.Done():
				return Item{}, false, ctx.Err()
			}
			if e.err != nil {
				return s.fetch(ctx, owner, key, fn)
			}
		}
		return e.item, e.found, nil
	}
	e = &scopeItem{done: make(chan struct{})}
	s.items[sk] = e
	s.mu.Unlock()
	var err error
	defer func() {
		if err != nil || e.err != nil {
			s.mu.Lock()
			if s.items[sk] == e {
				delete(s.items, sk)
			}
			s.mu.Unlock()
		}
		close(e.done)
	}()
	e.err = errFetchAbandoned // until fn returns (it may panic)
	e.item, e.found, err = fn()
	e.err = err
	return e.item, e.found, err
}

// remember records what the cache said of key: an item, or a miss.
func (s *requestScope) remember(owner any, key string, it Item, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[scopeItemKey{owner, key}] = &scopeItem{item: it, found: found}
}

// forget drops key from the memo, so the next lookup asks the cache.
func (s *requestScope) forget(owner any, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.items, scopeItemKey{owner, key})
}
