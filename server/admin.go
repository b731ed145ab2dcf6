package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxScrapes is how many /metrics requests AdminHandler serves at once;
// more get 503. A scrape holds about 1 MiB (the registry's copy, gzip),
// which RuntimeBytes covers for this many.
const MaxScrapes = 4

// AdminHandler serves the admin endpoints: /metrics (Prometheus), /healthz
// (200 while the process runs) and /readyz (200 while the server accepts
// connections, 503 before Serve and after Shutdown starts).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{MaxRequestsInFlight: MaxScrapes}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// Registry returns the Prometheus registry holding the server's metrics,
// for callers that serve metrics themselves.
func (s *Server) Registry() *prometheus.Registry { return s.reg }
