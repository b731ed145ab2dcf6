package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

var restartItems = flag.Int("restart-items", 1_000_000, "items of 100 bytes BenchmarkWarmRestart stores before the restart")

// restartTarget is one server under BenchmarkWarmRestart: how to start it
// on its file and the signal that makes it save and exit.
type restartTarget struct {
	name  string
	start func(b *testing.B, dir string) *testproc.Process
	stop  syscall.Signal
}

// BenchmarkWarmRestart stores -restart-items items of 100 bytes, stops the
// server with its saving signal, starts it again on the same file and reads
// every key back: save time (signal to exit), load time (start to
// listening), hit ratio and file size, for zonecached (file on tmpfs and on
// disk) and memcached -e (its memory file must be on tmpfs). Run it with
// -benchtime 1x.
func BenchmarkWarmRestart(b *testing.B) {
	shm, err := os.MkdirTemp("/dev/shm", "zc-restart-")
	if err != nil {
		b.Skip("no /dev/shm:", err)
	}
	b.Cleanup(func() { os.RemoveAll(shm) })
	zc := func(dir func() string) func(*testing.B, string) *testproc.Process {
		return func(b *testing.B, _ string) *testproc.Process {
			return testproc.StartZonecached(b, "-m", "1024", "--restart-file", filepath.Join(dir(), "cache"))
		}
	}
	disk := b.TempDir()
	for _, tg := range []restartTarget{
		{name: "zonecached-tmpfs", start: zc(func() string { return shm }), stop: syscall.SIGTERM},
		{name: "zonecached-disk", start: zc(func() string { return disk }), stop: syscall.SIGTERM},
		{name: "memcached-tmpfs", stop: syscall.SIGUSR1, start: func(b *testing.B, _ string) *testproc.Process {
			return testproc.StartMemcached(b, "-m", "1024", "-e", filepath.Join(shm, "memcached"))
		}},
	} {
		b.Run(tg.name, func(b *testing.B) {
			for range b.N {
				benchRestart(b, tg, *restartItems)
			}
		})
	}
}

func benchRestart(b *testing.B, tg restartTarget, n int) {
	p := tg.start(b, "")
	fill(b, p.Addr, n)
	start := time.Now()
	if err := syscall.Kill(p.Pid(), tg.stop); err != nil {
		b.Fatal(err)
	}
	if err := p.Wait(5 * time.Minute); err != nil {
		b.Fatalf("stop: %v\n%s", err, p.Output())
	}
	save := time.Since(start)
	// memcached refuses its memory file, as if the clock went back, when
	// started again within the second it was stopped in (its stop_time is
	// rounded up): the restart waits for the next second but one.
	for next := start.Add(save).Truncate(time.Second).Add(2 * time.Second); time.Now().Before(next); {
		time.Sleep(10 * time.Millisecond)
	}
	start = time.Now()
	p = tg.start(b, "")
	load := time.Since(start)
	hits := countHits(b, p.Addr, n)
	b.ReportMetric(save.Seconds(), "save-s")
	b.ReportMetric(load.Seconds(), "load-s")
	b.ReportMetric(float64(hits)/float64(n), "hit-ratio")
	b.Logf("%s: %d items, save %v, load %v, hits %d (%.4f)", tg.name, n, save.Round(time.Millisecond), load.Round(time.Millisecond), hits, float64(hits)/float64(n))
	p.Kill()
}

// fill stores n items of 100 bytes (keys key:0 ...) through one pipelined
// connection and waits for the last reply.
func fill(b *testing.B, addr string, n int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	value := bytes.Repeat([]byte("v"), 100)
	w := bufio.NewWriterSize(c, 1<<20)
	for i := range n {
		fmt.Fprintf(w, "set key:%d 0 0 100 noreply\r\n%s\r\n", i, value)
	}
	fmt.Fprint(w, "version\r\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		b.Fatal(err)
	}
}

// countHits asks for the n keys in gets of 100 and counts the values.
func countHits(b *testing.B, addr string, n int) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 1<<20)
	hits := 0
	for i := 0; i < n; i += 100 {
		var cmd bytes.Buffer
		cmd.WriteString("get")
		for k := i; k < min(i+100, n); k++ {
			cmd.WriteString(" key:" + strconv.Itoa(k))
		}
		cmd.WriteString("\r\n")
		if _, err := c.Write(cmd.Bytes()); err != nil {
			b.Fatal(err)
		}
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if string(line) == "END\r\n" {
				break
			}
			if bytes.HasPrefix(line, []byte("VALUE ")) {
				hits++
				if _, err := r.Discard(100 + 2); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return hits
}
