package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"time"
)

// ErrBadSnapshot is wrapped by ReadSnapshot's error when its input is not a
// complete snapshot of this version: truncated, corrupt or another format.
var ErrBadSnapshot = errors.New("store: snapshot not valid")

// Snapshot layout, little endian: a header, one record per item, a trailer.
//
//	header  magic [8]byte, saved uint64 (Unix seconds), cas uint64 (the counter)
//	record  tag 1, key len uint8, bits uint8, flags uint32, expires uint32,
//	        cas uint64, value len uint32, key, value
//	trailer tag 0, items uint64, crc32c uint32 of every byte before it
const (
	snapHeaderSize = 24
	snapRecordHead = 23
	tagItem        = 1
	tagEnd         = 0
)

var snapMagic = [8]byte{'Z', 'C', 'S', 'N', 'A', 'P', 0, 1} // the last byte is the version

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotStats counts what ReadSnapshot did.
type SnapshotStats struct {
	// Loaded is the number of items stored.
	Loaded int
	// Expired counts items that expired since the snapshot was written.
	Expired int
	// Skipped counts items this store refused (larger than its
	// MaxItemSize, or no room).
	Skipped int
	// Saved is when the snapshot was written.
	Saved time.Time
}

// WriteSnapshot writes every live item (key, value, flags, expiry, CAS) and
// the CAS counter to w, a chunk of one shard at a time: memory use does not
// grow with the store, and the store stays usable meanwhile (an item
// written during the pass may be missed). It returns the number of items
// written. ReadSnapshot loads the result.
func (s *Store) WriteSnapshot(ctx context.Context, w io.Writer) (int, error) {
	sw := &snapWriter{crc: crc32.New(castagnoli)}
	sw.w = bufio.NewWriterSize(io.MultiWriter(w, sw.crc), 1<<20)
	var h [snapHeaderSize]byte
	copy(h[:], snapMagic[:])
	le.PutUint64(h[8:], uint64(s.now().Unix()))
	le.PutUint64(h[16:], s.cas.Load())
	sw.write(h[:])
	for i := range s.shards {
		sh := &s.shards[i]
		err := sh.eachChunk(ctx, s, func(_, off int) error {
			sw.item(sh.buf, off, sh.pendingFlush)
			return sw.err
		})
		if err != nil {
			return sw.n, fmt.Errorf("write snapshot: %w", err)
		}
	}
	var t [9]byte
	t[0] = tagEnd
	le.PutUint64(t[1:], uint64(sw.n))
	sw.write(t[:])
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	if sw.err == nil {
		_, sw.err = w.Write(le.AppendUint32(nil, sw.crc.Sum32()))
	}
	if sw.err != nil {
		return sw.n, fmt.Errorf("write snapshot: %w", sw.err)
	}
	return sw.n, nil
}

// snapWriter buffers a snapshot and keeps its checksum and first error.
type snapWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	n   int
	err error
	rec [snapRecordHead]byte // a field, not a local: Write would make it escape
}

func (sw *snapWriter) write(p []byte) {
	if sw.err == nil {
		_, sw.err = sw.w.Write(p)
	}
}

// item writes the record of the item at off in buf. A delayed flush due at
// flush (0: none) ends the item's life then, so it is saved as its expiry.
func (sw *snapWriter) item(buf []byte, off int, flush uint32) {
	r := &sw.rec
	m := readMeta(buf, off)
	key, value := itemKey(buf, off), itemValue(buf, off)
	r[0] = tagItem
	r[1] = uint8(len(key))
	r[2] = buf[off+offBits] & metaBits
	le.PutUint32(r[3:], m.Flags)
	exp := uint32(m.Expires)
	if flush != 0 && (exp == 0 || exp > flush) {
		exp = flush
	}
	le.PutUint32(r[7:], exp)
	le.PutUint64(r[11:], m.CAS)
	le.PutUint32(r[19:], uint32(len(value)))
	sw.write(r[:])
	sw.write(key)
	sw.write(value)
	sw.n++
}

// ReadSnapshot stores the items of a snapshot written by WriteSnapshot,
// with their flags, expiry and CAS, dropping those that have expired since;
// the CAS counter then continues above every CAS restored or handed out
// before the snapshot. An input that does not validate (magic, lengths,
// item count, checksum) returns an error wrapping ErrBadSnapshot, and
// everything it stored is flushed again: call it before serving.
func (s *Store) ReadSnapshot(ctx context.Context, r io.Reader) (SnapshotStats, error) {
	sr := &snapReader{crc: crc32.New(castagnoli), max: s.maxItemSize}
	sr.r = bufio.NewReaderSize(r, 1<<20)
	st, err := s.readSnapshot(ctx, sr)
	if err != nil {
		s.Flush(time.Unix(0, 0))
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: truncated (%w)", ErrBadSnapshot, err)
		}
		return SnapshotStats{}, fmt.Errorf("read snapshot: %w", err)
	}
	return st, nil
}

