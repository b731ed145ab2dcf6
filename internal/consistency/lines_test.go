package consistency

import (
	"bytes"
	"testing"
)

func TestLinesCarryAWritersHistory(t *testing.T) {
	var buf bytes.Buffer
	lr := NewLineRecorder(&buf)
	lr.Issue(Write{Key: "k", Version: 1, Op: OpSet, Start: at(0)})
	lr.Acknowledge("k", 1, at(10))
	lr.Complete("k", 1, at(15))
	lr.Issue(Write{Key: "k", Version: 2, Op: OpDelete, Start: at(20)})
	lr.AddError(CallerError{At: at(30), Err: "delete k v2: policy\nnot met", PolicyNotMet: true})
	lr.Pending(3)
	lr.Replayed(5)
	buf.WriteString("I k 3 set") // a line cut short by SIGKILL
	h := NewHistory()
	var pending, replayed int
	n, err := ReadLines(&buf, h, "writer process", Counters{Pending: func(p int) { pending = p }, Replayed: func(r int) { replayed = r }})
	if n != 8 || err == nil || pending != 3 || replayed != 5 {
		t.Fatalf("read %d lines, err %v, pending %d, replayed %d; want 8, the cut line reported, 3, 5", n, err, pending, replayed)
	}
	ws := h.Writes("k")
	if len(ws) != 2 || !ws[0].Acked || !ws[0].Ack.Equal(at(10)) || !ws[0].Done.Equal(at(15)) || ws[1].Op != OpDelete || ws[1].Acked {
		t.Fatalf("writes = %+v", ws)
	}
	if res := Check(h, CheckConfig{PolicyPhases: []string{"start"}}); res.Errors != 1 || res.Expected != 1 || res.ErrorSamples[0] != "writer process in start: delete k v2: policy not met" {
		t.Fatalf("errors = %d %q", res.Errors, res.ErrorSamples)
	}
}

func TestValuesNameTheirKeyAndVersion(t *testing.T) {
	v, ok := DecodeValue("ck-007", EncodeValue("ck-007", 42))
	if !ok || v != 42 {
		t.Fatalf("decode = %d %v, want 42", v, ok)
	}
	if _, ok := DecodeValue("ck-008", EncodeValue("ck-007", 42)); ok {
		t.Fatal("a value of another key decoded")
	}
	if _, ok := DecodeValue("ck-007", []byte("ck-007:42:")); ok {
		t.Fatal("a truncated value decoded")
	}
}
