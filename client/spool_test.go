package client

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// spoolT0 is now: spool.close drops repairs expired by the wall clock.
var spoolT0 = time.Now().Truncate(time.Second)

func testRepair(node, key string) replication.Repair {
	return replication.Repair{NodeID: node, Addr: "127.0.0.1:" + node, Key: key, Kind: replication.RepairDelete,
		Deadline: spoolT0.Add(time.Hour)}
}

// encodeSegment returns a segment holding recs.
func encodeSegment(t testing.TB, recs []spoolRecord) []byte {
	b := spoolHeader()
	for _, r := range recs {
		var err error
		if b, err = appendRecord(b, r); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func sampleRecords() []spoolRecord {
	a, b, c := testRepair("a0", "k1"), testRepair("b0", "k2"), testRepair("a0", "k1")
	a.Seq, b.Seq, c.Seq = 1, 2, 3
	b.Kind, b.Deadline = replication.RepairInvalidate, time.Time{}
	return []spoolRecord{{r: a}, {r: b}, {r: c}, {done: true, r: replication.Repair{Seq: 1}}}
}

// Every prefix of a segment (a crash at any byte of a write) decodes to
// the records that were complete, and no more.
func TestSpoolDecodeTornTail(t *testing.T) {
	recs := sampleRecords()
	full := encodeSegment(t, recs)
	got, valid, err := decodeSpool(full)
	if err != nil || valid != len(full) || !reflect.DeepEqual(got, recs) {
		t.Fatalf("decode of a whole segment: %d records, valid %d of %d, %v", len(got), valid, len(full), err)
	}
	ends := []int{spoolHeaderLen}
	for i := range recs {
		ends = append(ends, len(encodeSegment(t, recs[:i+1])))
	}
	for n := spoolHeaderLen; n <= len(full); n++ {
		got, valid, err := decodeSpool(full[:n])
		want := 0
		for want+1 < len(ends) && ends[want+1] <= n {
			want++
		}
		if err != nil || len(got) != want || valid != ends[want] {
			t.Fatalf("prefix of %d bytes: %d records (want %d), valid %d, %v", n, len(got), want, valid, err)
		}
	}
	// A flipped byte in the last record ends the segment before it.
	bad := append([]byte(nil), full...)
	bad[len(bad)-1] ^= 0xff
	if got, _, _ := decodeSpool(bad); len(got) != len(recs)-1 {
		t.Fatalf("damaged last record: %d records decoded", len(got))
	}
	if _, _, err := decodeSpool([]byte("ZCRS\x02\x00\x00\x00")); err == nil {
		t.Fatal("a segment of an unknown version was decoded")
	}
}

// liveRepairs keeps the newest add of a node and key unless a done record
// ended it.
func TestSpoolLiveRepairs(t *testing.T) {
	live := liveRepairs(sampleRecords())
	if len(live) != 2 || live[0].Key != "k2" || live[1].Seq != 3 {
		t.Fatalf("live = %+v", live)
	}
	recs := append(sampleRecords(), spoolRecord{done: true, r: replication.Repair{Seq: 3}})
	if live := liveRepairs(recs); len(live) != 1 || live[0].Key != "k2" {
		t.Fatalf("live after done = %+v", live)
	}
}

// FuzzSpoolDecode: any bytes decode without panicking to records that
// encode and decode again to the same records, within the input.
func FuzzSpoolDecode(f *testing.F) {
	full := encodeSegment(f, sampleRecords())
	f.Add(full)
	f.Add(full[:len(full)-3])
	f.Add(spoolHeader())
	f.Add([]byte("ZCRS\x01\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, valid, err := decodeSpool(data)
		if err != nil {
			return
		}
		if valid < spoolHeaderLen || valid > len(data) {
			t.Fatalf("valid %d of %d bytes", valid, len(data))
		}
		again, valid2, err := decodeSpool(encodeSegment(t, recs))
		if err != nil || len(again) != len(recs) || valid2 > valid {
			t.Fatalf("re-encoded: %d of %d records, %v", len(again), len(recs), err)
		}
		for i := range recs {
			if again[i].done != recs[i].done || again[i].r.Seq != recs[i].r.Seq || again[i].r.Key != recs[i].r.Key ||
				!again[i].r.Deadline.Equal(recs[i].r.Deadline) {
				t.Fatalf("record %d: %+v became %+v", i, recs[i], again[i])
			}
		}
		_ = liveRepairs(recs)
	})
}

func openTestSpool(t *testing.T, dir string, limit int64) *spool {
	t.Helper()
	s, err := openSpool(dir, limit, time.Hour, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A segment whose owner is alive is not adopted; once the owner is gone
// (its file closed without a clean Close, as at a kill) its live repairs
// are, a torn last record notwithstanding, and release removes it.
func TestSpoolAdoptOnlyOrphans(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20)
	var seqs []uint64
	for i := 0; i < 3; i++ {
		r := testRepair("a0", fmt.Sprintf("k%d", i))
		var ok bool
		if r.Seq, ok = s.add(r, spoolT0); !ok {
			t.Fatal("add refused")
		}
		seqs = append(seqs, r.Seq)
	}
	done := testRepair("a0", "k1")
	done.Seq = seqs[1]
	s.finish(done)
	if got, o := adoptOrphans(dir, spoolT0, quietLogger); len(got) != 0 || len(o.files) != 0 {
		t.Fatalf("adopted %d repairs of a live owner", len(got))
	}
	// The owner dies in the middle of a record.
	_, _ = s.f.Write([]byte{40, 0, 0, 0, 1, 2})
	_ = s.f.Close()
	got, o := adoptOrphans(dir, spoolT0, quietLogger)
	if len(got) != 2 || got[0].Key != "k0" || got[1].Key != "k2" || got[1].Addr != "127.0.0.1:a0" {
		t.Fatalf("adopted %+v", got)
	}
	if again, _ := adoptOrphans(dir, spoolT0, quietLogger); len(again) != 0 {
		t.Fatal("a segment being adopted was adopted twice")
	}
	// Expired repairs are not adopted.
	if late, o2 := adoptOrphans(dir, spoolT0.Add(2*time.Hour), quietLogger); len(late) != 0 {
		o2.release(false)
		t.Fatalf("adopted %d expired repairs", len(late))
	}
	o.release(true)
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("left after release: %v", left)
	}
}

// A segment keeps to its limit: finished records are compacted away, and
// when live repairs fill it the next one is refused (counted).
func TestSpoolCompactsAndFills(t *testing.T) {
	dir := t.TempDir()
	rec, _ := appendRecord(nil, spoolRecord{r: testRepair("a0", "k00")})
	limit := int64(spoolHeaderLen + 5*len(rec))
	s := openTestSpool(t, dir, limit)
	full := 0
	s.onFull = func() { full++ }
	// Many repairs that finish at once: compaction and truncation keep
	// the segment under its limit.
	for i := 0; i < 100; i++ {
		r := testRepair("a0", fmt.Sprintf("k%02d", i%7))
		var ok bool
		if r.Seq, ok = s.add(r, spoolT0); !ok {
			t.Fatalf("add %d refused with %d live", i, len(s.live))
		}
		if i%7 != 0 {
			s.finish(r)
		}
	}
	if n, size := s.pending(); n != 1 || size > limit {
		t.Fatalf("pending %d, size %d (limit %d)", n, size, limit)
	}
	for i := 0; i < 4; i++ {
		if _, ok := s.add(testRepair("b0", fmt.Sprintf("k%02d", i)), spoolT0); !ok {
			t.Fatalf("add %d refused below the limit", i)
		}
	}
	if _, ok := s.add(testRepair("c0", "k99"), spoolT0); ok || full != 1 {
		t.Fatalf("add past the limit: spooled %v, full %d", ok, full)
	}
	// A newer repair of a spooled key that does not fit: finishing it
	// ends the older record too.
	newer := testRepair("b0", "k00")
	var ok bool
	if newer.Seq, ok = s.add(newer, spoolT0); ok {
		t.Fatal("spooled past the limit")
	}
	s.finish(newer)
	if n, _ := s.pending(); n != 4 {
		t.Fatalf("pending after finishing the newer repair: %d, want 4", n)
	}
	again := testRepair("b0", "k00")
	again.Seq, _ = s.add(again, spoolT0)
	if left := s.close(); left != 5 {
		t.Fatalf("close left %d", left)
	}
	got, o := adoptOrphans(dir, spoolT0, quietLogger)
	defer o.release(true)
	if len(got) != 5 {
		t.Fatalf("adopted %d, want 5", len(got))
	}
}

// A spool closed with nothing left removes its segment.
func TestSpoolCloseRemovesEmptySegment(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20)
	r := testRepair("a0", "k")
	r.Seq, _ = s.add(r, spoolT0)
	s.finish(r)
	if left := s.close(); left != 0 {
		t.Fatalf("left %d", left)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}
