package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loggingTarget records which target served each call, in order.
type loggingTarget struct {
	*fakeTarget
	name string
	log  *callLog
}

type callLog struct {
	mu    sync.Mutex
	names []string
}

func (l *callLog) add(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.names); n == 0 || l.names[n-1] != name {
		l.names = append(l.names, name) // keep runs only
	}
}

func (t loggingTarget) Get(ctx context.Context, key string) (bool, error) {
	t.log.add(t.name)
	return t.fakeTarget.Get(ctx, key)
}

func (t loggingTarget) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	t.log.add(t.name)
	return t.fakeTarget.Set(ctx, key, v, ttl)
}

func TestCompareAlternatesSlices(t *testing.T) {
	log := &callLog{}
	a := loggingTarget{newFake(0), "A", log}
	b := loggingTarget{newFake(200 * time.Microsecond), "B", log}
	cfg := CompareConfig{
		Config: Config{Workload: Workload{Keys: 100}, Concurrency: 1, Duration: 1500 * time.Millisecond},
		Slice:  500 * time.Millisecond,
	}
	cmp, err := Compare(context.Background(), cfg, NamedTarget{"A", a}, NamedTarget{"B", b})
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Slices != 3 {
		t.Fatalf("slices %d, want 3", cmp.Slices)
	}
	// A B, B A, A B: four runs of calls.
	if got := strings.Join(log.names, ""); got != "ABAB" {
		t.Fatalf("call runs %q, want ABAB (slices A B, B A, A B)", got)
	}
	if cmp.A.Ops == 0 || cmp.B.Ops == 0 || cmp.A.Name != "A" || cmp.B.Name != "B" {
		t.Fatalf("A %d ops, B %d ops", cmp.A.Ops, cmp.B.Ops)
	}
	// Each Target ran 3 slices of 0.5 s.
	for _, r := range []*Result{cmp.A, cmp.B} {
		if r.Elapsed < 1500*time.Millisecond {
			t.Errorf("%s measured %v, want ≥ 1.5 s", r.Name, r.Elapsed)
		}
	}
	rep := NewReport(cfg.Config, cmp.A, cmp.B)
	if rep.Ratio == nil || rep.Ratio.Of != "B" || rep.Ratio.To != "A" {
		t.Fatalf("ratio %+v", rep.Ratio)
	}
	if want := cmp.B.Throughput() / cmp.A.Throughput(); math.Abs(rep.Ratio.Throughput-want) > 1e-9 {
		t.Fatalf("throughput ratio %v, want %v", rep.Ratio.Throughput, want)
	}
	// B sleeps ≥ 200 µs per call, A does not.
	if rep.Ratio.P50 <= 1 {
		t.Fatalf("p50 ratio %v: B is slower than A", rep.Ratio.P50)
	}
	sl := rep.Ratio.Slices
	if sl == nil || sl.N != 3 || sl.Throughput.Max >= 1 || sl.P99.Min <= 1 ||
		sl.Throughput.Min > sl.Throughput.Median || sl.Throughput.Median > sl.Throughput.Max {
		t.Fatalf("slice ratios %+v: want 3 pairs, B slower in each", sl)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "per slice pair (n=3), B / A") {
		t.Fatalf("table lacks the slice ratios:\n%s", table.String())
	}
}

func TestCompareByOpsSplitsExactly(t *testing.T) {
	cfg := CompareConfig{Config: Config{Workload: Workload{Keys: 100}, Concurrency: 2, Ops: 1003}}
	cmp, err := Compare(context.Background(), cfg, NamedTarget{"a", newFake(0)}, NamedTarget{"b", newFake(0)})
	if err != nil {
		t.Fatal(err)
	}
	if cmp.A.Ops != 1003 || cmp.B.Ops != 1003 {
		t.Fatalf("ops %d and %d, want 1003 each", cmp.A.Ops, cmp.B.Ops)
	}
}

