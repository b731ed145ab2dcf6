package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/internal/testproc"
	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/replication"
)

const (
	dashboardFile = "../../deploy/grafana/zonecache.json"
	alertsFile    = "../../deploy/prometheus/alerts.yml"
)

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// panelQueries returns each panel's queries by panel title, with Grafana's
// variables replaced as Grafana would for "all zones" and a 1m interval.
func panelQueries(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	queries := map[string][]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			q := strings.NewReplacer(`$zone`, `.*`, `$__rate_interval`, `1m`).Replace(tg.Expr)
			queries[p.Title] = append(queries[p.Title], q)
		}
	}
	if len(queries) < 10 {
		t.Fatalf("%d panels with queries, want the dashboard's dozen", len(queries))
	}
	return queries
}

// alertExprs returns the alert rules' expressions, by alert name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	// The rules file is YAML; its expressions are found by their keys
	// (block scalars included), which keeps this module free of a YAML
	// parser. promtool, below, parses it properly.
	exprs := map[string]string{}
	var name string
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if n, ok := strings.CutPrefix(l, "- alert: "); ok {
			name = n
		}
		e, ok := strings.CutPrefix(l, "expr: ")
		if !ok {
			continue
		}
		if e == "|" {
			e = ""
			for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], "          ") || strings.TrimSpace(lines[i+1]) == "") {
				i++
				e += lines[i] + "\n"
			}
		}
		exprs[name] = strings.TrimSpace(e)
	}
	return exprs
}

var metricName = regexp.MustCompile(`\b(?:zonecache|process|go)_[a-z0-9_]+`)

