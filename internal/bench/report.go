package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the readable form of one or more Results: a table for people
// (WriteTable) and JSON for tools (WriteJSON). With two Results it also
// holds the second's ratios to the first.
type Report struct {
	// Setup describes the workload and loop in one line.
	Setup string `json:"setup"`
	// Workload is the workload after defaults.
	Workload WorkloadInfo `json:"workload"`
	// Targets holds one entry per Result, in order.
	Targets []TargetReport `json:"targets"`
	// Ratio is Targets[1] relative to Targets[0] when there are two.
	Ratio *RatioReport `json:"ratio,omitempty"`
	// ShowSeries makes WriteTable print every Target's per-second series;
	// without it the series is printed only for Targets with events.
	ShowSeries bool `json:"-"`
}

// WorkloadInfo is the JSON form of a Workload and loop settings.
type WorkloadInfo struct {
	Keys        int     `json:"keys"`
	KeySize     int     `json:"key_size"`
	Dist        string  `json:"dist"`
	Skew        float64 `json:"skew,omitempty"`
	Mix         string  `json:"mix"`
	Batch       int     `json:"batch"`
	ValueSize   string  `json:"value_size"`
	TTLSeconds  float64 `json:"ttl_s"`
	Seed        uint64  `json:"seed"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate_ops_s"`
	DurationS   float64 `json:"duration_s,omitempty"`
	OpsLimit    int64   `json:"ops_limit,omitempty"`
	Prefill     bool    `json:"prefill"`
	WarmupS     float64 `json:"warmup_s,omitempty"`
}

// Latencies are latency percentiles in microseconds.
type Latencies struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencies(h *Histogram) Latencies {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latencies{
		P50: us(h.Percentile(0.5)), P90: us(h.Percentile(0.9)), P99: us(h.Percentile(0.99)),
		P999: us(h.Percentile(0.999)), Max: us(h.Max()), Mean: h.Mean() / 1e3,
	}
}

// OpReport is one operation kind's share of a Result.
type OpReport struct {
	Op        string    `json:"op"`
	Ops       uint64    `json:"ops"`
	Errors    uint64    `json:"errors"`
	LatencyUS Latencies `json:"latency_us"`
}

// PointReport is the JSON form of a Point.
type PointReport struct {
	T          float64     `json:"t_s"`
	Throughput float64     `json:"ops_s"`
	ErrorRate  float64     `json:"errors_s"`
	HitRatio   float64     `json:"hit_ratio"`
	Reads      uint64      `json:"reads"`
	Late       uint64      `json:"late"`
	P50US      float64     `json:"p50_us"`
	P99US      float64     `json:"p99_us"`
	MaxUS      float64     `json:"max_us"`
	Zones      []ZoneStats `json:"zones,omitempty"`
}

// EventReport is the JSON form of an EventMark.
type EventReport struct {
	T     float64 `json:"t_s"`
	Label string  `json:"label"`
	Error string  `json:"error,omitempty"`
}

// TargetReport is the readable form of one Result.
type TargetReport struct {
	Name         string        `json:"name"`
	Loop         string        `json:"loop"`
	Ops          uint64        `json:"ops"`
	ElapsedS     float64       `json:"elapsed_s"`
	Throughput   float64       `json:"throughput_ops_s"`
	LatencyUS    Latencies     `json:"latency_us"`
	ServiceUS    *Latencies    `json:"service_us,omitempty"`
	LagUS        *Latencies    `json:"start_lag_us,omitempty"`
	ServerCPUS   float64       `json:"server_cpu_s,omitempty"`
	CPUPerOpUS   float64       `json:"server_cpu_per_op_us,omitempty"`
	HitRatio     float64       `json:"hit_ratio"`
	Hits         uint64        `json:"hits"`
	Misses       uint64        `json:"misses"`
	Errors       uint64        `json:"errors"`
	ErrorSamples []string      `json:"error_samples,omitempty"`
	Late         uint64        `json:"late"`
	Missed       uint64        `json:"missed"`
	ByOp         []OpReport    `json:"by_op"`
	Zones        []ZoneStats   `json:"zones,omitempty"`
	Prefill      *PrefillInfo  `json:"prefill,omitempty"`
	Series       []PointReport `json:"series"`
	Events       []EventReport `json:"events,omitempty"`
}

// PrefillInfo is the JSON form of a PrefillResult.
type PrefillInfo struct {
	Keys     uint64  `json:"keys"`
	Errors   uint64  `json:"errors"`
	ElapsedS float64 `json:"elapsed_s"`
}

