package store

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// The anchor the store is measured against in the same run: the obvious Go
// design, 256 mutex-sharded maps of Go-allocated items (one heap object and
// pointers per item, so the collector scans them all).
type mapItem struct {
	value []byte
	meta  Meta
}

type mapStore struct {
	shards [256]struct {
		mu sync.Mutex
		m  map[string]*mapItem
		_  [40]byte
	}
}

func newMapStore() *mapStore {
	s := &mapStore{}
	for i := range s.shards {
		s.shards[i].m = map[string]*mapItem{}
	}
	return s
}

func (s *mapStore) set(key, value []byte, cas uint64) {
	sh := &s.shards[hashKey(key)&255]
	v := append([]byte(nil), value...)
	sh.mu.Lock()
	sh.m[string(key)] = &mapItem{value: v, meta: Meta{CAS: cas}}
	sh.mu.Unlock()
}

func (s *mapStore) get(key []byte, fn func(v []byte)) bool {
	sh := &s.shards[hashKey(key)&255]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	it, ok := sh.m[string(key)]
	if ok {
		fn(it.value)
	}
	return ok
}

const benchKeys = 1 << 16

func benchKey(b []byte, i int) []byte { return fmt.Appendf(b[:0], "key:%016d", i) }

// benchKeyTable holds benchKeys 20-byte keys, so timed loops do no
// formatting.
func benchKeyTable() [][]byte {
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = benchKey(nil, i)
	}
	return keys
}

var sink atomic.Int64

