package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPprofOnlyWithTheFlag(t *testing.T) {
	admin := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	for _, on := range []bool{false, true} {
		h := withPprof(admin, on)
		for path, want := range map[string]string{"/debug/pprof/goroutine?debug=1": "goroutine profile", "/healthz": "ok\n"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			got := rec.Body.String()
			served := len(got) >= len(want) && got[:len(want)] == want
			if wantServed := on || path == "/healthz"; served != wantServed {
				t.Errorf("pprof %v: GET %s answered %q, served = %v, want %v", on, path, got, served, wantServed)
			}
		}
	}
}
