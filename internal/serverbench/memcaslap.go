package serverbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// errParse is wrapped when memcaslap's output lacks what a Measure needs.
var errParse = errors.New("memcaslap output")

// Memcaslap is the memcaslap load: Threads threads driving Conns
// connections, GetShare of the operations gets and the rest sets, values of
// ValueSize bytes, for Duration.
type Memcaslap struct {
	Bin       string // memcaslap binary; "memcaslap" from $PATH when empty
	Threads   int
	Conns     int
	GetShare  float64
	ValueSize int
	Duration  time.Duration
}

// Name implements Load.
func (m Memcaslap) Name() string { return fmt.Sprintf("memcaslap -c %d", m.Conns) }

// Run implements Load: memcaslap against addr, its TPS, the p99 of its
// latency histogram and its own CPU time.
func (m Memcaslap) Run(ctx context.Context, addr string) (Measure, error) {
	dir, err := os.MkdirTemp("", "memcaslap")
	if err != nil {
		return Measure{}, fmt.Errorf("memcaslap: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "mix.cfg")
	if err := os.WriteFile(cfg, []byte(m.config()), 0o644); err != nil {
		return Measure{}, fmt.Errorf("memcaslap: %w", err)
	}
	secs := strconv.Itoa(max(1, int(m.Duration.Round(time.Second)/time.Second))) + "s"
	bin := m.Bin
	if bin == "" {
		bin = "memcaslap"
	}
	cmd := exec.CommandContext(ctx, bin, "-s", addr, "-T", strconv.Itoa(m.Threads),
		"-c", strconv.Itoa(m.Conns), "-t", secs, "-S", secs, "-F", cfg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Measure{}, fmt.Errorf("memcaslap: %w; output:\n%s", err, tail(out))
	}
	ms, err := parseMemcaslap(out)
	if err != nil {
		return Measure{}, fmt.Errorf("%w; output:\n%s", err, tail(out))
	}
	ms.GenCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return ms, nil
}

// config is memcaslap's -F file: fixed 64 B keys, fixed values, the mix.
func (m Memcaslap) config() string {
	return fmt.Sprintf("key\n64 64 1\nvalue\n%d %d 1\ncmd\n0 %.2f\n1 %.2f\n",
		m.ValueSize, m.ValueSize, 1-m.GetShare, m.GetShare)
}

// parseMemcaslap reads the operations and run time of the last line ("Run
// time: 2.0s Ops: 119863 TPS: 59924 …") and the p99 of the "Total
// Statistics" log2 latency histogram.
func parseMemcaslap(out []byte) (Measure, error) {
	var ms Measure
	i := bytes.LastIndex(out, []byte("Run time:"))
	if i < 0 {
		return ms, fmt.Errorf("%w: no \"Run time:\" line", errParse)
	}
	f := strings.Fields(string(out[i:]))
	if len(f) < 5 || f[3] != "Ops:" {
		return ms, fmt.Errorf("%w: summary line %q", errParse, strings.Join(f, " "))
	}
	secs, err := strconv.ParseFloat(strings.TrimSuffix(f[2], "s"), 64)
	if err != nil {
		return ms, fmt.Errorf("%w: run time: %w", errParse, err)
	}
	if ms.Ops, err = strconv.ParseInt(f[4], 10, 64); err != nil {
		return ms, fmt.Errorf("%w: ops: %w", errParse, err)
	}
	ms.Elapsed = time.Duration(secs * float64(time.Second))
	hist, err := totalLog2Dist(out)
	if err != nil {
		return ms, err
	}
	ms.P99 = log2Quantile(hist, 0.99)
	return ms, nil
}

// totalLog2Dist returns the bucket counts of the "Total Statistics" log2
// histogram: bucket i counts latencies in [2^i, 2^(i+1)) µs. Its rows read
// "   8:   36232   47993   17640    4603", buckets 8 to 11.
func totalLog2Dist(out []byte) ([]int64, error) {
	i := bytes.LastIndex(out, []byte("Total Statistics ("))
	if i < 0 {
		return nil, fmt.Errorf("%w: no latency histogram (Total Statistics)", errParse)
	}
	var hist []int64
	sc := bufio.NewScanner(bytes.NewReader(out[i:]))
	sc.Scan() // the section's title
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			break
		}
		base, err := strconv.Atoi(strings.TrimSuffix(f[0], ":"))
		if err != nil || !strings.HasSuffix(f[0], ":") {
			continue // Min:, Max: … and "Log2 Dist:" lines
		}
		for j, c := range f[1:] {
			n, err := strconv.ParseInt(c, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: histogram row %q: %w", errParse, sc.Text(), err)
			}
			for len(hist) <= base+j {
				hist = append(hist, 0)
			}
			hist[base+j] = n
		}
	}
	if len(hist) == 0 {
		return nil, fmt.Errorf("%w: empty latency histogram", errParse)
	}
	return hist, nil
}

// log2Quantile returns quantile q of a log2 histogram in µs, interpolated
// geometrically within its factor-2 bucket (so only coarse: ±41 % at worst).
func log2Quantile(hist []int64, q float64) time.Duration {
	var total int64
	for _, n := range hist {
		total += n
	}
	rank := q * float64(total)
	var seen float64
	for i, n := range hist {
		if n > 0 && seen+float64(n) >= rank {
			frac := (rank - seen) / float64(n)
			us := math.Exp2(float64(i) + frac)
			return time.Duration(us * float64(time.Microsecond))
		}
		seen += float64(n)
	}
	return 0
}

// tail returns the last lines of a command's output, for errors.
func tail(out []byte) string {
	const keep = 2000
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return string(out)
}