// RatioReport holds the second Target's numbers divided by the first's.
type RatioReport struct {
	Of         string  `json:"of"`
	To         string  `json:"to"`
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P90        float64 `json:"p90"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p99_9"`
	Max        float64 `json:"max"`
	// CPUPerOp is the ratio of server CPU time per operation, NaN unless
	// both Targets report it.
	CPUPerOp float64 `json:"server_cpu_per_op"`
	// Slices, when both Results come from Compare, spreads the ratios of
	// the paired slices, a gauge of how much the machine's noise moved them.
	Slices *SliceRatios `json:"slices,omitempty"`
}

// SliceRatios are the distributions of per-slice-pair ratios (slice i of
// the second Target over slice i of the first).
type SliceRatios struct {
	N          int       `json:"n"`
	Throughput RatioDist `json:"throughput"`
	P99        RatioDist `json:"p99"`
}

// RatioDist is the median and range of a set of ratios.
type RatioDist struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func ratioDist(rs []float64) RatioDist {
	slices.Sort(rs)
	n := len(rs)
	med := rs[n/2]
	if n%2 == 0 {
		med = (rs[n/2-1] + rs[n/2]) / 2
	}
	return RatioDist{Median: med, Min: rs[0], Max: rs[n-1]}
}

// sliceRatios pairs the slices of a and b; nil unless both have the same
// positive number of slices with data.
func sliceRatios(a, b *Result) *SliceRatios {
	if len(a.Slices) == 0 || len(a.Slices) != len(b.Slices) {
		return nil
	}
	var tp, p99 []float64
	for i := range a.Slices {
		x, y := a.Slices[i], b.Slices[i]
		if x.Throughput > 0 && x.P99 > 0 {
			tp = append(tp, y.Throughput/x.Throughput)
			p99 = append(p99, float64(y.P99)/float64(x.P99))
		}
	}
	if len(tp) == 0 {
		return nil
	}
	return &SliceRatios{N: len(tp), Throughput: ratioDist(tp), P99: ratioDist(p99)}
}

// NewReport builds the Report of results measured with cfg.
func NewReport(cfg Config, results ...*Result) *Report {
	cfg = cfg.withDefaults()
	w := cfg.Workload
	info := WorkloadInfo{
		Keys: w.Keys, KeySize: w.KeySize, Dist: string(w.Dist), Mix: w.Mix.String(), Batch: w.Batch,
		ValueSize: w.ValueSize.String(), TTLSeconds: w.TTL.Seconds(), Seed: w.Seed,
		Concurrency: cfg.Concurrency, Rate: cfg.Rate, OpsLimit: cfg.Ops, Prefill: cfg.Prefill,
		WarmupS: cfg.Warmup.Seconds(),
	}
	if cfg.Ops == 0 {
		info.DurationS = cfg.Duration.Seconds()
	}
	dist := string(w.Dist)
	if w.Dist == Zipfian {
		info.Skew = w.Skew
		dist = fmt.Sprintf("zipf θ=%g", w.Skew)
	}
	loop := fmt.Sprintf("closed loop, %d workers", cfg.Concurrency)
	if cfg.Rate > 0 {
		loop = fmt.Sprintf("open loop at %s ops/s, ≤ %d in flight", groupDigits(cfg.Rate), cfg.Concurrency)
	}
	batch := ""
	if w.Mix.MultiGet > 0 {
		batch = fmt.Sprintf(" (mget of %d)", w.Batch)
	}
	ttl := "no ttl"
	if w.TTL > 0 {
		ttl = "ttl " + w.TTL.String()
	}
	r := &Report{
		Setup: fmt.Sprintf("%s; %d keys of %d B, %s; %s%s; values %s B; %s",
			loop, w.Keys, w.KeySize, dist, w.Mix, batch, w.ValueSize, ttl),
		Workload: info,
	}
	for _, res := range results {
		r.Targets = append(r.Targets, targetReport(res))
	}
	if len(results) == 2 {
		a, b := r.Targets[0], r.Targets[1]
		div := func(x, y float64) float64 {
			if y == 0 {
				return math.NaN()
			}
			return x / y
		}
		r.Ratio = &RatioReport{
			Of: b.Name, To: a.Name,
			Throughput: div(b.Throughput, a.Throughput),
			P50:        div(b.LatencyUS.P50, a.LatencyUS.P50), P90: div(b.LatencyUS.P90, a.LatencyUS.P90),
			P99: div(b.LatencyUS.P99, a.LatencyUS.P99), P999: div(b.LatencyUS.P999, a.LatencyUS.P999),
			Max:      div(b.LatencyUS.Max, a.LatencyUS.Max),
			CPUPerOp: div(b.CPUPerOpUS, a.CPUPerOpUS),
		}
		if a.CPUPerOpUS == 0 || b.CPUPerOpUS == 0 {
			r.Ratio.CPUPerOp = math.NaN()
		}
		r.Ratio.Slices = sliceRatios(results[0], results[1])
	}
	return r
}

