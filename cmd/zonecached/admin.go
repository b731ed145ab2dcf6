package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/membership"
)

// Admin listener bounds: a request's header must arrive within
// adminHeaderTimeout and its body within adminReadTimeout; a reply may take
// up to the longest topology watch and adminWriteSlack more; a keep-alive
// connection idle for adminIdleTimeout is closed.
const (
	adminHeaderTimeout = 5 * time.Second
	adminReadTimeout   = 10 * time.Second
	adminWriteSlack    = 10 * time.Second
	adminIdleTimeout   = 30 * time.Second
	adminMaxHeader     = 8 << 10
)

// adminOptions are the admin listener's flags.
type adminOptions struct {
	addr      string
	tokenFile string
	insecure  bool
	maxConns  int
	token     string // read from tokenFile by check
}

func (a *adminOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&a.addr, "admin-addr", "127.0.0.1:12211", "admin HTTP `address` serving /metrics, /healthz and /readyz (and /topology, /state in a fleet); empty disables it")
	fs.StringVar(&a.tokenFile, "admin-token-file", "", "`file` holding the bearer token that requests changing the node (POST /state) must carry (Authorization: Bearer TOKEN); mode 0600 or stricter, at least 16 bytes")
	fs.BoolVar(&a.insecure, "admin-insecure", false, "without --admin-token-file, let anyone who reaches the admin address change the node (default: such requests get 403)")
	fs.IntVar(&a.maxConns, "admin-max-conns", 64, "most admin HTTP `connections` held at once, counted in the memory bound: past it an idle one is closed for the new one, or the new one is closed when none is idle")
}

// check validates the flags and reads the token file.
func (a *adminOptions) check() error {
	if a.maxConns < 1 {
		return fmt.Errorf("--admin-max-conns %d: must be at least 1", a.maxConns)
	}
	if a.tokenFile == "" {
		return nil
	}
	if a.insecure {
		return errors.New("--admin-insecure and --admin-token-file exclude each other")
	}
	token, err := admin.ReadTokenFile(a.tokenFile)
	if err != nil {
		return fmt.Errorf("--admin-token-file: %w", err)
	}
	a.token = token
	return nil
}

// conns is what the admin listener counts in the memory bound.
func (a *adminOptions) conns() int {
	if a.addr == "" {
		return 0
	}
	return a.maxConns
}

// adminMetrics count what the admin listener refuses.
type adminMetrics struct {
	denied   *prometheus.CounterVec
	rejected prometheus.Counter
	evicted  prometheus.Counter
}

func newAdminMetrics(reg prometheus.Registerer) *adminMetrics {
	m := &adminMetrics{
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecache_admin_denied_requests_total",
			Help: "Admin requests refused, by reason: origin, content_type, no_token, missing_token, wrong_token.",
		}, []string{"reason"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zonecache_admin_rejected_connections_total",
			Help: "Admin connections closed at accept: --admin-max-conns held and none idle.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zonecache_admin_evicted_connections_total",
			Help: "Idle admin keep-alive connections closed to make room for a new one.",
		}),
	}
	reg.MustRegister(m.denied, m.rejected, m.evicted)
	return m
}

// newAdminServer returns the admin HTTP server of handler h, guarded by
// the options' access policy, and its listener, bounded to maxConns.
func newAdminServer(o adminOptions, h http.Handler, ln net.Listener, reg prometheus.Registerer) (*http.Server, net.Listener) {
	m := newAdminMetrics(reg)
	g := &adminGuard{next: h, insecure: o.insecure, denied: m.denied}
	if o.token != "" {
		g.token, g.hasToken = sha256.Sum256([]byte(o.token)), true
	}
	lim := newConnLimiter(ln, o.maxConns, m.rejected, m.evicted)
	return &http.Server{
		Handler:           g,
		ReadHeaderTimeout: adminHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      membership.MaxWatchWait + adminWriteSlack,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeader,
		ConnState:         lim.track,
	}, lim
}

// adminGuard is the admin listener's access policy: no request from
// another origin, and a request that changes the node (any method but GET
// and HEAD) must be JSON-typed (so a web page cannot send it as a simple
// request) and carry the bearer token; without a token configured such
// requests are refused unless insecure.
type adminGuard struct {
	next     http.Handler
	token    [sha256.Size]byte // the token's hash, compared in constant time
	hasToken bool
	insecure bool
	denied   *prometheus.CounterVec
}

func (g *adminGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, reason, msg := g.check(r)
	if code == 0 {
		g.next.ServeHTTP(w, r)
		return
	}
	g.denied.WithLabelValues(reason).Inc()
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="zonecached admin"`)
	}
	http.Error(w, msg, code)
}

// check returns 0 for a request to serve, or the status, counted reason
// and message of its refusal.
func (g *adminGuard) check(r *http.Request) (code int, reason, msg string) {
	if o := r.Header.Get("Origin"); o != "" && !ownOrigin(o, r) {
		return http.StatusForbidden, "origin", "cross-origin request refused"
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return 0, "", ""
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return http.StatusForbidden, "content_type", "a request that changes the node must be sent with Content-Type: application/json"
	}
	if !g.hasToken {
		if g.insecure {
			return 0, "", ""
		}
		return http.StatusForbidden, "no_token", "admin changes are disabled: no admin token configured (start zonecached with --admin-token-file FILE, or --admin-insecure)"
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return http.StatusUnauthorized, "missing_token", "this request needs the admin token: Authorization: Bearer TOKEN"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], g.token[:]) != 1 {
		return http.StatusUnauthorized, "wrong_token", "wrong admin token"
	}
	return 0, "", ""
}

// ownOrigin reports whether origin (an Origin header) is the admin
// listener's own: its scheme, and the address the request arrived on, or
// localhost with its port when that address is loopback. A host name is
// never taken from the request, so a rebound DNS name does not pass.
func ownOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	if err != nil || !ok || u.Path != "" {
		return false
	}
	scheme, port := "http", "80"
	if r.TLS != nil {
		scheme, port = "https", "443"
	}
	if u.Scheme != scheme {
		return false
	}
	if u.Port() != "" {
		port = u.Port()
	}
	if port != fmt.Sprint(local.Port) {
		return false
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		return ip.Equal(local.IP)
	}
	return u.Hostname() == "localhost" && local.IP.IsLoopback()
}
