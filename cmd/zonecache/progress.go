package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/zonecache/zonecache/reshard"
	"github.com/zonecache/zonecache/warm"
)

// rateWindow is how far back the rates, and so the ETAs, look.
const rateWindow = 10 * time.Second

// watch shows the progress of a copy (reshard, warm) and serves its
// metrics: the flags that choose how, then, once started, the snapshots
// the copy's Progress callbacks give it.
type watch struct {
	every       time.Duration
	metricsAddr string

	mu      sync.Mutex
	show    display
	history []snapshot // the latest, within rateWindow, oldest first
	totals  reshard.CopyStats
	stopped bool
}

// snapshot is a copy's progress at one time.
type snapshot struct {
	at      time.Time
	rows    []row
	skipped map[string]int64 // by reason
	errors  int64
	deleted int64 // stale keys (reshard)
	scanned int64 // items dumped (warm)
}

// row is the copy from one node to another.
type row struct {
	from, to        string
	copied, bytes   int64 // items added to the destination, their bytes
	tried           int64 // items copied, skipped or failed
	left, leftBytes int64 // items not tried yet
	known           bool  // left is known (a warm source is dumped)
}

// display shows snapshots: a live one on a terminal, log lines otherwise.
type display interface {
	update(views)
	close(views)
}

// flags registers --progress-every and --metrics-addr.
func (w *watch) flags(fs *flag.FlagSet) {
	fs.DurationVar(&w.every, "progress-every", 5*time.Second, "interval of the progress lines on stderr when it is not a terminal")
	fs.StringVar(&w.metricsAddr, "metrics-addr", "", "serve Prometheus metrics of the copy at http://`ADDR`/metrics while it runs")
}

// start shows progress on out (stderr): a live display when out is a
// terminal, else slog lines every w.every (JSON ones with asJSON); with
// --metrics-addr it serves the metrics of subsystem (reshard or warm).
// stop shows the last snapshot and ends both.
func (w *watch) start(out io.Writer, asJSON bool, subsystem string) (stop func(), err error) {
	w.history = []snapshot{{at: time.Now()}}
	var h slog.Handler = slog.NewTextHandler(out, nil)
	if asJSON {
		h = slog.NewJSONHandler(out, nil)
	}
	log := slog.New(h)
	if f, ok := out.(*os.File); ok && !asJSON && term.IsTerminal(int(f.Fd())) {
		w.show = &liveDisplay{out: out, title: subsystem}
	} else {
		w.show = &logDisplay{log: log, every: w.every}
	}
	closeMetrics := func() {}
	if w.metricsAddr != "" {
		ln, err := net.Listen("tcp", w.metricsAddr)
		if err != nil {
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		srv := &http.Server{Handler: metricsHandler(subsystem, w), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
		closeMetrics = func() { _ = srv.Close() }
	}
	return func() {
		w.mu.Lock()
		if !w.stopped && len(w.history) > 1 { // something to show
			w.show.close(w.views())
		}
		w.stopped = true
		w.mu.Unlock()
		closeMetrics()
	}, nil
}

// onCopy returns cfg with its Progress and MoveProgress shown by w.
func (w *watch) onCopy(cfg reshard.CopyConfig) reshard.CopyConfig {
	cfg.Progress = func(st reshard.CopyStats) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.totals = st
	}
	cfg.MoveProgress = func(ms []reshard.MoveStats) {
		w.mu.Lock()
		st := w.totals
		w.mu.Unlock()
		w.add(reshardSnapshot(st, ms))
	}
	return cfg
}

// onWarm returns cfg with its Progress shown by w.
func (w *watch) onWarm(cfg warm.Config) warm.Config {
	cfg.Progress = func(p warm.Progress) { w.add(warmSnapshot(p)) }
	return cfg
}

func reshardSnapshot(st reshard.CopyStats, ms []reshard.MoveStats) snapshot {
	s := snapshot{at: time.Now(), skipped: map[string]int64{"gone": st.Gone, "present": st.Present}, errors: st.Failed, deleted: st.Deleted}
	for _, m := range ms {
		s.rows = append(s.rows, row{from: m.From, to: m.To, copied: m.Copied, bytes: m.Bytes,
			tried: m.Copied + m.Gone + m.Present + m.Failed, left: m.Left, leftBytes: m.LeftBytes, known: true})
	}
	return s
}

func warmSnapshot(p warm.Progress) snapshot {
	s := snapshot{at: time.Now(), errors: p.Errors, scanned: p.Scanned,
		skipped: map[string]int64{"not_owned": p.SkippedNotOwned, "expired": p.SkippedExpired, "present": p.SkippedPresent}}
	for _, src := range p.Sources {
		s.rows = append(s.rows, row{from: src.From, to: p.Target, copied: src.Copied, bytes: src.Bytes,
			tried: src.Owned - src.Left, left: src.Left, known: src.Dumped})
	}
	return s
}

// add records s and shows it.
func (w *watch) add(s snapshot) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.history = append(w.history, s)
	for len(w.history) > 2 && s.at.Sub(w.history[1].at) > rateWindow {
		w.history = w.history[1:]
	}
	w.show.update(w.views())
}

