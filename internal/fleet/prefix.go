package fleet

import (
	"bytes"
	"io"
	"sync"
)

// lineWriter passes a node's output on to a writer the nodes share, whole
// lines at a time, each led by the node's name, so that the interleaved
// logs of a fleet can be told apart.
type lineWriter struct {
	mu     *sync.Mutex // shared by the fleet's nodes: one line at a time
	w      io.Writer
	prefix []byte
	buf    []byte // a line not yet ended
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.mu.Lock()
		_, err := l.w.Write(append(append([]byte(nil), l.prefix...), l.buf[:i+1]...))
		l.mu.Unlock()
		l.buf = l.buf[i+1:]
		if err != nil {
			return len(p), err
		}
	}
	if len(l.buf) == 0 {
		l.buf = nil
	}
	return len(p), nil
}