func targetReport(res *Result) TargetReport {
	t := TargetReport{
		Name: res.Name, Loop: "closed", Ops: res.Ops, ElapsedS: res.Elapsed.Seconds(),
		Throughput: res.Throughput(), LatencyUS: latencies(res.Latency), HitRatio: res.HitRatio(),
		Hits: res.Hits, Misses: res.Misses, Errors: res.Errors, ErrorSamples: res.ErrorSamples,
		Late: res.Late, Missed: res.Missed, Zones: res.Zones, Series: []PointReport{},
	}
	if res.ServerCPU > 0 {
		t.ServerCPUS = res.ServerCPU.Seconds()
		t.CPUPerOpUS = float64(res.ServerCPU) / 1e3 / float64(max(res.Ops, 1))
	}
	if res.Rate > 0 {
		t.Loop = "open"
		s, l := latencies(res.Service), latencies(res.Lag)
		t.ServiceUS, t.LagUS = &s, &l
	}
	for op := Op(0); op < numOps; op++ {
		if res.OpCount[op] == 0 && res.OpErrors[op] == 0 {
			continue
		}
		t.ByOp = append(t.ByOp, OpReport{Op: op.String(), Ops: res.OpCount[op], Errors: res.OpErrors[op], LatencyUS: latencies(res.OpLatency[op])})
	}
	if res.Prefill.Keys > 0 {
		t.Prefill = &PrefillInfo{Keys: res.Prefill.Keys, Errors: res.Prefill.Errors, ElapsedS: res.Prefill.Elapsed.Seconds()}
	}
	for _, p := range res.Series {
		t.Series = append(t.Series, PointReport{
			T: p.T.Seconds(), Throughput: p.Throughput(), ErrorRate: p.ErrorRate(), HitRatio: p.HitRatio(), Reads: p.Hits + p.Misses,
			Late: p.Late, P50US: float64(p.P50) / 1e3, P99US: float64(p.P99) / 1e3, MaxUS: float64(p.Max) / 1e3,
			Zones: p.Zones,
		})
	}
	for _, e := range res.Events {
		t.Events = append(t.Events, EventReport{T: e.At.Seconds(), Label: e.Label, Error: e.Err})
	}
	return t
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report json: %w", err)
	}
	return nil
}

// MarshalJSON writes ratios with a zero denominator (NaN) as null, which
// encoding/json cannot do for float64 itself.
func (q RatioReport) MarshalJSON() ([]byte, error) {
	num := func(x float64) *float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return &x
	}
	return json.Marshal(struct {
		Of         string       `json:"of"`
		To         string       `json:"to"`
		Throughput *float64     `json:"throughput"`
		P50        *float64     `json:"p50"`
		P90        *float64     `json:"p90"`
		P99        *float64     `json:"p99"`
		P999       *float64     `json:"p99_9"`
		Max        *float64     `json:"max"`
		CPUPerOp   *float64     `json:"server_cpu_per_op"`
		Slices     *SliceRatios `json:"slices,omitempty"`
	}{q.Of, q.To, num(q.Throughput), num(q.P50), num(q.P90), num(q.P99), num(q.P999), num(q.Max), num(q.CPUPerOp), q.Slices})
}