// reportCPU reports the process CPU time per operation since start: on a
// loaded, shared machine wall time per operation mostly measures the wait
// for a core.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func benchStore(b *testing.B) *Store {
	s, err := New(Config{MaxBytes: 64 << 20, SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	val := make([]byte, 100)
	key := make([]byte, 0, 32)
	parts := [][]byte{val}
	for i := range benchKeys {
		key = benchKey(key, i)
		if _, err := s.Update(key, func(*Entry) Op { return Op{Action: Put, Value: parts} }); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkGet: parallel 100 % hit reads of 65,536 20-byte keys with
// 100-byte values, each value copied out as a server would; store vs the
// map anchor.
func BenchmarkGet(b *testing.B) {
	b.Run("store", func(b *testing.B) {
		s := benchStore(b)
		keys := benchKeyTable()
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b, processCPU())
		b.RunParallel(func(pb *testing.PB) {
			var n int64
			out := make([]byte, 0, 256)
			fn := func(e *Entry) { out = append(out[:0], e.Value...); n += int64(len(out)) } // as a server copies the value out
			for i := 0; pb.Next(); i++ {
				if !s.Get(keys[i*7919&(benchKeys-1)], fn) {
					b.Fatal("miss")
				}
			}
			sink.Add(n)
		})
	})
	b.Run("map", func(b *testing.B) {
		s := newMapStore()
		val := make([]byte, 100)
		key := make([]byte, 0, 32)
		for i := range benchKeys {
			s.set(benchKey(key, i), val, uint64(i))
		}
		keys := benchKeyTable()
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b, processCPU())
		b.RunParallel(func(pb *testing.PB) {
			var n int64
			out := make([]byte, 0, 256)
			fn := func(v []byte) { out = append(out[:0], v...); n += int64(len(out)) }
			for i := 0; pb.Next(); i++ {
				if !s.get(keys[i*7919&(benchKeys-1)], fn) {
					b.Fatal("miss")
				}
			}
			sink.Add(n)
		})
	})
}

// BenchmarkOverwriteFewKeys: serial overwrites of 1,000 keys (100-byte
// values) in a fresh 256 MiB store, as the server's BenchmarkTextSet
// overwrites one key: the cost of the rings' first touch and of their
// reuse.
func BenchmarkOverwriteFewKeys(b *testing.B) {
	s, err := New(Config{MaxBytes: 256 << 20, SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = benchKey(nil, i)
	}
	parts := [][]byte{make([]byte, 100)}
	fn := func(*Entry) Op { return Op{Action: Put, Value: parts} }
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := range b.N {
		if _, err := s.Update(keys[i%len(keys)], fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSet: parallel overwrites of 65,536 keys (100-byte values) in a
// warmed store; the store's rings wrap and evict dead items as they go.
func BenchmarkSet(b *testing.B) {
	b.Run("store", func(b *testing.B) {
		s := benchStore(b)
		keys := benchKeyTable()
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b, processCPU())
		b.RunParallel(func(pb *testing.PB) {
			parts := [][]byte{make([]byte, 100)}
			fn := func(*Entry) Op { return Op{Action: Put, Value: parts} }
			for i := 0; pb.Next(); i++ {
				if _, err := s.Update(keys[i*7919&(benchKeys-1)], fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("store-evicting", func(b *testing.B) {
		// 16x more keys than fit: every write evicts live items.
		s, err := New(Config{MaxBytes: 4 << 20, MaxItemSize: 64 << 10, SweepInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		keys := make([][]byte, 16*benchKeys)
		for i := range keys {
			keys[i] = benchKey(nil, i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b, processCPU())
		b.RunParallel(func(pb *testing.PB) {
			parts := [][]byte{make([]byte, 100)}
			fn := func(*Entry) Op { return Op{Action: Put, Value: parts} }
			for i := 0; pb.Next(); i++ {
				if _, err := s.Update(keys[i*7919&(len(keys)-1)], fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("map", func(b *testing.B) {
		s := newMapStore()
		val := make([]byte, 100)
		key := make([]byte, 0, 32)
		for i := range benchKeys {
			s.set(benchKey(key, i), val, uint64(i))
		}
		var cas atomic.Uint64
		keys := benchKeyTable()
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b, processCPU())
		b.RunParallel(func(pb *testing.PB) {
			val := make([]byte, 100)
			for i := 0; pb.Next(); i++ {
				s.set(keys[i*7919&(benchKeys-1)], val, cas.Add(1))
			}
		})
	})
}

// gcTime is the duration of one forced full collection: what the items
// cost the collector to mark.
func gcTime() time.Duration {
	start := time.Now()
	runtime.GC()
	return time.Since(start)
}

// memSnapshot returns heap-in-use and runtime Sys after a full collection.
func memSnapshot() (heap, sys uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.Sys
}

const memItems = 1_000_000

// fillMemcached writes memItems items (the benchmark's keys, 100-byte
// values) to a memcached with pipelined noreply sets and waits for them.
func fillMemcached(b *testing.B, addr string) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	go func() {
		w := bufio.NewWriterSize(nc, 256<<10)
		val := make([]byte, 100)
		for i := range val {
			val[i] = 'v'
		}
		line := make([]byte, 0, 256)
		for i := range memItems {
			line = benchKey(line[:0], i)
			line = append([]byte("set "), line...)
			line = append(line, " 0 0 100 noreply\r\n"...)
			line = append(append(line, val...), "\r\n"...)
			_, _ = w.Write(line)
		}
		_, _ = w.WriteString("mn\r\n")
		_ = w.Flush()
	}()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Minute))
	reply, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil || reply != "MN\r\n" {
		b.Fatalf("memcached fill: %q %v", reply, err)
	}
}

// BenchmarkMemory stores 1,000,000 items with 20-byte keys and 100-byte
// values (MaxBytes 1 GiB) and reports bytes per item: the store's own
// accounting (arena touched + index), Go heap in use, Go runtime Sys and,
// on Linux without -race, the growth of the resident set (which includes
// the off-heap arenas). The map anchor is measured the same way.
func BenchmarkMemory(b *testing.B) {
	val := make([]byte, 100)
	b.Run("store", func(b *testing.B) {
		for range b.N {
			heap0, sys0 := memSnapshot()
			rss0 := procRSS()
			s, err := New(Config{MaxBytes: 1 << 30, SweepInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			key := make([]byte, 0, 32)
			parts := [][]byte{val}
			start := time.Now()
			for i := range memItems {
				key = benchKey(key, i)
				if _, err := s.Update(key, func(*Entry) Op { return Op{Action: Put, Value: parts} }); err != nil {
					b.Fatal(err)
				}
			}
			load := time.Since(start)
			heap1, sys1 := memSnapshot()
			rss1 := procRSS()
			st := s.Stats()
			if st.Items != memItems {
				b.Fatalf("items %d: %+v", st.Items, st)
			}
			b.ReportMetric(float64(st.ArenaBytes+st.IndexBytes)/memItems, "acct-B/item")
			b.ReportMetric(float64(st.IndexBytes)/memItems, "index-B/item")
			b.ReportMetric(float64(heap1-heap0)/memItems, "heap-B/item")
			b.ReportMetric(float64(sys1-sys0)/memItems, "sys-B/item")
			if rss0 > 0 {
				b.ReportMetric(float64(rss1-rss0)/memItems, "rss-B/item")
			}
			b.ReportMetric(float64(load.Nanoseconds())/memItems, "load-ns/item")
			b.ReportMetric(float64(gcTime().Microseconds()), "gc-us")
			_ = s.Close()
		}
	})
	b.Run("map", func(b *testing.B) {
		for range b.N {
			heap0, sys0 := memSnapshot()
			rss0 := procRSS()
			s := newMapStore()
			key := make([]byte, 0, 32)
			start := time.Now()
			for i := range memItems {
				s.set(benchKey(key, i), val, uint64(i))
			}
			load := time.Since(start)
			heap1, sys1 := memSnapshot()
			rss1 := procRSS()
			b.ReportMetric(float64(heap1-heap0)/memItems, "heap-B/item")
			b.ReportMetric(float64(sys1-sys0)/memItems, "sys-B/item")
			if rss0 > 0 {
				b.ReportMetric(float64(rss1-rss0)/memItems, "rss-B/item")
			}
			b.ReportMetric(float64(load.Nanoseconds())/memItems, "load-ns/item")
			b.ReportMetric(float64(gcTime().Microseconds()), "gc-us")
			runtime.KeepAlive(s)
		}
	})
	b.Run("memcached", func(b *testing.B) {
		testproc.RequireMemcached(b)
		for range b.N {
			p := testproc.StartMemcached(b, "-m", "1024")
			rss0, err := p.RSSBytes()
			if err != nil {
				b.Fatal(err)
			}
			fillMemcached(b, p.Addr)
			rss1, err := p.RSSBytes()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(rss1-rss0)/memItems, "rss-B/item")
			p.Kill()
		}
	})
}

// BenchmarkBigOverSmall times storing 1 MiB items into shards full of small
// items: each write evicts thousands of them under the shard lock, so its
// time per op bounds how long a read of that shard can wait behind it.
func BenchmarkBigOverSmall(b *testing.B) {
	s, err := New(Config{MaxBytes: 64 << 20, SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	small := Op{Action: Put, Value: [][]byte{make([]byte, 100)}}
	big := Op{Action: Put, Value: [][]byte{make([]byte, 1<<20-100)}}
	key := make([]byte, 0, 32)
	n := 0
	refill := func() {
		for range 64 << 20 / ItemSize(20, 100) {
			key = benchKey(key, n)
			n++
			if _, err := s.Update(key, func(*Entry) Op { return small }); err != nil {
				b.Fatal(err)
			}
		}
	}
	refill()
	b.ReportAllocs()
	b.ResetTimer()
	var evicted uint64
	for i := range b.N {
		b.StopTimer()
		if i%16 == 15 {
			refill()
		}
		key = fmt.Appendf(key[:0], "big%d", i)
		e0 := s.Stats().Evictions
		b.StartTimer()
		if _, err := s.Update(key, func(*Entry) Op { return big }); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		evicted += s.Stats().Evictions - e0
		b.StartTimer()
	}
	b.ReportMetric(float64(evicted)/float64(b.N), "evictions/op")
}
