package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"
)

// liveDisplay redraws a table in place on a terminal at every snapshot:
// a line of counts, the total, then one line per pair of nodes. The snapshots come from
// the copy's Progress callback once a second, so a progress library, with
// its own refresh loop, would add nothing but dependencies.
type liveDisplay struct {
	out   io.Writer
	title string
	lines int // lines drawn last time, to move back over
}

func (d *liveDisplay) update(v views) { d.draw(v) }

// close leaves the last table drawn: the copy's last Progress call was
// its final state, and what follows on the terminal must not be drawn over.
func (d *liveDisplay) close(views) {}

func (d *liveDisplay) draw(v views) {
	var b bytes.Buffer
	if d.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.lines) // cursor up
	}
	var t bytes.Buffer
	tw := tabwriter.NewWriter(&t, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s %v  %s\n", d.title, v.elapsed.Round(time.Second), countsText(v))
	for _, r := range append([]view{v.total}, v.rows...) {
		fmt.Fprintf(tw, "  %s\t%s\n", r.label, viewText(r))
	}
	_ = tw.Flush()
	lines := strings.Split(strings.TrimSuffix(t.String(), "\n"), "\n")
	for _, l := range lines {
		b.WriteString("\r\x1b[K" + l + "\n") // clear the line, then draw it
	}
	d.lines = len(lines)
	_, _ = d.out.Write(b.Bytes())
}

// viewText formats one row: copied keys and bytes, left, rates, ETA.
func viewText(v view) string {
	left := "left ?"
	if v.known {
		left = fmt.Sprintf("left %d", v.left)
	}
	return fmt.Sprintf("%d keys  %s  %s  %.0f keys/s  %s/s  ETA %s",
		v.copied, humanBytes(v.bytes), left, v.keysPerSec, humanBytes(int64(v.bytesPerSec)), etaText(v.eta))
}

// countsText formats the skips, errors and what else the copy counts.
func countsText(v views) string {
	var skips []string
	for _, reason := range []string{"present", "gone", "expired", "not_owned"} {
		if n, ok := v.skipped[reason]; ok {
			skips = append(skips, fmt.Sprintf("%s %d", reason, n))
		}
	}
	s := "skipped: " + strings.Join(skips, ", ") + fmt.Sprintf("  errors %d", v.errors)
	if v.scanned > 0 {
		s += fmt.Sprintf("  scanned %d", v.scanned)
	}
	if v.deleted > 0 {
		s += fmt.Sprintf("  stale deleted %d", v.deleted)
	}
	return s
}

// logDisplay writes slog lines, every interval and at the end: one with
// the totals, one per pair of nodes with something left or copied.
type logDisplay struct {
	log    *slog.Logger
	every  time.Duration
	logged time.Time
}

func (d *logDisplay) update(v views) {
	if now := time.Now(); now.Sub(d.logged) >= d.every {
		d.logged = now
		d.write("progress", v)
	}
}

func (d *logDisplay) close(v views) { d.write("done", v) }

func (d *logDisplay) write(msg string, v views) {
	t := v.total
	attrs := []any{"elapsed", v.elapsed.Round(time.Millisecond).String(), "copied", t.copied, "bytes", t.bytes, "left", t.left,
		"keys_per_sec", round1(t.keysPerSec), "bytes_per_sec", int64(t.bytesPerSec), "eta", etaText(t.eta), "errors", v.errors}
	for _, reason := range []string{"present", "gone", "expired", "not_owned"} {
		if n, ok := v.skipped[reason]; ok {
			attrs = append(attrs, "skipped_"+reason, n)
		}
	}
	if v.scanned > 0 {
		attrs = append(attrs, "scanned", v.scanned)
	}
	if v.deleted > 0 {
		attrs = append(attrs, "stale_deleted", v.deleted)
	}
	d.log.Info(msg, attrs...)
	for i, r := range v.rows {
		if r.copied == 0 && r.left == 0 && r.known {
			continue
		}
		row := v.snapshot.rows[i]
		d.log.Info(msg, "from", row.from, "to", row.to, "copied", r.copied, "bytes", r.bytes, "left", r.left, "dumped", r.known,
			"keys_per_sec", round1(r.keysPerSec), "eta", etaText(r.eta))
	}
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
