package consistency

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LineRecorder is the Recorder of a writer subprocess: it prints each
// event as one line, which the checker reads with ReadLines. Lines are
//
//	I <key> <version> <set|delete> <start unix ns>   a write issued
//	A <key> <version> <ack unix ns>                  acknowledged
//	C <key> <version> <unix ns>                      every replica answered
//	E <unix ns> <policy|other> <error text>          an error returned
//	N <key> <version> <op> <node> <ok|failure> <unix ns> a node's answer (NodeEvent)
//	P <n>                                            repairs pending now
//	R <n>                                            repairs taken over from the spool at start
//
// Wall-clock times, so that the checker compares them with its own reads
// (both processes run on one machine).
type LineRecorder struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// NewLineRecorder returns a LineRecorder writing to w; each line is
// flushed at once, so that a killed writer has told everything it saw.
func NewLineRecorder(w io.Writer) *LineRecorder { return &LineRecorder{w: bufio.NewWriter(w)} }

func (l *LineRecorder) line(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
	_ = l.w.Flush()
}

// Issue implements Recorder.
func (l *LineRecorder) Issue(w Write) {
	l.line("I %s %d %s %d", w.Key, w.Version, w.Op, w.Start.UnixNano())
}

// Acknowledge implements Recorder.
func (l *LineRecorder) Acknowledge(key string, version uint64, at time.Time) {
	l.line("A %s %d %d", key, version, at.UnixNano())
}

// Complete implements Recorder.
func (l *LineRecorder) Complete(key string, version uint64, at time.Time) {
	l.line("C %s %d %d", key, version, at.UnixNano())
}

// AddError implements Recorder.
func (l *LineRecorder) AddError(e CallerError) {
	kind := "other"
	if e.PolicyNotMet {
		kind = "policy"
	}
	l.line("E %d %s %s", e.At.UnixNano(), kind, strings.ReplaceAll(e.Err, "\n", " "))
}

// AddNodeEvent implements Recorder.
func (l *LineRecorder) AddNodeEvent(e NodeEvent) {
	ok := "ok"
	if !e.OK {
		ok = cmp.Or(e.Fail, "other")
	}
	l.line("N %s %d %s %s %s %d", e.Key, e.Version, e.Op, e.Node, ok, e.At.UnixNano())
}

// Pending prints the writer's count of pending repairs.
func (l *LineRecorder) Pending(n int) { l.line("P %d", n) }

// Replayed prints how many repairs the writer's client took over from the
// repair spool when it started (zonecache_client_repair_spool_replayed_total).
func (l *LineRecorder) Replayed(n int) { l.line("R %d", n) }

// Counters receives the counts a writer subprocess prints: its pending
// repairs (P lines) and the repairs it took over from the spool (R lines).
type Counters struct {
	Pending, Replayed func(n int)
}

// ReadLines reads a LineRecorder's lines from r into h until r ends; who
// names the writer in errors and counters receives the P and R lines. It
// returns the number of lines read and the first malformed line's error
// (it goes on after one).
func ReadLines(r io.Reader, h *History, who string, counters Counters) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var n int
	var first error
	for sc.Scan() {
		n++
		if counted(sc.Text(), "P ", counters.Pending) || counted(sc.Text(), "R ", counters.Replayed) {
			continue
		}
		if err := readLine(sc.Text(), h, who); err != nil && first == nil {
			first = fmt.Errorf("line %d %q: %w", n, sc.Text(), err)
		}
	}
	if err := sc.Err(); err != nil && first == nil {
		first = err
	}
	return n, first
}

// counted hands the count of a line beginning with prefix to to, if not
// nil, and reports whether the line was one.
func counted(line, prefix string, to func(int)) bool {
	n, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return false
	}
	if v, err := strconv.Atoi(n); err == nil && to != nil {
		to(v)
	}
	return true
}

func readLine(s string, h *History, who string) error {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil
	}
	switch {
	case f[0] == "I" && len(f) == 5:
		v, err1 := strconv.ParseUint(f[2], 10, 64)
		t, err2 := strconv.ParseInt(f[4], 10, 64)
		op := OpSet
		if f[3] == "delete" {
			op = OpDelete
		}
		if err1 != nil || err2 != nil {
			return errMalformed
		}
		h.Issue(Write{Key: f[1], Version: v, Op: op, Start: time.Unix(0, t)})
	case (f[0] == "A" || f[0] == "C") && len(f) == 4:
		v, err1 := strconv.ParseUint(f[2], 10, 64)
		t, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			return errMalformed
		}
		if f[0] == "A" {
			h.Acknowledge(f[1], v, time.Unix(0, t))
		} else {
			h.Complete(f[1], v, time.Unix(0, t))
		}
	case f[0] == "N" && len(f) == 7:
		v, err1 := strconv.ParseUint(f[2], 10, 64)
		t, err2 := strconv.ParseInt(f[6], 10, 64)
		if err1 != nil || err2 != nil {
			return errMalformed
		}
		e := NodeEvent{Key: f[1], Version: v, Op: f[3], Node: f[4], OK: f[5] == "ok", At: time.Unix(0, t), Who: who}
		if !e.OK {
			e.Fail = f[5]
		}
		h.AddNodeEvent(e)
	case f[0] == "E" && len(f) >= 3:
		t, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return errMalformed
		}
		h.AddError(CallerError{Who: who, At: time.Unix(0, t), Err: strings.Join(f[3:], " "), PolicyNotMet: f[2] == "policy"})
	default:
		return errMalformed
	}
	return nil
}