// last returns the latest snapshot.
func (w *watch) last() snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.history) == 0 {
		return snapshot{}
	}
	return w.history[len(w.history)-1]
}

// views is what a display shows of a snapshot.
type views struct {
	snapshot
	elapsed time.Duration
	total   view
	rows    []view
}

// view is one row, or the total, with its rates and ETA.
type view struct {
	label                   string
	copied, bytes, left     int64
	leftBytes               int64
	known                   bool
	keysPerSec, bytesPerSec float64 // items tried, bytes copied
	eta                     time.Duration
}

// views computes the rates over the history (w.mu held).
func (w *watch) views() views {
	first, last := w.history[0], w.history[len(w.history)-1]
	v := views{snapshot: last, elapsed: last.at.Sub(first.at), total: view{label: "total", known: true}}
	secs := last.at.Sub(first.at).Seconds()
	var before row
	var tried, bytesDone int64
	for i, r := range last.rows {
		if i < len(first.rows) {
			before = first.rows[i]
		}
		rv := view{label: r.from + " -> " + r.to, copied: r.copied, bytes: r.bytes, left: r.left, leftBytes: r.leftBytes, known: r.known}
		rv.setRates(r.tried-before.tried, r.bytes-before.bytes, secs)
		v.rows = append(v.rows, rv)
		t := &v.total
		t.copied, t.bytes, t.left, t.leftBytes, t.known = t.copied+r.copied, t.bytes+r.bytes, t.left+r.left, t.leftBytes+r.leftBytes, t.known && r.known
		tried, bytesDone = tried+r.tried-before.tried, bytesDone+r.bytes-before.bytes
		before = row{}
	}
	v.total.setRates(tried, bytesDone, secs)
	return v
}

// setRates sets the rates from the items tried and bytes copied over
// secs, and the ETA (-1: unknown) from them.
func (v *view) setRates(tried, bytes int64, secs float64) {
	v.eta = -1
	if secs <= 0 {
		return
	}
	v.keysPerSec, v.bytesPerSec = float64(tried)/secs, float64(bytes)/secs
	switch {
	case !v.known:
	case v.left == 0:
		v.eta = 0
	case v.keysPerSec > 0:
		v.eta = time.Duration(float64(v.left) / v.keysPerSec * float64(time.Second))
	}
}

// etaText formats an ETA, "?" when unknown.
func etaText(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	return d.Round(time.Second).String()
}

// writeLeft prints what the copy has left, if anything: per pair of nodes,
// the items not tried yet, or that a source is not dumped yet.
func (w *watch) writeLeft(out io.Writer) {
	s := w.last()
	var left, bytes int64
	known := true
	for _, r := range s.rows {
		left, bytes, known = left+r.left, bytes+r.leftBytes, known && r.known
	}
	if left == 0 && known {
		return
	}
	fmt.Fprintf(out, "left: %d keys%s not copied yet:\n", left, bytesText(bytes, " (%s)"))
	for _, r := range s.rows {
		switch {
		case !r.known:
			fmt.Fprintf(out, "  %s -> %s  not dumped yet\n", r.from, r.to)
		case r.left > 0:
			fmt.Fprintf(out, "  %s -> %s  %d keys%s\n", r.from, r.to, r.left, bytesText(r.leftBytes, "  %s"))
		}
	}
}

// bytesText formats n in format, or "" when n is 0 (warm does not know
// the sizes of the items left).
func bytesText(n int64, format string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(format, humanBytes(n))
}

// leftJSON is what a copy has left from one node to another, for --json.
type leftJSON struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Keys   int64  `json:"keys"`
	Bytes  int64  `json:"bytes"`
	Dumped bool   `json:"dumped"`
}

// leftRows returns what the copy has left, per pair of nodes.
func (w *watch) leftRows() []leftJSON {
	out := []leftJSON{}
	for _, r := range w.last().rows {
		if r.left > 0 || !r.known {
			out = append(out, leftJSON{From: r.from, To: r.to, Keys: r.left, Bytes: r.leftBytes, Dumped: r.known})
		}
	}
	return out
}
