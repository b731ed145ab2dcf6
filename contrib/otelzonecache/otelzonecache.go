// Package otelzonecache traces a zonecache client with OpenTelemetry: a
// span per client call (Get, Set, GetOrLoad...) and, nested under it, a
// span per request the call sent to a node, with its zone, node and
// outcome. It is a module of its own, so that the zonecache module keeps
// no OpenTelemetry dependency:
//
//	c, err := client.New(client.Config{
//		Zone: "a", Topology: top,
//		Hooks: otelzonecache.Hooks(otelzonecache.Config{}),
//	})
//
// It uses the client's hooks (client.Hooks): OnStart opens the call's
// span, OnAttempt records each node request as a child span from its
// start to its end, and OnRequest ends the call's span. Requests the
// client sends in the background, outside any call (repairs, the
// background touches of GetAndTouch), are not traced.
package otelzonecache

import (
	"context"
	"errors"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/nodeclient"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer.
const ScopeName = "github.com/zonecache/zonecache/contrib/otelzonecache"

// Config configures the tracing hooks.
type Config struct {
	// TracerProvider makes the tracer. Default: the global one
	// (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
	// RecordKeys adds the application's key to call spans (attribute
	// zonecache.key). Off by default: keys may hold user data.
	RecordKeys bool
}

// callKey is the context key of the call's span, so that OnRequest ends
// the span OnStart opened and not a caller's.
type callKey struct{}

// Hooks returns client hooks that trace calls and their node requests.
func Hooks(cfg Config) client.Hooks {
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	t := tracer{tr: tp.Tracer(ScopeName), keys: cfg.RecordKeys}
	return client.Hooks{OnStart: t.start, OnAttempt: t.attempt, OnRequest: t.end}
}

type tracer struct {
	tr   trace.Tracer
	keys bool
}

// start opens the span of a client call.
func (t tracer) start(ctx context.Context, op, key string) context.Context {
	attrs := []attribute.KeyValue{attribute.String("db.system.name", "memcached"), attribute.String("db.operation.name", op)}
	if t.keys && key != "" {
		attrs = append(attrs, attribute.String("zonecache.key", key))
	}
	ctx, span := t.tr.Start(ctx, "zonecache."+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return context.WithValue(ctx, callKey{}, span)
}

// end ends the call's span with the call's result.
func (t tracer) end(ctx context.Context, e client.RequestEvent) {
	span, ok := ctx.Value(callKey{}).(trace.Span)
	if !ok {
		return
	}
	span.SetAttributes(attribute.String("zonecache.result", e.Result))
	if e.Result == "error" {
		span.RecordError(e.Err)
		span.SetStatus(codes.Error, e.Err.Error())
	}
	span.End()
}

// attempt records one node request of a call as a child span of the
// call's, from the request's start to now.
func (t tracer) attempt(ctx context.Context, e client.AttemptEvent) {
	if _, ok := ctx.Value(callKey{}).(trace.Span); !ok {
		return // background work, outside any call
	}
	end := time.Now()
	_, span := t.tr.Start(ctx, "zonecache.attempt."+e.Op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(end.Add(-e.Duration)),
		trace.WithAttributes(
			attribute.String("db.system.name", "memcached"),
			attribute.String("db.operation.name", e.Op),
			attribute.String("server.address", e.Addr),
			attribute.String("zonecache.zone", e.Zone),
			attribute.String("zonecache.node", e.Node),
			attribute.String("zonecache.pool", e.Class),
			attribute.String("zonecache.outcome", outcome(e.Err)),
		))
	if e.Keys > 0 {
		span.SetAttributes(attribute.Int("zonecache.keys", e.Keys), attribute.Int("zonecache.hits", e.Hits))
	}
	if outcome(e.Err) == "error" {
		span.RecordError(e.Err)
		span.SetStatus(codes.Error, e.Err.Error())
	}
	span.End(trace.WithTimestamp(end))
}

// outcome names a node's answer: ok, one of memcached's answers that is
// not a failure (miss, not_stored, exists, not_found), or error.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, nodeclient.ErrCacheMiss):
		return "miss"
	case errors.Is(err, nodeclient.ErrNotStored):
		return "not_stored"
	case errors.Is(err, nodeclient.ErrCASConflict):
		return "exists"
	case errors.Is(err, nodeclient.ErrNotFound):
		return "not_found"
	}
	return "error"
}
