package serverbench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// WriteSample writes one sample as a line of progress.
func WriteSample(w io.Writer, s Sample) {
	fmt.Fprintf(w, "round %d  %-34s %-10s  %9.0f ops/s  p99 %8v  server %6v/op (user %v, system %v, %.3f switches)  generator %6v/op\n",
		s.Round, s.Load, s.Server, s.TPS(), s.P99.Round(time.Microsecond),
		s.CPUPerOp(), s.UserPerOp(), s.SystemPerOp(), s.SwitchesPerOp(), s.GenCPUPerOp())
}

// WriteSummary writes, per load, the median over rounds of each server's
// TPS, p99, CPU per operation (and its user and system parts, and the
// server's context switches per operation), and zonecached's ratios to
// memcached (the range over rounds in brackets).
func WriteSummary(w io.Writer, samples []Sample) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "load\tserver\tTPS\tp99\tCPU/op\tuser/op\tsystem/op\tswitches/op\tgen CPU/op\t")
	for _, load := range loads(samples) {
		mc, zc := pick(samples, load, Memcached), pick(samples, load, Zonecached)
		for _, ss := range [][]Sample{mc, zc} {
			if len(ss) == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%v\t%v\t%v\t%v\t%.3f\t%v\t\n", load, ss[0].Server,
				median(ss, Sample.TPS), time.Duration(median(ss, p99)).Round(time.Microsecond),
				time.Duration(median(ss, cpuPerOp)), time.Duration(median(ss, userPerOp)), time.Duration(median(ss, systemPerOp)),
				median(ss, Sample.SwitchesPerOp), time.Duration(median(ss, genPerOp)))
		}
		if len(mc) == 0 || len(zc) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\tzc/mc\t%s\t%s\t%s\t%s\t%s\t%s\t\t\n", load,
			ratio(zc, mc, Sample.TPS), ratio(zc, mc, p99), ratio(zc, mc, cpuPerOp),
			ratio(zc, mc, userPerOp), ratio(zc, mc, systemPerOp), ratio(zc, mc, Sample.SwitchesPerOp))
	}
	return tw.Flush()
}

func p99(s Sample) float64         { return float64(s.P99) }
func cpuPerOp(s Sample) float64    { return float64(s.CPUPerOp()) }
func userPerOp(s Sample) float64   { return float64(s.UserPerOp()) }
func systemPerOp(s Sample) float64 { return float64(s.SystemPerOp()) }
func genPerOp(s Sample) float64    { return float64(s.GenCPUPerOp()) }

// loads returns the loads of samples in the order they first ran.
func loads(samples []Sample) []string {
	var out []string
	for _, s := range samples {
		if !slices.Contains(out, s.Load) {
			out = append(out, s.Load)
		}
	}
	return out
}

// pick returns the samples of one load and server, by round.
func pick(samples []Sample, load, server string) []Sample {
	var out []Sample
	for _, s := range samples {
		if s.Load == load && s.Server == server {
			out = append(out, s)
		}
	}
	return out
}

// ratio formats the median of the per-round ratios a/b of f and their range.
func ratio(a, b []Sample, f func(Sample) float64) string {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if d := f(b[i]); d != 0 {
			rs = append(rs, f(a[i])/d)
		}
	}
	if len(rs) == 0 {
		return "-"
	}
	slices.Sort(rs)
	return fmt.Sprintf("%.2f× [%.2f–%.2f]", medianOf(rs), rs[0], rs[len(rs)-1])
}

func median(ss []Sample, f func(Sample) float64) float64 {
	vs := make([]float64, len(ss))
	for i, s := range ss {
		vs[i] = f(s)
	}
	slices.Sort(vs)
	return medianOf(vs)
}

// medianOf returns the median of sorted vs.
func medianOf(vs []float64) float64 {
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}
