package protocol

import (
	"testing"
)

func TestAppendRequests(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"mg plain", AppendGet(nil, "k", nil), "mg k\r\n"},
		{"mg get", AppendGet(nil, "key", &Args{Flags: FlagReturnValue | FlagReturnFlags | FlagReturnCAS | FlagReturnTTL | WithOpaque, Opaque: 42}),
			"mg key v f c t O42\r\n"},
		{"mg lease", AppendGet(nil, "k", &Args{Flags: FlagReturnValue | WithVivify | WithRecache | WithTTL, VivifyTTL: 30, RecacheTTL: 5, TTL: 60}),
			"mg k v T60 N30 R5\r\n"},
		{"mg quiet key", AppendGet(nil, "k", &Args{Flags: FlagQuiet | FlagReturnKey | FlagBase64Key}), "mg k b k q\r\n"},
		{"ms set", AppendSet(nil, "k", []byte("hello"), &Args{Flags: WithTTL | WithClientFlags | WithMode, TTL: 10, ClientFlags: 7, Mode: ModeAdd}),
			"ms k 5 T10 F7 ME\r\nhello\r\n"},
		{"ms cas invalidate", AppendSet(nil, "k", nil, &Args{Flags: FlagInvalidate | WithCompareCAS | FlagReturnCAS, CompareCAS: 18446744073709551615}),
			"ms k 0 c I C18446744073709551615\r\n\r\n"},
		{"md", AppendDelete(nil, "k", &Args{Flags: FlagInvalidate | WithTTL | FlagQuiet, TTL: 30}), "md k I q T30\r\n"},
		{"ma", AppendArith(nil, "n", &Args{Flags: FlagReturnValue | WithMode | WithDelta | WithInitial | WithVivify, Mode: ModeDecr, Delta: 3, Initial: 10, VivifyTTL: 0}),
			"ma n v N0 MD D3 J10\r\n"},
		{"mn", AppendNoop([]byte("x")), "xmn\r\n"},
		{"negative ttl", AppendGet(nil, "k", &Args{Flags: WithTTL, TTL: -1}), "mg k T-1\r\n"},
	}
	for _, c := range cases {
		if string(c.got) != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	a := &Args{Flags: FlagReturnValue | FlagReturnCAS | WithOpaque | WithTTL, Opaque: 123456, TTL: 300}
	val := []byte("value")
	n := testing.AllocsPerRun(100, func() {
		b := AppendGet(buf[:0], "some:key", a)
		b = AppendSet(b, "some:key", val, a)
		b = AppendDelete(b, "some:key", a)
		b = AppendArith(b, "some:key", a)
		_ = AppendNoop(b)
	})
	if n != 0 {
		t.Fatalf("Append* allocated %v times per run, want 0", n)
	}
}

func BenchmarkAppendGet(b *testing.B) {
	buf := make([]byte, 0, 256)
	a := &Args{Flags: FlagReturnValue | FlagReturnFlags | FlagReturnCAS | FlagReturnTTL | WithOpaque}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.Opaque = uint32(i)
		buf = AppendGet(buf[:0], "user:12345:profile", a)
	}
}
