package client

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// The repair spool's file format (version 1). A segment is an 8-byte
// header, "ZCRS" then the version (uint16, little endian) and two zero
// bytes, followed by records. A record is its payload's length (uint32),
// the payload's CRC-32C (uint32), then the payload:
//
//	add:  1, seq (uvarint), kind (byte), deadline (varint, Unix ns, 0 = none),
//	      node ID, address, key (each a uvarint length then the bytes)
//	done: 2, seq (uvarint)
//
// A done record ends the add record of the same seq. An add record ends an
// older add of the same node and key. A record cut short (a crash in the
// middle of a write) or failing its checksum ends the segment: what follows
// it is ignored.
const (
	spoolMagic     = "ZCRS"
	spoolVersion   = 1
	spoolHeaderLen = 8
	// spoolMaxRecord bounds a record's payload; a repair that would need
	// more (a very long node ID or address) is not spooled.
	spoolMaxRecord = 4096
	recAdd         = 1
	recDone        = 2
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)
	// errSpoolHeader: the file is not a spool segment of a version this
	// client reads; it is left alone.
	errSpoolHeader = errors.New("zonecache: not a repair spool segment of a known version")
	// errSpoolRecord: a repair too large to spool.
	errSpoolRecord = errors.New("zonecache: repair record too large for the spool")
)

// spoolRecord is one decoded record.
type spoolRecord struct {
	done bool
	// r is the repair of an add record; for a done record only r.Seq.
	r replication.Repair
}

// spoolHeader returns a segment's header.
func spoolHeader() []byte {
	h := make([]byte, spoolHeaderLen)
	copy(h, spoolMagic)
	binary.LittleEndian.PutUint16(h[4:], spoolVersion)
	return h
}

// appendRecord appends rec's encoding to dst.
func appendRecord(dst []byte, rec spoolRecord) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, 8)...)
	if rec.done {
		dst = append(dst, recDone)
		dst = binary.AppendUvarint(dst, rec.r.Seq)
	} else {
		r := rec.r
		dst = append(dst, recAdd)
		dst = binary.AppendUvarint(dst, r.Seq)
		dst = append(dst, byte(r.Kind))
		var dl int64
		if !r.Deadline.IsZero() {
			dl = r.Deadline.UnixNano()
		}
		dst = binary.AppendVarint(dst, dl)
		for _, s := range []string{r.NodeID, r.Addr, r.Key} {
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}
	}
	payload := dst[start+8:]
	if len(payload) > spoolMaxRecord {
		return dst[:start], errSpoolRecord
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst, nil
}

// decodeSpool decodes a segment. It returns the records before the first
// one that is cut short or damaged, and how many bytes they take with the
// header (valid); errSpoolHeader when the header is not one it reads.
func decodeSpool(data []byte) (recs []spoolRecord, valid int, err error) {
	if len(data) < spoolHeaderLen || string(data[:4]) != spoolMagic ||
		binary.LittleEndian.Uint16(data[4:]) != spoolVersion {
		return nil, 0, errSpoolHeader
	}
	off := spoolHeaderLen
	for len(data)-off >= 8 {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n == 0 || n > spoolMaxRecord || len(data)-off-8 < n {
			break
		}
		payload := data[off+8 : off+8+n]
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(data[off+4:]) {
			break
		}
		rec, ok := decodeRecord(payload)
		if !ok {
			break
		}
		recs = append(recs, rec)
		off += 8 + n
	}
	return recs, off, nil
}

// decodeRecord decodes one payload; false when it is malformed.
func decodeRecord(p []byte) (spoolRecord, bool) {
	var rec spoolRecord
	d := decoder{p: p[1:], ok: true}
	switch p[0] {
	case recDone:
		rec.done = true
		rec.r.Seq = d.uvarint()
	case recAdd:
		rec.r.Seq = d.uvarint()
		rec.r.Kind = replication.RepairKind(d.byte())
		if dl := d.varint(); dl != 0 {
			rec.r.Deadline = time.Unix(0, dl)
		}
		rec.r.NodeID, rec.r.Addr, rec.r.Key = d.str(), d.str(), d.str()
	default:
		return rec, false
	}
	return rec, d.ok && len(d.p) == 0 && rec.r.Seq != 0
}

// decoder reads a payload's fields; ok turns false at the first one that
// does not fit.
type decoder struct {
	p  []byte
	ok bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.p, d.ok = nil, false
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.p, d.ok = nil, false
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.p) == 0 {
		d.ok = false
		return 0
	}
	b := d.p[0]
	d.p = d.p[1:]
	return b
}

func (d *decoder) str() string {
	n := d.uvarint()
	if !d.ok || n > uint64(len(d.p)) {
		d.p, d.ok = nil, false
		return ""
	}
	s := string(d.p[:n])
	d.p = d.p[n:]
	return s
}

// liveRepairs replays records in order: the add records not ended by a
// done record or a later add of the same node and key, in the order they
// were written.
func liveRepairs(recs []spoolRecord) []replication.Repair {
	type id struct{ node, key string }
	live := make(map[id]int) // -> index in recs
	bySeq := make(map[uint64]id)
	for i, rec := range recs {
		if rec.done {
			if k, ok := bySeq[rec.r.Seq]; ok {
				if j, ok := live[k]; ok && recs[j].r.Seq == rec.r.Seq {
					delete(live, k)
				}
			}
			continue
		}
		k := id{rec.r.NodeID, rec.r.Key}
		live[k] = i
		bySeq[rec.r.Seq] = k
	}
	var out []replication.Repair
	for i, rec := range recs {
		if rec.done {
			continue
		}
		if j, ok := live[id{rec.r.NodeID, rec.r.Key}]; ok && j == i {
			out = append(out, rec.r)
		}
	}
	return out
}