// metricNames returns the metric names in PromQL expressions, histogram
// series (_bucket, _sum, _count) named by their family.
func metricNames(exprs []string) []string {
	var names []string
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if strings.HasPrefix(n, "zonecache_") {
					n = strings.TrimSuffix(n, suffix)
				}
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

func allExprs(t *testing.T) []string {
	var exprs []string
	for _, qs := range panelQueries(t) {
		exprs = append(exprs, qs...)
	}
	for _, e := range alertExprs(t) {
		exprs = append(exprs, e)
	}
	return exprs
}

// observed is a small fleet under a steady workload, exposing metrics as
// in production: two zonecached nodes (zones a and b) with admin
// listeners, and a client in zone a whose topology also lists a node of
// zone c that is down (so errors, an open breaker and pending repairs
// show), its registry served over HTTP.
type observed struct {
	nodes   map[string]*testproc.Process // zone -> node
	admins  map[string]string            // zone -> admin address
	reg     *prometheus.Registry
	metrics string // the client's /metrics address
}

func startObserved(t *testing.T) *observed {
	t.Helper()
	o := &observed{nodes: map[string]*testproc.Process{}, admins: map[string]string{}, reg: prometheus.NewRegistry()}
	top := replication.Topology{Epoch: 1}
	for _, z := range []string{"a", "b"} {
		o.admins[z] = "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
		o.nodes[z] = testproc.StartZonecached(t, "--admin-addr", o.admins[z], "-m", "16")
		top.Nodes = append(top.Nodes, replication.Node{ID: z + "1", Zone: z, Addr: o.nodes[z].Addr})
	}
	down := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	top.Nodes = append(top.Nodes, replication.Node{ID: "c1", Zone: "c", Addr: down})
	c, err := client.New(client.Config{Zone: "a", Topology: top, Registerer: o.reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	srv := httptest.NewServer(promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	o.metrics = strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	b := nodeclient.NewNode(o.nodes["b"].Addr, nodeclient.Config{})
	t.Cleanup(func() { _ = b.Close() })
	go func() { defer close(done); workload(ctx, c, b.Online()) }()
	return o
}

// workload sets, reads and misses keys every 100 ms until ctx ends: hits
// in zone a, fallback hits from zone b (keys written there alone), misses,
// and writes that fail on zone c's dead node.
func workload(ctx context.Context, c *client.Client, b *nodeclient.Pool) {
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("k%d", i%50)
		_, _ = c.Set(ctx, client.Item{Key: key, Value: []byte("v"), TTL: time.Hour})
		_, _ = c.Get(ctx, key)
		_, _ = c.Get(ctx, "missing")
		only := fmt.Sprintf("only-b-%d", i)
		_ = b.Set(ctx, nodeclient.Item{Key: only, Value: []byte("v")})
		_, _ = c.Get(ctx, only)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exposedNames returns the metric families a node's /metrics and the
// client's registry expose.
func (o *observed) exposedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	resp, err := http.Get("http://" + o.admins["a"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if n, ok := strings.CutPrefix(l, "# TYPE "); ok {
			names[strings.Fields(n)[0]] = true
		}
	}
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

// TestDashboardAndAlertMetricsAreExposed checks that every metric the
// Grafana dashboard and the alert rules name is one a running zonecached
// or a client exposes: a renamed metric would leave a panel or an alert
// silently empty.
func TestDashboardAndAlertMetricsAreExposed(t *testing.T) {
	o := startObserved(t)
	names := metricNames(allExprs(t))
	if len(names) < 15 {
		t.Fatalf("found %d metric names (%v): the expressions were not read", len(names), names)
	}
	var exposed map[string]bool
	testproc.Eventually(t, 30*time.Second, "every vector metric observed", func() bool {
		exposed = o.exposedNames(t)
		return exposed["zonecache_client_requests_total"] && exposed["zonecache_client_breaker_state"]
	})
	for _, n := range names {
		if !exposed[n] {
			t.Errorf("%s is used by the dashboard or the alerts but exposed by neither zonecached nor the client", n)
		}
	}
	t.Logf("%d metric names checked: %v", len(names), names)
}

// TestAlertRulesPassPromtool runs promtool (Debian's prometheus package,
// installed by make test) on the rules, their unit tests (each alert
// fires on its failure and not on a healthy fleet) and the example
// Prometheus configuration.
func TestAlertRulesPassPromtool(t *testing.T) {
	promtool := requireTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", alertsFile},
		{"test", "rules", "../../deploy/prometheus/alerts_test.yml"},
		{"check", "config", "../../deploy/prometheus/prometheus.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; `make test` installs it (apt-get install prometheus)", name)
		}
		t.Skipf("%s not installed (run `make test` to install it)", name)
	}
	return path
}

// TestDashboardAndAlertsAgainstRealScrape starts Debian's Prometheus
// server (its binary, on a free port, with a temporary configuration and
// data directory) scraping two zonecached nodes and a client under load,
// with the alert rules loaded. Every query of every dashboard panel must
// return data, and every alert rule must evaluate without error.
func TestDashboardAndAlertsAgainstRealScrape(t *testing.T) {
	bin := requireTool(t, "prometheus")
	o := startObserved(t)
	api := startPrometheus(t, bin, o)
	for title, qs := range panelQueries(t) {
		for _, q := range qs {
			var n int
			testproc.Eventually(t, 90*time.Second, fmt.Sprintf("panel %q query %s returns data", title, q), func() bool {
				n = queryResults(t, api, q)
				return n > 0
			})
		}
	}
	testproc.Eventually(t, 60*time.Second, "every alert rule evaluated without error", func() bool {
		return rulesHealthy(t, api)
	})
}

// startPrometheus runs Prometheus scraping o every second and returns its
// HTTP API's base URL once it is ready.
func startPrometheus(t *testing.T, bin string, o *observed) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: zonecached
    static_configs:
      - targets: [%q]
        labels: {zone: a}
      - targets: [%q]
        labels: {zone: b}
  - job_name: zonecache-client
    static_configs:
      - targets: [%q]
`, rules, o.admins["a"], o.admins["b"], o.metrics)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(testproc.FreePort(t, "127.0.0.1"))
	var out testproc.SyncBuffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	testproc.Eventually(t, 60*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// queryResults runs an instant query and returns how many series it
// answered; a query Prometheus refuses fails the test.
func queryResults(t *testing.T, api, q string) int {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	getJSON(t, api+"/api/v1/query?query="+url.QueryEscape(q), &r)
	if r.Status != "success" {
		t.Fatalf("query %s: %s", q, r.Error)
	}
	return len(r.Data.Result)
}

// rulesHealthy reports whether every alert rule has been evaluated and
// none failed.
func rulesHealthy(t *testing.T, api string) bool {
	t.Helper()
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	getJSON(t, api+"/api/v1/rules", &r)
	n := 0
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			if rule.Health == "err" {
				t.Fatalf("alert %s: %s", rule.Name, rule.LastError)
			}
			if rule.Health == "ok" {
				n++
			}
		}
	}
	return n == len(alertExprs(t))
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}