func (s *Store) readSnapshot(ctx context.Context, sr *snapReader) (SnapshotStats, error) {
	var h [snapHeaderSize]byte
	if err := sr.full(h[:]); err != nil {
		return SnapshotStats{}, err
	}
	if [8]byte(h[:8]) != snapMagic {
		return SnapshotStats{}, fmt.Errorf("%w: not a zonecached snapshot of version %d", ErrBadSnapshot, snapMagic[7])
	}
	st := SnapshotStats{Saved: time.Unix(int64(le.Uint64(h[8:])), 0)}
	s.advanceCAS(le.Uint64(h[16:]))
	now := s.nowSec()
	for n := uint64(0); ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		rec, err := sr.next()
		if err != nil {
			return st, err
		}
		if rec == nil {
			return st, sr.end(n)
		}
		s.restore(rec, now, &st)
	}
}

// restore stores one record, counting it in st.
func (s *Store) restore(rec *snapRecord, now uint32, st *SnapshotStats) {
	switch {
	case rec.tooLarge:
		st.Skipped++
	case expiredAt(toU32Expires(rec.meta.Expires), now):
		st.Expired++
	default:
		_, err := s.Update(rec.key, rec.put)
		if err != nil {
			st.Skipped++
			return
		}
		st.Loaded++
	}
	s.advanceCAS(rec.meta.CAS)
}

// advanceCAS makes the CAS counter at least c, so that no later write
// reuses a CAS unique restored or handed out before a restart.
func (s *Store) advanceCAS(c uint64) {
	for cur := s.cas.Load(); c > cur && !s.cas.CompareAndSwap(cur, c); cur = s.cas.Load() {
	}
}

// snapReader reads a snapshot's records, keeping the checksum of the bytes
// consumed; the record and its buffers are reused.
type snapReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	max int // larger values are read past, not kept
	rec snapRecord
	// head holds a record's tag and header; a field, not a local, as
	// reading into it would make it escape.
	head [snapRecordHead]byte
}

// snapRecord is one item of a snapshot.
type snapRecord struct {
	key, value []byte
	meta       Meta
	tooLarge   bool
	parts      [1][]byte
}

// put is the Update callback that stores the record.
func (rec *snapRecord) put(*Entry) Op {
	rec.parts[0] = rec.value
	return Op{Action: Put, Meta: rec.meta, Value: rec.parts[:]}
}

// full reads len(p) bytes into p and adds them to the checksum.
func (sr *snapReader) full(p []byte) error {
	_, err := io.ReadFull(sr.r, p)
	sr.crc.Write(p)
	return err
}

// resize returns b with length n, reusing its memory when it is large
// enough.
func resize(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// next reads the next record; it returns nil at the trailer.
func (sr *snapReader) next() (*snapRecord, error) {
	if err := sr.full(sr.head[:1]); err != nil {
		return nil, err
	}
	switch tag := sr.head[0]; tag {
	case tagEnd:
		return nil, nil
	case tagItem:
	default:
		return nil, fmt.Errorf("%w: unknown record tag %d", ErrBadSnapshot, tag)
	}
	h := sr.head[1:]
	if err := sr.full(h); err != nil {
		return nil, err
	}
	klen, vlen := int(h[0]), int(le.Uint32(h[18:]))
	if klen == 0 || klen > MaxKeyLength || vlen > maxValueLen {
		return nil, fmt.Errorf("%w: record with key length %d and value length %d", ErrBadSnapshot, klen, vlen)
	}
	rec := &sr.rec
	rec.meta = Meta{Flags: le.Uint32(h[2:]), Expires: int64(le.Uint32(h[6:])), CAS: le.Uint64(h[10:])}
	rec.meta.Fetched, rec.meta.Stale = h[1]&bitFetched != 0, h[1]&bitStale != 0
	rec.meta.WinSent, rec.meta.KeyBinary = h[1]&bitWinSent != 0, h[1]&bitKeyBinary != 0
	rec.key = resize(rec.key, klen)
	if err := sr.full(rec.key); err != nil {
		return nil, err
	}
	rec.tooLarge = ItemSize(klen, vlen) > sr.max
	if rec.tooLarge {
		_, err := io.CopyN(sr.crc, sr.r, int64(vlen))
		return rec, err
	}
	rec.value = resize(rec.value, vlen)
	return rec, sr.full(rec.value)
}

// end checks the trailer after n records and that nothing follows it.
func (sr *snapReader) end(n uint64) error {
	var count [8]byte
	if err := sr.full(count[:]); err != nil {
		return err
	}
	want := sr.crc.Sum32() // of every byte before the checksum
	var sum [4]byte
	if _, err := io.ReadFull(sr.r, sum[:]); err != nil {
		return err
	}
	if got := le.Uint64(count[:]); got != n {
		return fmt.Errorf("%w: trailer counts %d items, read %d", ErrBadSnapshot, got, n)
	}
	if got := le.Uint32(sum[:]); got != want {
		return fmt.Errorf("%w: checksum %08x, computed %08x", ErrBadSnapshot, got, want)
	}
	if _, err := sr.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: data after the trailer", ErrBadSnapshot)
	}
	return nil
}
