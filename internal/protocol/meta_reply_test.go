package protocol

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func reader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 4096) }

func TestReadReply(t *testing.T) {
	var r Reply
	br := reader("VA 2 f5 c1 t-1 O8 ka\r\nhi\r\nHD O10\r\nEN\r\nNS\r\nEX O18\r\nNF O16\r\nMN\r\n" +
		"VA 0 c6 t30 W\r\n\r\nVA 2 c5 t30 Z X\r\nhi\r\nVA 3 s3 h1 l12 b zz9\r\nabc\r\nHD\n")

	mustRead := func() {
		t.Helper()
		if err := ReadReply(br, &r); err != nil {
			t.Fatalf("ReadReply: %v", err)
		}
	}
	mustRead()
	if r.Code != CodeVA || string(r.Value) != "hi" || r.ClientFlags != 5 || r.CAS != 1 || r.TTL != -1 ||
		string(r.Key) != "a" || string(r.Opaque) != "8" || !r.Has(RetCAS|RetFlagsValue|RetTTL|RetKey|RetOpaque) {
		t.Fatalf("first reply parsed as %+v", r)
	}
	if o, ok := r.OpaqueUint32(); !ok || o != 8 {
		t.Fatalf("OpaqueUint32 = %d, %v", o, ok)
	}
	mustRead()
	if r.Code != CodeHD || string(r.Opaque) != "10" || r.Has(RetCAS) || len(r.Value) != 0 {
		t.Fatalf("HD parsed as %+v", r)
	}
	for _, want := range []Code{CodeEN, CodeNS, CodeEX, CodeNF, CodeMN} {
		mustRead()
		if r.Code != want {
			t.Fatalf("got %v, want %v", r.Code, want)
		}
	}
	if _, ok := r.OpaqueUint32(); ok {
		t.Fatal("MN has no opaque")
	}
	mustRead()
	if r.Code != CodeVA || r.Size != 0 || len(r.Value) != 0 || !r.Has(RetWon) || r.Has(RetWinSent|RetStale) || r.CAS != 6 || r.TTL != 30 {
		t.Fatalf("won stub parsed as %+v", r)
	}
	mustRead()
	if !r.Has(RetWinSent) || !r.Has(RetStale) || r.Has(RetWon) || string(r.Value) != "hi" {
		t.Fatalf("Z X parsed as %+v", r)
	}
	mustRead()
	if r.ItemSize != 3 || !r.HitBefore || r.LastAccess != 12 || !r.Has(RetBase64) || string(r.Value) != "abc" {
		t.Fatalf("s h l b parsed as %+v", r)
	}
	mustRead() // bare \n line ending
	if r.Code != CodeHD {
		t.Fatalf("bare LF: %+v", r)
	}
	if err := ReadReply(br, &r); !errors.Is(err, io.EOF) {
		t.Fatalf("at end: %v, want EOF", err)
	}
}

func TestReadReplyErrors(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{"ERROR\r\n", ErrUnknownCommand},
		{"ERROR Too many open connections\r\n", ErrUnknownCommand},
		{"CLIENT_ERROR bad command line format\r\n", ErrClientError},
		{"SERVER_ERROR out of memory storing object\r\n", ErrServerError},
		{"XX\r\n", ErrMalformed},
		{"V\r\n", ErrMalformed},
		{"VA\r\n", ErrMalformed},
		{"VA x\r\n", ErrMalformed},
		{"VA -1\r\n", ErrMalformed},
		{"VA 99999999999\r\n", ErrMalformed},
		{"HD cX\r\n", ErrMalformed},
		{"HD f4294967296\r\n", ErrMalformed},
		{"HD c18446744073709551616\r\n", ErrMalformed},
		{"HD Wx\r\n", ErrMalformed},
		{"HD h2\r\n", ErrMalformed},
		{"HD k\r\n", ErrMalformed},
		{"VA 2\r\nhiX\r\n", ErrMalformed},
		{"VA 5\r\nhi", io.ErrUnexpectedEOF},
		{"HD", io.ErrUnexpectedEOF},
		{"HD " + strings.Repeat("x", 5000) + "\r\n", ErrMalformed},
	}
	for _, c := range cases {
		var r Reply
		err := ReadReply(reader(c.in), &r)
		if !errors.Is(err, c.want) {
			t.Errorf("ReadReply(%q) = %v, want %v", c.in, err, c.want)
		}
	}
}

func TestReadReplyUnknownFlagsSkipped(t *testing.T) {
	var r Reply
	if err := ReadReply(reader("HD Q9 c3 ?x\r\n"), &r); err != nil || r.CAS != 3 {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestDiscardValue(t *testing.T) {
	br := reader("VA 3\r\nabc\r\nHD\r\n")
	var r Reply
	if err := ReadHeader(br, &r); err != nil || r.Size != 3 {
		t.Fatal(err)
	}
	if err := DiscardValue(br, r.Size); err != nil {
		t.Fatal(err)
	}
	if err := ReadReply(br, &r); err != nil || r.Code != CodeHD {
		t.Fatalf("after discard: %+v %v", r, err)
	}
}

func TestLargeValueGrowsInChunks(t *testing.T) {
	big := strings.Repeat("v", 200<<10)
	var r Reply
	if err := ReadReply(reader("VA 204800\r\n"+big+"\r\n"), &r); err != nil || string(r.Value) != big {
		t.Fatalf("large value: len %d, %v", len(r.Value), err)
	}
	// A length with no bytes behind it fails without allocating it all.
	if err := ReadReply(reader("VA 1000000000\r\nshort"), &r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short value: %v", err)
	}
	if cap(r.Value) > 1<<20 {
		t.Fatalf("allocated %d bytes for a 5-byte body", cap(r.Value))
	}
}

func TestReadReplyNoAllocsWhenReused(t *testing.T) {
	const msg = "VA 5 f1 c99 t10 O1234\r\nhello\r\n"
	src := strings.NewReader(msg)
	br := bufio.NewReaderSize(src, 4096)
	var r Reply
	_ = ReadReply(br, &r) // grow buffers once
	n := testing.AllocsPerRun(100, func() {
		src.Reset(msg)
		br.Reset(src)
		if err := ReadReply(br, &r); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("ReadReply allocated %v times per reply", n)
	}
}

func BenchmarkReadReply(b *testing.B) {
	const msg = "VA 100 f1 c99 t10 O1234\r\n" +
		"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n"
	src := strings.NewReader(msg)
	br := bufio.NewReaderSize(src, 4096)
	var r Reply
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(msg)
		br.Reset(src)
		if err := ReadReply(br, &r); err != nil {
			b.Fatal(err)
		}
	}
}
