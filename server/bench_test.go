package server

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// repeatReader yields a command n times, then EOF.
type repeatReader struct {
	cmd  []byte
	n    int
	left []byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	w := 0
	for w < len(p) {
		if len(r.left) == 0 {
			if r.n == 0 {
				break
			}
			r.n--
			r.left = r.cmd
		}
		k := copy(p[w:], r.left)
		r.left = r.left[k:]
		w += k
	}
	if w == 0 {
		return 0, io.EOF
	}
	return w, nil
}

// discardConn is a memConn that keeps nothing.
type discardConn struct {
	memConn
}

func (d *discardConn) Write(p []byte) (int, error) { d.written += len(p); return len(p), nil }

// benchCommands runs cmd b.N times through one connection, in batches as
// a pipelining client would send them (16 KiB reads).
func benchCommands(b *testing.B, setup, cmd string) {
	s, err := New(Config{MaxBytes: 256 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if setup != "" {
		mc := &memConn{in: strings.NewReader(setup)}
		newConn(s, mc).serve()
	}
	dc := &discardConn{}
	dc.in = &repeatReader{cmd: []byte(cmd), n: b.N}
	c := newConn(s, dc)
	b.ReportAllocs()
	b.SetBytes(int64(len(cmd)))
	b.ResetTimer()
	c.serve()
	b.StopTimer()
	if dc.written == 0 {
		b.Fatal("no replies")
	}
}

var (
	benchKey   = "key:0000000000000001" // 20 bytes
	benchValue = strings.Repeat("v", 100)
	benchSetup = "set " + benchKey + " 0 0 100\r\n" + benchValue + "\r\n"
)

func BenchmarkTextGetHit(b *testing.B) { benchCommands(b, benchSetup, "get "+benchKey+"\r\n") }

func BenchmarkTextGetMiss(b *testing.B) { benchCommands(b, "", "get "+benchKey+"\r\n") }

func BenchmarkTextSet(b *testing.B) { benchCommands(b, "", benchSetup) }

func BenchmarkMetaGetHit(b *testing.B) { benchCommands(b, benchSetup, "mg "+benchKey+" v f c\r\n") }

func BenchmarkMetaSet(b *testing.B) {
	benchCommands(b, "", "ms "+benchKey+" 100 T0\r\n"+benchValue+"\r\n")
}

func BenchmarkTextMultiGet10(b *testing.B) {
	cmd := "get" + strings.Repeat(" "+benchKey, 10) + "\r\n"
	benchCommands(b, benchSetup, cmd)
}

func BenchmarkTextSet32K(b *testing.B) {
	v := strings.Repeat("v", 32<<10)
	benchCommands(b, "", "set "+benchKey+" 0 0 32768\r\n"+v+"\r\n")
}