// WriteTable writes r as aligned text tables: the summary, the ratio line
// when comparing, then per-operation and per-zone breakdowns.
func (r *Report) WriteTable(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "%s\n\n", r.Setup)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tops\tops/s\tp50\tp90\tp99\tp99.9\tmax\thit%\terrors\tlate\tmissed\t")
	for _, t := range r.Targets {
		l := t.LatencyUS
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%d\t%d\t%d\t\n", t.Name, t.Ops, groupDigits(t.Throughput),
			fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max), 100*t.HitRatio, t.Errors, t.Late, t.Missed)
	}
	if q := r.Ratio; q != nil {
		fmt.Fprintf(tw, "ratio %s / %s\t\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\t\n", q.Of, q.To,
			fmtRatio(q.Throughput), fmtRatio(q.P50), fmtRatio(q.P90), fmtRatio(q.P99), fmtRatio(q.P999), fmtRatio(q.Max))
	}
	tw.Flush()

	if q := r.Ratio; q != nil && q.Slices != nil {
		sl := q.Slices
		fmt.Fprintf(ew, "\nper slice pair (n=%d), %s / %s: throughput median %.2fx [%.2f–%.2f], p99 median %.2fx [%.2f–%.2f]\n",
			sl.N, q.Of, q.To, sl.Throughput.Median, sl.Throughput.Min, sl.Throughput.Max, sl.P99.Median, sl.P99.Min, sl.P99.Max)
	}
	cpuLine := "\n"
	for _, t := range r.Targets {
		if t.CPUPerOpUS > 0 {
			fmt.Fprintf(ew, "%sserver CPU %s: %.2fs, %s per operation\n", cpuLine, t.Name, t.ServerCPUS, fmtUS(t.CPUPerOpUS))
			cpuLine = ""
		}
	}
	if q := r.Ratio; q != nil && !math.IsNaN(q.CPUPerOp) {
		fmt.Fprintf(ew, "server CPU per operation, %s / %s: %s\n", q.Of, q.To, fmtRatio(q.CPUPerOp))
	}
	header := "\nper operation:"
	for _, t := range r.Targets {
		if t.Loop == "open" {
			header = "\nper operation (open loop: latency from the due time; service from the actual start; start lag = start - due):"
		}
	}
	fmt.Fprintln(ew, header)
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\top\tops\terrors\tp50\tp99\tp99.9\tmax\t")
	for _, t := range r.Targets {
		for _, o := range t.ByOp {
			l := o.LatencyUS
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", t.Name, o.Op, o.Ops, o.Errors, fmtUS(l.P50), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max))
		}
		if s := t.ServiceUS; s != nil {
			fmt.Fprintf(tw, "%s\tservice\t%d\t\t%s\t%s\t%s\t%s\t\n", t.Name, t.Ops, fmtUS(s.P50), fmtUS(s.P99), fmtUS(s.P999), fmtUS(s.Max))
		}
		if l := t.LagUS; l != nil {
			fmt.Fprintf(tw, "%s\tstart lag\t%d\t\t%s\t%s\t%s\t%s\t\n", t.Name, t.Ops, fmtUS(l.P50), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max))
		}
	}
	tw.Flush()

	for _, t := range r.Targets {
		if len(t.Zones) == 0 {
			continue
		}
		fmt.Fprintf(ew, "\nzones of %s:\n", t.Name)
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "zone\trequests\thits\tmisses\terrors\tfallbacks\t")
		for _, z := range t.Zones {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", z.Zone, z.Requests, z.Hits, z.Misses, z.Errors, z.Fallbacks)
		}
		tw.Flush()
	}
	for _, t := range r.Targets {
		if r.ShowSeries || len(t.Events) > 0 {
			writeSeries(ew, t)
		}
	}
	for _, t := range r.Targets {
		if t.Prefill != nil {
			fmt.Fprintf(ew, "\nprefill %s: %d keys in %.1fs, %d errors", t.Name, t.Prefill.Keys, t.Prefill.ElapsedS, t.Prefill.Errors)
		}
	}
	for _, t := range r.Targets {
		for _, e := range t.Events {
			fmt.Fprintf(ew, "\nevent %s at %.1fs: %s", t.Name, e.T, e.Label)
			if e.Error != "" {
				fmt.Fprintf(ew, " (error: %s)", e.Error)
			}
		}
		for _, s := range t.ErrorSamples {
			fmt.Fprintf(ew, "\nerror %s: %s", t.Name, s)
		}
	}
	fmt.Fprintln(ew)
	return ew.err
}

// writeSeries prints t's per-second series with its events in time order.
func writeSeries(w io.Writer, t TargetReport) {
	fmt.Fprintf(w, "\nper second, %s:\n", t.Name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tops/s\terrors/s\thit%\tp50\tp99\tmax\tlate\t")
	ev := 0
	for _, p := range t.Series {
		for ; ev < len(t.Events) && t.Events[ev].T <= p.T; ev++ {
			fmt.Fprintf(tw, "%.1fs\t\t\t\t\t\t\t\t  --- %s\n", t.Events[ev].T, t.Events[ev].Label)
		}
		hit := "-"
		if p.Reads > 0 {
			hit = fmt.Sprintf("%.2f", 100*p.HitRatio)
		}
		fmt.Fprintf(tw, "%.1fs\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", p.T, groupDigits(p.Throughput), groupDigits(p.ErrorRate),
			hit, fmtUS(p.P50US), fmtUS(p.P99US), fmtUS(p.MaxUS), p.Late)
	}
	for ; ev < len(t.Events); ev++ {
		fmt.Fprintf(tw, "%.1fs\t\t\t\t\t\t\t\t  --- %s\n", t.Events[ev].T, t.Events[ev].Label)
	}
	tw.Flush()
}

// errWriter keeps the first write error so table code can ignore them.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = fmt.Errorf("write report: %w", err)
	}
	return n, err
}

// fmtUS formats microseconds with a unit that keeps 3 significant digits.
func fmtUS(us float64) string { return FormatDuration(time.Duration(us * 1e3)) }

// FormatDuration formats d compactly with three significant digits: 87.3µs,
// 1.25ms, 2.50s.
func FormatDuration(d time.Duration) string {
	v := float64(d)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return sig3(v/1e3) + "µs"
	case d < time.Second:
		return sig3(v/1e6) + "ms"
	default:
		return sig3(v/1e9) + "s"
	}
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x)
}

// groupDigits formats v rounded to an integer with thousands separators.
func groupDigits(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
