package serverbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// errReply is wrapped when a server's reply to the multi-get load is not
// what the memcached protocol says.
var errReply = errors.New("unexpected reply")

// MultiGet is the pipelining multi-get load: Conns connections, each writing
// Depth gets of KeysPerGet keys in one write and reading the replies in
// bulk, batch after batch, for Duration; Keys keys of ValueSize bytes are set
// first. An operation is one key fetched; latency is measured per batch.
type MultiGet struct {
	Conns      int
	Depth      int
	KeysPerGet int
	Keys       int
	ValueSize  int
	Duration   time.Duration
}

// Name implements Load.
func (m MultiGet) Name() string {
	return fmt.Sprintf("multi-get %d keys ×%d, %d conns", m.KeysPerGet, m.Depth, m.Conns)
}

// Run implements Load. Its generator CPU time is this process's, so nothing
// else should run in the process meanwhile.
func (m MultiGet) Run(ctx context.Context, addr string) (Measure, error) {
	if err := m.prefill(ctx, addr); err != nil {
		return Measure{}, err
	}
	cpu0 := selfCPU()
	start := time.Now()
	deadline := start.Add(m.Duration)
	var wg sync.WaitGroup
	results := make([]connResult, m.Conns)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = m.drive(ctx, addr, deadline, m.batch(uint64(i)))
		}()
	}
	wg.Wait()
	ms := Measure{Elapsed: time.Since(start), GenCPU: selfCPU() - cpu0}
	var lat []time.Duration
	for _, r := range results {
		if r.err != nil {
			return Measure{}, r.err
		}
		ms.Ops += r.keys
		lat = append(lat, r.batches...)
	}
	ms.P99 = quantile(lat, 0.99)
	return ms, nil
}

// connResult is what one connection of the load measured.
type connResult struct {
	keys    int64
	batches []time.Duration
	err     error
}

// batch returns Depth get lines of KeysPerGet random keys each.
func (m MultiGet) batch(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 13))
	var b []byte
	for range m.Depth {
		b = append(b, "get"...)
		for range m.KeysPerGet {
			b = append(b, ' ')
			b = appendKey(b, rng.IntN(m.Keys))
		}
		b = append(b, "\r\n"...)
	}
	return b
}

func appendKey(b []byte, i int) []byte {
	return strconv.AppendInt(append(b, "mg:"...), int64(i), 10)
}

// drive sends batch after batch on one connection until deadline.
func (m MultiGet) drive(ctx context.Context, addr string, deadline time.Time, batch []byte) connResult {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return connResult{err: fmt.Errorf("multi-get: %w", err)}
	}
	defer c.Close()
	_ = c.SetDeadline(deadline.Add(30 * time.Second))
	r := bufio.NewReaderSize(c, 256<<10)
	var res connResult
	for time.Now().Before(deadline) && ctx.Err() == nil {
		t0 := time.Now()
		if _, err := c.Write(batch); err != nil {
			res.err = fmt.Errorf("multi-get: %w", err)
			return res
		}
		n, err := readGets(r, m.Depth)
		if err != nil {
			res.err = fmt.Errorf("multi-get: %w", err)
			return res
		}
		res.batches = append(res.batches, time.Since(t0))
		res.keys += int64(n)
	}
	return res
}

// readGets reads the replies to gets get commands and returns the number
// of values they held.
func readGets(r *bufio.Reader, gets int) (values int, err error) {
	for gets > 0 {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return values, err
		}
		switch {
		case bytes.Equal(line, []byte("END\r\n")):
			gets--
		case bytes.HasPrefix(line, []byte("VALUE ")):
			n, ok := valueLength(line)
			if !ok {
				return values, fmt.Errorf("%w: %q", errReply, line)
			}
			if _, err := r.Discard(n + 2); err != nil {
				return values, err
			}
			values++
		default:
			return values, fmt.Errorf("%w: %q", errReply, line)
		}
	}
	return values, nil
}

// valueLength reads the byte count ending "VALUE key flags bytes\r\n"
// without allocating: the generator must cost less than the server.
func valueLength(line []byte) (n int, ok bool) {
	end := len(line) - 2
	i := bytes.LastIndexByte(line[:end], ' ')
	if i < 0 || i+1 == end {
		return 0, false
	}
	for _, c := range line[i+1 : end] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// prefill sets every key on one connection, pipelined with noreply, and
// waits for a final mn-less round trip (version) so all are stored.
func (m MultiGet) prefill(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("multi-get prefill: %w", err)
	}
	defer c.Close()
	value := bytes.Repeat([]byte{'v'}, m.ValueSize)
	w := bufio.NewWriterSize(c, 64<<10)
	for i := range m.Keys {
		b := appendKey([]byte("set "), i)
		b = append(b, " 0 0 "...)
		b = strconv.AppendInt(b, int64(m.ValueSize), 10)
		b = append(b, " noreply\r\n"...)
		b = append(append(b, value...), "\r\n"...)
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("multi-get prefill: %w", err)
		}
	}
	if _, err := w.WriteString("version\r\n"); err != nil {
		return fmt.Errorf("multi-get prefill: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("multi-get prefill: %w", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || len(line) < 8 || line[:8] != "VERSION " {
		return fmt.Errorf("multi-get prefill: %w: %q (%v)", errReply, line, err)
	}
	return nil
}

// quantile returns quantile q of the durations (sorted in place).
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// selfCPU returns this process's user + system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
