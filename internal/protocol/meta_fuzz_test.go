package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
)

// FuzzReadReply feeds arbitrary bytes to the reply parser: it must never
// panic, and every reply it accepts must be self-consistent.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"VA 2 f5 c1 t-1 O8 ka\r\nhi\r\n",
		"HD O10\r\nEN\r\nNS\r\nEX\r\nNF\r\nMN\r\n",
		"VA 0 c6 t30 W\r\n\r\nVA 2 c5 t30 Z X\r\nhi\r\n",
		"VA 3 s3 h1 l12 b zz9\r\nabc\r\n",
		"ERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory\r\n",
		"VA 1000000000\r\nx",
		"VA 2\r\nhiX\r\n",
		"HD c18446744073709551615 f4294967295\r\n",
		"HD  c1   t2 \r\n",
		"",
		"\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
		var r Reply
		for i := 0; i < 64; i++ {
			err := ReadReply(br, &r)
			if err != nil {
				known := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
					errors.Is(err, ErrMalformed) || errors.Is(err, ErrClientError) ||
					errors.Is(err, ErrServerError) || errors.Is(err, ErrUnknownCommand)
				if !known {
					t.Fatalf("unclassified error %v", err)
				}
				if errors.Is(err, ErrClientError) || errors.Is(err, ErrServerError) || errors.Is(err, ErrUnknownCommand) {
					continue // an error reply keeps the stream in step
				}
				return
			}
			if r.Code == CodeNone {
				t.Fatal("accepted a reply without a code")
			}
			if r.Code == CodeVA && len(r.Value) != r.Size {
				t.Fatalf("VA %d but value has %d bytes", r.Size, len(r.Value))
			}
			if r.Code != CodeVA && len(r.Value) != 0 {
				t.Fatalf("%v reply with a value", r.Code)
			}
		}
	})
}

// FuzzReplyRoundTrip encodes replies from fuzzed fields and checks the
// parser reads back exactly those fields.
func FuzzReplyRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint64(7), uint32(3), int64(-1), uint32(99), []byte("key"), true)
	f.Add([]byte{}, uint64(0), uint32(0), int64(30), uint32(0), []byte("k"), false)
	f.Fuzz(func(t *testing.T, value []byte, cas uint64, flags uint32, ttl int64, opaque uint32, key []byte, won bool) {
		if ValidateKey(string(key)) != nil || ttl < -1 {
			return
		}
		var b []byte
		b = append(b, "VA "...)
		b = strconv.AppendInt(b, int64(len(value)), 10)
		b = append(b, " c"...)
		b = strconv.AppendUint(b, cas, 10)
		b = append(b, " f"...)
		b = strconv.AppendUint(b, uint64(flags), 10)
		b = append(b, " t"...)
		b = strconv.AppendInt(b, ttl, 10)
		b = append(b, " O"...)
		b = strconv.AppendUint(b, uint64(opaque), 10)
		b = append(b, " k"...)
		b = append(b, key...)
		if won {
			b = append(b, " W"...)
		}
		b = append(b, "\r\n"...)
		b = append(b, value...)
		b = append(b, "\r\n"...)
		var r Reply
		if err := ReadReply(bufio.NewReaderSize(bytes.NewReader(b), 4096), &r); err != nil {
			t.Fatalf("ReadReply(%q): %v", b, err)
		}
		o, ok := r.OpaqueUint32()
		if r.Code != CodeVA || !bytes.Equal(r.Value, value) || r.CAS != cas || r.ClientFlags != flags ||
			r.TTL != ttl || !ok || o != opaque || !bytes.Equal(r.Key, key) || r.Has(RetWon) != won {
			t.Fatalf("round trip of %q gave %+v", b, r)
		}
	})
}
