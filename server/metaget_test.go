package server

import (
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/protocol"
	"github.com/zonecache/zonecache/server/internal/store"
)

// TestMetaGetReadIsUpdate serves the same mg requests on two servers that
// hold the same items: on one as metaGet does (a Read when no flag changes
// the item), on the other through the Update alone. The replies, the items'
// metadata and the counters must be the same after each request: hits with
// each return flag, u, q, binary keys, a large value and one with no room
// for it, misses, an expired item, and stale items (a win, which the Read
// leaves to the Update, then Z and X).
func TestMetaGetReadIsUpdate(t *testing.T) {
	clock := newFakeClock()
	big := strings.Repeat("b", largeValue)
	setup := "set a 5 0 2\r\nhi\r\n" +
		"set big 0 0 " + strconv.Itoa(len(big)) + "\r\n" + big + "\r\n" +
		"ms Ymlu 3 b\r\nbin\r\n" +
		"set exp 0 2 1\r\ne\r\n" +
		"set stale 0 100 1\r\ns\r\nmd stale I\r\n"
	viaRead, viaUpdate := newMgPair(t, clock, setup)
	requests := []struct {
		line string
		full bool // the large-value budget is spent
	}{
		{line: "mg a v f c"},
		{line: "mg a s t c f l h k O123"},
		{line: "mg a u l h t"},
		{line: "mg a q k v"},
		{line: "mg a E77 I x v"},
		{line: "mg Ymlu b k v c"},
		{line: "mg big s v"},
		{line: "mg big v c", full: true},
		{line: "mg missing v"},
		{line: "mg missing q v"},
		{line: "mg missing k O9 c"},
		{line: "mg exp v t"}, // expired by now
		{line: "mg stale v c t"},
		{line: "mg stale v c"},
		{line: "mg stale u h l"},
		{line: "mg a v R0 c"},
		{line: "mg a v v"},
		{line: "mg a v T10"},
		{line: "mg a v"},
	}
	for i, r := range requests {
		clock.Advance(time.Second)
		got := viaRead.serveMetaGet(r.line, r.full, false)
		want := viaUpdate.serveMetaGet(r.line, r.full, true)
		if got != want {
			t.Errorf("%d %q: reply %q, through the Update %q", i, r.line, got, want)
		}
		if a, b := itemMetas(viaRead.s), itemMetas(viaUpdate.s); !reflect.DeepEqual(a, b) {
			t.Errorf("%d %q: items %v, through the Update %v", i, r.line, a, b)
		}
	}
	if viaRead.c.st != viaUpdate.c.st {
		t.Errorf("counters %v, through the Update %v", viaRead.c.st, viaUpdate.c.st)
	}
	if a, b := viaRead.s.store.Stats(), viaUpdate.s.store.Stats(); a != b || a.GetExpired != 1 {
		t.Errorf("store stats %+v, through the Update %+v (one expired item read)", a, b)
	}
}

// mgServer is a server and a connection whose mg requests a test serves
// directly.
type mgServer struct {
	s *Server
	c *conn
}

// newMgPair starts two servers on clock that have both run setup.
func newMgPair(t *testing.T, clock *fakeClock, setup string) (a, b mgServer) {
	t.Helper()
	pair := [2]mgServer{}
	for i := range pair {
		s, err := New(Config{Logger: slog.New(slog.DiscardHandler), Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nc := &memConn{in: strings.NewReader(setup)}
		newConn(s, nc).serve()
		if strings.Contains(nc.out.String(), "ERROR") {
			t.Fatalf("setup: %q", nc.out.String())
		}
		pair[i] = mgServer{s: s, c: newConn(s, &memConn{in: strings.NewReader("")})}
	}
	return pair[0], pair[1]
}

// serveMetaGet serves one mg line as metaGet does, or through the Update
// alone when update is set, and returns the reply. With full, the
// large-value budget is spent meanwhile.
func (m mgServer) serveMetaGet(line string, full, update bool) string {
	c := m.c
	if full {
		c.s.bigBuffers.used.Add(c.s.bigBuffers.limit)
		defer c.s.bigBuffers.used.Add(-c.s.bigBuffers.limit)
	}
	c.out = c.out[:0]
	c.line = append(c.line[:0], line...)
	n, _ := protocol.Tokenize(c.line, &c.toks)
	r := mgRequest{n: n, room: true}
	if !c.parseMetaGet(&r) {
		return string(c.out)
	}
	var cas uint64
	var err error
	if update {
		var meta store.Meta
		meta, err = c.updateMetaGet(&r)
		cas = meta.CAS
	} else {
		cas, err = c.applyMetaGet(&r)
	}
	c.replyMetaGet(&r, cas, err)
	c.releaseOut()
	return string(c.out)
}

// itemMetas maps each live item's key to its metadata.
func itemMetas(s *Server) map[string]store.Meta {
	metas := map[string]store.Meta{}
	s.store.Range(func(key []byte, m store.Meta, _ int) bool {
		metas[string(key)] = m
		return true
	})
	return metas
}