func sampleResult(t *testing.T) *Result {
	t.Helper()
	f := newFake(0)
	cfg := Config{Workload: Workload{Keys: 200, Mix: Mix{Get: 8, Set: 1, MultiGet: 1}, Batch: 4}, Concurrency: 2,
		Duration: 1200 * time.Millisecond, Prefill: true,
		Events: []Event{{At: 300 * time.Millisecond, Label: "node <killed> & gone"}}}
	res, err := Run(context.Background(), cfg, "fake", f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestReportTableAndJSON(t *testing.T) {
	res := sampleResult(t)
	res.Zones = []ZoneStats{{Zone: "us-east-1a", Requests: 10, Hits: 7, Misses: 2, Errors: 1, Fallbacks: 3}}
	rep := NewReport(Config{Workload: Workload{Keys: 200, Mix: Mix{Get: 8, Set: 1, MultiGet: 1}, Batch: 4}, Concurrency: 2}, res)
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"closed loop, 2 workers", "get=8,set=1,mget=1", "p99.9", "fake", "mget", "us-east-1a", "prefill fake: 200 keys", "node <killed> & gone"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Targets []struct {
			Name       string  `json:"name"`
			Ops        uint64  `json:"ops"`
			Throughput float64 `json:"throughput_ops_s"`
			Latency    struct {
				P99  float64 `json:"p99"`
				P999 float64 `json:"p99_9"`
				Max  float64 `json:"max"`
			} `json:"latency_us"`
			Series []struct {
				T float64 `json:"t_s"`
			} `json:"series"`
			Zones []ZoneStats `json:"zones"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("json: %v\n%s", err, js.String())
	}
	if len(back.Targets) != 1 || back.Targets[0].Ops != res.Ops || back.Targets[0].Throughput <= 0 {
		t.Fatalf("json targets %+v", back.Targets)
	}
	l := back.Targets[0].Latency
	if !(l.P99 > 0 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("json latency %+v not ordered", l)
	}
	if len(back.Targets[0].Series) != len(res.Series) || back.Targets[0].Zones[0].Fallbacks != 3 {
		t.Fatalf("json series %d points (want %d), zones %+v", len(back.Targets[0].Series), len(res.Series), back.Targets[0].Zones)
	}
}

func TestReportRatioNaNIsNull(t *testing.T) {
	a, b := newResult("a"), newResult("b")
	rep := NewReport(Config{}, a, b)
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"throughput": null`) {
		t.Fatalf("ratio of empty results should be null:\n%s", js.String())
	}
}

func TestWriteSVGIsWellFormed(t *testing.T) {
	res := sampleResult(t)
	other := sampleResult(t)
	other.Name = "other"
	var buf bytes.Buffer
	if err := WriteSVG(&buf, "zone lost <test>", res, other); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&buf)
	paths, dashed, texts := 0, 0, []string{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "path":
				paths++
			case "line":
				for _, a := range el.Attr {
					if a.Name.Local == "stroke-dasharray" {
						dashed++
					}
				}
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	if paths != standardPanels*2 {
		t.Errorf("%d paths, want %d (one per panel and result)", paths, standardPanels*2)
	}
	if dashed != standardPanels*2 {
		t.Errorf("%d event markers, want %d", dashed, standardPanels*2)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"zone lost <test>", "node <killed> & gone", "throughput", "hit ratio", "other"} {
		if !strings.Contains(all, want) {
			t.Errorf("svg text lacks %q", want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		500: "500ns", 87300: "87.3µs", 1_250_000: "1.25ms", 2_500_000_000: "2.50s", 123_456_789: "123ms",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%d) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 999: "999", 1234567: "1,234,567", 61234.4: "61,234"} {
		if got := groupDigits(v); got != want {
			t.Errorf("groupDigits(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestWriteSVGLeavesGapWithoutReads(t *testing.T) {
	r := newResult("gap")
	for i, hits := range []uint64{10, 0, 10} {
		r.Series = append(r.Series, Point{T: time.Duration(i+1) * time.Second, Dur: time.Second, Ops: 10, Hits: hits})
	}
	var buf bytes.Buffer
	if err := WriteSVG(&buf, "gap", r); err != nil {
		t.Fatal(err)
	}
	// Panel order: throughput, errors, hit ratio, p99. The hit ratio path
	// restarts (a second "M") after the second without reads.
	var ds []string
	for _, line := range strings.Split(buf.String(), "\n") {
		if i := strings.Index(line, ` d="`); i >= 0 && strings.HasPrefix(line, "<path") {
			ds = append(ds, line[i+4:])
		}
	}
	if len(ds) != standardPanels {
		t.Fatalf("%d paths", len(ds))
	}
	if n := strings.Count(ds[2], "M"); n != 2 {
		t.Fatalf("hit ratio path %q has %d moves, want 2 (a gap)", ds[2], n)
	}
	if n := strings.Count(ds[0], "M"); n != 1 {
		t.Fatalf("throughput path %q has %d moves, want 1", ds[0], n)
	}
}

func TestReportSeriesTableAroundEvents(t *testing.T) {
	r := newResult("node")
	r.Series = []Point{
		{T: time.Second, Dur: time.Second, Ops: 100, Hits: 90, Misses: 10, P99: 1e6},
		{T: 2 * time.Second, Dur: time.Second, Ops: 5, Errors: 5},
		{T: 3 * time.Second, Dur: time.Second, Ops: 80, Hits: 80},
	}
	r.Events = []EventMark{{At: 1500 * time.Millisecond, Label: "kill node-1"}}
	var buf bytes.Buffer
	if err := NewReport(Config{}, r).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	i := strings.Index(out, "per second, node:")
	if i < 0 {
		t.Fatalf("no series table:\n%s", out)
	}
	lines := strings.Split(out[i:], "\n")
	// Header, 1 s, the event, 2 s, 3 s.
	if len(lines) < 6 || !strings.Contains(lines[3], "--- kill node-1") {
		t.Fatalf("event not between 1 s and 2 s:\n%s", strings.Join(lines, "\n"))
	}
	if f := strings.Fields(lines[4]); f[0] != "2.0s" || f[2] != "5" || f[3] != "-" {
		t.Fatalf("2 s line %q: want 5 errors/s and no hit ratio", lines[4])
	}
	if f := strings.Fields(lines[2]); f[3] != "90.00" {
		t.Fatalf("1 s line %q: want hit%% 90.00", lines[2])
	}
	// Without events the series is left out unless asked for.
	r.Events = nil
	buf.Reset()
	rep := NewReport(Config{}, r)
	_ = rep.WriteTable(&buf)
	if strings.Contains(buf.String(), "per second") {
		t.Fatal("series printed without events")
	}
	rep.ShowSeries = true
	buf.Reset()
	_ = rep.WriteTable(&buf)
	if !strings.Contains(buf.String(), "per second, node:") {
		t.Fatal("ShowSeries ignored")
	}
}

// standardPanels is the number of SVG panels without zones.
const standardPanels = 4

// zoneTarget is a fake zone-aware Target: zone "a" answers every read
// until broken, then fails and falls back to zone "b".
type zoneTarget struct {
	*fakeTarget
	broken         atomic.Bool
	aReq, aErr     atomic.Uint64
	aFb, bReq, bOK atomic.Uint64
}

func (z *zoneTarget) Get(ctx context.Context, key string) (bool, error) {
	z.aReq.Add(1)
	if z.broken.Load() {
		z.aErr.Add(1)
		z.aFb.Add(1)
		z.bReq.Add(1)
		z.bOK.Add(1)
	}
	return true, nil
}

func (z *zoneTarget) ZoneStats() []ZoneStats {
	return []ZoneStats{
		{Zone: "a", Requests: z.aReq.Load(), Hits: z.aReq.Load() - z.aErr.Load(), Errors: z.aErr.Load(), Fallbacks: z.aFb.Load()},
		{Zone: "b", Requests: z.bReq.Load(), Hits: z.bOK.Load()},
	}
}

func TestZoneReporterCountsAndChart(t *testing.T) {
	z := &zoneTarget{fakeTarget: newFake(0)}
	z.aReq.Store(1000) // counts from before the run must not show
	z.aErr.Store(10)
	cfg := Config{Workload: Workload{Keys: 100, Mix: Mix{Get: 1}}, Concurrency: 2, Duration: 3 * time.Second,
		Events: []Event{{At: 1800 * time.Millisecond, Label: "zone a lost", Do: func(context.Context) error {
			z.broken.Store(true)
			return nil
		}}}}
	res, err := Run(context.Background(), cfg, "fleet", z)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Zones) != 2 || res.Zones[0].Zone != "a" || res.Zones[0].Requests != res.Ops {
		t.Fatalf("zones %+v, ops %d: zone a must count exactly the run's reads", res.Zones, res.Ops)
	}
	a, b := res.Zones[0], res.Zones[1]
	if a.Errors == 0 || a.Errors != a.Fallbacks || b.Requests != a.Fallbacks || a.Errors >= res.Ops {
		t.Fatalf("zone a %+v, zone b %+v: want fallbacks from a to b after the event only", a, b)
	}
	// The first second is before the event; zone counters are sampled when
	// each point closes, so the per-point zone deltas add up to the totals.
	first := res.Series[0]
	if len(first.Zones) != 2 || first.Zones[0].Errors != 0 || first.Zones[0].Requests == 0 {
		t.Fatalf("first point zones %+v", first.Zones)
	}
	var errs, bReq uint64
	for _, p := range res.Series {
		errs += p.Zones[0].Errors
		bReq += p.Zones[1].Requests
	}
	if errs != a.Errors || bReq != b.Requests {
		t.Fatalf("series zone sums: errors %d requests(b) %d; totals %d and %d", errs, bReq, a.Errors, b.Requests)
	}
	var buf bytes.Buffer
	if err := NewReport(cfg, res).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "zones of fleet:") {
		t.Fatalf("table lacks the zones:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteSVG(&buf, "zone lost", res); err != nil {
		t.Fatal(err)
	}
	svg := buf.String()
	if n := strings.Count(svg, "<path "); n != standardPanels+4 {
		t.Fatalf("%d paths, want %d (4 panels + 2 zone panels × 2 zones)", n, standardPanels+4)
	}
	for _, want := range []string{"errors by zone", "fallbacks by zone", ">a<", ">b<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

func TestRatioDist(t *testing.T) {
	if d := ratioDist([]float64{3, 1, 2}); d != (RatioDist{Median: 2, Min: 1, Max: 3}) {
		t.Fatalf("odd: %+v", d)
	}
	if d := ratioDist([]float64{4, 1, 2, 3}); d != (RatioDist{Median: 2.5, Min: 1, Max: 4}) {
		t.Fatalf("even: %+v", d)
	}
	a, b := newResult("a"), newResult("b")
	if sliceRatios(a, b) != nil {
		t.Fatal("ratios without slices")
	}
	a.Slices = []SliceStat{{100, 10}, {0, 0}}
	b.Slices = []SliceStat{{50, 30}, {10, 10}}
	if sr := sliceRatios(a, b); sr == nil || sr.N != 1 || sr.Throughput.Median != 0.5 || sr.P99.Median != 3 {
		t.Fatalf("slice ratios %+v: the empty slice of a must be skipped", sr)
	}
}

// The time axis fits the run (a 5 s run is not drawn on a 6 s axis, nor
// 15 s on 20 s), its ticks step by 1, 2 or 5 × 10^n, 3 to 7 of them; the
// value axis tops at the first tick above the largest value.
func TestAxes(t *testing.T) {
	for _, c := range []struct{ t, end, step float64 }{
		{5, 5, 1}, {5.02, 5.02, 1}, {4.9, 5, 1}, {15, 15, 5}, {15.1, 15.1, 5}, {20, 20, 5}, {20.4, 20.4, 5},
		{10, 10, 2}, {10.02, 10.02, 2}, {60, 60, 10}, {61, 61, 20}, {0.7, 0.7, 0.2}, {0, 1, 0.2},
	} {
		end, step := timeAxis(c.t)
		if math.Abs(end-c.end) > 1e-9 || math.Abs(step-c.step) > 1e-9 {
			t.Errorf("timeAxis(%v) = %v, %v; want %v, %v", c.t, end, step, c.end, c.step)
		}
		if n := len(ticks(end, step)); n < 3 || n > 8 {
			t.Errorf("timeAxis(%v): %d ticks", c.t, n)
		}
	}
	for _, c := range []struct{ v, top, step float64 }{
		{0, 1, 0.2}, {0.3, 0.3, 0.1}, {7, 8, 2}, {12, 15, 5}, {100, 100, 20}, {45_000, 50_000, 10_000}, {26_000, 30_000, 10_000},
	} {
		top, step := valueAxis(c.v)
		if math.Abs(top-c.top) > 1e-9 || math.Abs(step-c.step) > 1e-9 {
			t.Errorf("valueAxis(%v) = %v, %v; want %v, %v", c.v, top, step, c.top, c.step)
		}
	}
	if got := ticks(1, 0.2); len(got) != 6 || math.Abs(got[5]-1) > 1e-9 {
		t.Errorf("ticks(1, 0.2) = %v, want 0 to 1 by 0.2", got)
	}
}

// Event labels close in time go to separate rows; far apart ones share
// the first row; one near the right edge ends at its marker.
func TestEventLabelsDoNotOverlap(t *testing.T) {
	x := func(s float64) float64 { return svgLeft + s/20*svgPlotW }
	events := []EventMark{{At: 5 * time.Second, Label: "a-1 killed"}, {At: 5200 * time.Millisecond, Label: "a-3 started warming"},
		{At: 15 * time.Second, Label: "a-3 promoted"}, {At: 5100 * time.Millisecond, Label: "warm a-3 from zone b"},
		{At: 20 * time.Second, Label: "end of the run, far right"}}
	labels := eventLabels(events, x)
	if len(labels) != len(events) {
		t.Fatalf("%d labels for %d events", len(labels), len(events))
	}
	span := func(l eventLabel) (float64, float64) {
		w := svgCharW * float64(len([]rune(l.text)))
		if l.anchor == "end" {
			return l.x - w, l.x
		}
		return l.x, l.x + w
	}
	for i, a := range labels {
		a0, a1 := span(a)
		if a1 > svgWidth || a0 < 0 {
			t.Errorf("label %q runs off the chart: %v to %v", a.text, a0, a1)
		}
		for _, b := range labels[i+1:] {
			b0, b1 := span(b)
			if a.row == b.row && a0 < b1 && b0 < a1 {
				t.Errorf("labels %q and %q overlap in row %d", a.text, b.text, a.row)
			}
		}
	}
	if rows := labelRows(labels); rows != 3 {
		t.Errorf("%d rows, want 3 (three events within 0.2 s)", rows)
	}
	if labels[0].text != "5s a-1 killed" || labels[1].text != "5.1s warm a-3 from zone b" {
		t.Errorf("labels in time order with their time: %q, %q", labels[0].text, labels[1].text)
	}
}
