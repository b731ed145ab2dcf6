package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestAppendText(t *testing.T) {
	cases := []struct{ got, want string }{
		{string(AppendTextGet(nil, false, 0, "a", "b")), "gets a b\r\n"},
		{string(AppendTextGet(nil, true, 30, "a")), "gats 30 a\r\n"},
		{string(AppendTextStore(nil, "set", "k", 5, 10, []byte("hi"), 0)), "set k 5 10 2\r\nhi\r\n"},
		{string(AppendTextStore(nil, "cas", "k", 0, 0, []byte("x"), 77)), "cas k 0 0 1 77\r\nx\r\n"},
		{string(AppendTextDelete(nil, "k")), "delete k\r\n"},
		{string(AppendTextArith(nil, true, "n", 3)), "decr n 3\r\n"},
		{string(AppendTextArith(nil, false, "n", 3)), "incr n 3\r\n"},
		{string(AppendTextTouch(nil, "k", -1)), "touch k -1\r\n"},
		{string(AppendTextVersion(nil)), "version\r\n"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestReadTextReplies(t *testing.T) {
	br := reader("VALUE k 5 2 99\r\nhi\r\nEND\r\nEND\r\nSTORED\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nDELETED\r\nTOUCHED\r\n42\r\nVERSION 1.4.0\r\n")
	var r Reply
	if err := ReadTextValue(br, &r); err != nil || r.Code != CodeVA || string(r.Key) != "k" || r.ClientFlags != 5 || r.CAS != 99 || string(r.Value) != "hi" {
		t.Fatalf("VALUE: %+v %v", r, err)
	}
	for i := 0; i < 2; i++ {
		if err := ReadTextValue(br, &r); err != nil || r.Code != CodeEN {
			t.Fatalf("END: %+v %v", r, err)
		}
	}
	for _, want := range []Code{CodeHD, CodeNS, CodeEX, CodeNF, CodeHD, CodeHD, CodeVA, CodeMN} {
		if err := ReadTextStatus(br, &r); err != nil || r.Code != want {
			t.Fatalf("status: got %v %v, want %v", r.Code, err, want)
		}
		if want == CodeVA && string(r.Value) != "42" {
			t.Fatalf("incr value %q", r.Value)
		}
	}
	if err := ReadTextStatus(br, &r); !errors.Is(err, io.EOF) {
		t.Fatalf("at end: %v", err)
	}
}

func TestReadTextErrors(t *testing.T) {
	for in, want := range map[string]error{
		"ERROR\r\n":                       ErrUnknownCommand,
		"CLIENT_ERROR bad data chunk\r\n": ErrClientError,
		"SERVER_ERROR out of memory\r\n":  ErrServerError,
		"VALUE k x 1\r\na\r\n":            ErrMalformed,
		"VALUE k 1 1 2 3\r\na\r\n":        ErrMalformed,
		"VALUE\r\n":                       ErrMalformed,
		"VALUE k 0 3\r\nab":               io.ErrUnexpectedEOF,
		"HUH\r\n":                         ErrMalformed,
		"\r\n":                            ErrMalformed,
	} {
		var r Reply
		if err := ReadTextValue(reader(in), &r); !errors.Is(err, want) {
			t.Errorf("ReadTextValue(%q) = %v, want %v", in, err, want)
		}
		if want != io.ErrUnexpectedEOF && !bytes.HasPrefix([]byte(in), []byte("VALUE")) {
			if err := ReadTextStatus(reader(in), &r); !errors.Is(err, want) {
				t.Errorf("ReadTextStatus(%q) = %v, want %v", in, err, want)
			}
		}
	}
}

// FuzzReadText: the text reply readers never panic and accept only
// self-consistent replies.
func FuzzReadText(f *testing.F) {
	for _, s := range []string{
		"VALUE k 5 2 99\r\nhi\r\nEND\r\n",
		"STORED\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nDELETED\r\nTOUCHED\r\n42\r\nVERSION 1.4.0\r\n",
		"VALUE k 0 1000000000\r\nx",
		"ERROR\r\nCLIENT_ERROR x\r\nSERVER_ERROR y\r\n",
		"VALUE  k  1  1 \r\na\r\n",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, values bool) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
		var r Reply
		for i := 0; i < 64; i++ {
			var err error
			if values {
				err = ReadTextValue(br, &r)
			} else {
				err = ReadTextStatus(br, &r)
			}
			if err != nil {
				if errors.Is(err, ErrClientError) || errors.Is(err, ErrServerError) || errors.Is(err, ErrUnknownCommand) {
					continue
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unclassified error %v", err)
				}
				return
			}
			if r.Code == CodeNone || (r.Code == CodeVA && len(r.Value) != r.Size) {
				t.Fatalf("inconsistent reply %+v", r)
			}
		}
	})
}
