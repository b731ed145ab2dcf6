package otelzonecache_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/contrib/otelzonecache"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/replication"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// traced is a client of two zones of memcached (one node each) whose
// spans a recorder keeps.
func traced(t *testing.T, extra ...replication.Node) (*client.Client, *tracetest.SpanRecorder, trace.Tracer) {
	t.Helper()
	testproc.RequireMemcached(t)
	top := replication.Topology{Epoch: 1}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, z := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := testproc.StartMemcached(t)
			mu.Lock()
			defer mu.Unlock()
			top.Nodes = append(top.Nodes, replication.Node{ID: z + "1", Zone: z, Addr: p.Addr})
		}()
	}
	wg.Wait()
	top.Nodes = append(top.Nodes, extra...)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg := client.Config{Zone: "a", Topology: top, Hooks: otelzonecache.Hooks(otelzonecache.Config{TracerProvider: tp, RecordKeys: true})}
	cfg.Node.Online.Timeout = 5 * time.Second
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, rec, tp.Tracer("test")
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if kv.Key == attribute.Key(key) {
			return kv.Value.String()
		}
	}
	return ""
}

// children returns the ended spans whose parent is span.
func children(rec *tracetest.SpanRecorder, span sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == span.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

func only(t *testing.T, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %s, want 1", len(found), name)
	}
	return found[0]
}

// A Get that misses everywhere is one call span, under the caller's span,
// with one attempt span per zone nested in it and within its time.
func TestGetMissNestsOneAttemptPerZone(t *testing.T) {
	c, rec, tr := traced(t)
	ctx, parent := tr.Start(context.Background(), "handler")
	if _, err := c.Get(ctx, "absent"); !errors.Is(err, client.ErrCacheMiss) {
		t.Fatalf("Get: %v, want a miss", err)
	}
	parent.End()
	call := only(t, rec, "zonecache.get")
	if call.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Error("the call's span is not a child of the caller's")
	}
	if attr(call, "zonecache.result") != "miss" || attr(call, "zonecache.key") != "absent" {
		t.Errorf("call attributes %v", call.Attributes())
	}
	attempts := children(rec, call)
	zones := map[string]bool{}
	for _, a := range attempts {
		zones[attr(a, "zonecache.zone")] = true
		if a.Name() != "zonecache.attempt.get" || attr(a, "zonecache.outcome") != "miss" {
			t.Errorf("attempt %s outcome %q", a.Name(), attr(a, "zonecache.outcome"))
		}
		if a.StartTime().Before(call.StartTime()) || a.EndTime().After(call.EndTime()) {
			t.Errorf("attempt in zone %s [%v, %v] outside its call [%v, %v]", attr(a, "zonecache.zone"),
				a.StartTime(), a.EndTime(), call.StartTime(), call.EndTime())
		}
	}
	if len(attempts) != 2 || !zones["a"] || !zones["b"] {
		t.Errorf("%d attempts in zones %v, want one in a and one in b", len(attempts), zones)
	}
}

// A Set is a call span with an attempt per replica; a hit after it has
// one attempt, in the local zone.
func TestSetAndHit(t *testing.T) {
	c, rec, _ := traced(t)
	ctx := context.Background()
	if _, err := c.Set(ctx, client.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	set := only(t, rec, "zonecache.set")
	testproc.Eventually(t, 30*time.Second, "both replicas' set attempts", func() bool {
		return len(children(rec, set)) == 2
	})
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	get := only(t, rec, "zonecache.get")
	if attr(get, "zonecache.result") != "hit" {
		t.Errorf("get result %q, want hit", attr(get, "zonecache.result"))
	}
	if a := children(rec, get); len(a) != 1 || attr(a[0], "zonecache.zone") != "a" || attr(a[0], "zonecache.outcome") != "ok" {
		t.Errorf("get attempts %v, want one ok in zone a", a)
	}
}

// A request to a node that is down is an attempt span with an error
// status, under a call that succeeded on the other replicas.
func TestFailedAttemptIsAnErrorSpan(t *testing.T) {
	down := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	c, rec, _ := traced(t, replication.Node{ID: "c1", Zone: "c", Addr: down})
	if _, err := c.Set(context.Background(), client.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	set := only(t, rec, "zonecache.set")
	var failed sdktrace.ReadOnlySpan
	testproc.Eventually(t, 30*time.Second, "the set attempt on zone c", func() bool {
		for _, a := range children(rec, set) {
			if attr(a, "zonecache.zone") == "c" {
				failed = a
				return true
			}
		}
		return false
	})
	if failed.Status().Code != codes.Error || attr(failed, "zonecache.outcome") != "error" || attr(failed, "server.address") != down {
		t.Errorf("attempt on the down node: status %v, attributes %v", failed.Status(), failed.Attributes())
	}
	if set.Status().Code == codes.Error || attr(set, "zonecache.result") != "ok" {
		t.Errorf("the Set succeeded on two of three zones, but its span says %v %q", set.Status(), attr(set, "zonecache.result"))
	}
}
