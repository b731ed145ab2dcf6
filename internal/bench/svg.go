package bench

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// svgLine is one plotted series: a label, a colour and y values at x
// times; NaN values leave a gap.
type svgLine struct {
	label string
	color string
	t, v  []float64
}

// svgPanel is one chart of the stacked SVG.
type svgPanel struct {
	title string
	unit  string
	fixed float64 // fixed y maximum, 0 for automatic
	lines []svgLine
}

var svgColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

const (
	svgWidth   = 960
	svgPanelH  = 170
	svgLeft    = 80
	svgRight   = 20
	svgTop     = 50
	svgGap     = 40
	svgPlotW   = svgWidth - svgLeft - svgRight
	svgPlotH   = svgPanelH - svgGap
	svgTickNum = 4
)

// hitPercent is a Point's hit ratio in percent, NaN without answered reads.
func hitPercent(p Point) float64 {
	if p.Hits+p.Misses == 0 {
		return math.NaN()
	}
	return 100 * p.HitRatio()
}

// svgPanels builds the panels for results: throughput, errors per second,
// hit ratio and p99 latency, one line per result; and, when a Target
// reported zones, errors and fallbacks per second, one line per result and
// zone.
func svgPanels(results []*Result) []svgPanel {
	std := []struct {
		title, unit string
		fixed       float64
		value       func(Point) float64
	}{
		{"throughput", "ops/s", 0, Point.Throughput},
		{"errors", "errors/s", 0, Point.ErrorRate},
		{"hit ratio", "%", 100, hitPercent},
		{"p99 latency", "ms", 0, func(p Point) float64 { return float64(p.P99) / 1e6 }},
	}
	var panels []svgPanel
	for _, s := range std {
		pn := svgPanel{title: s.title, unit: s.unit, fixed: s.fixed}
		for ri, r := range results {
			l := svgLine{label: r.Name, color: svgColors[ri%len(svgColors)]}
			for _, p := range r.Series {
				l.t = append(l.t, p.T.Seconds())
				l.v = append(l.v, s.value(p))
			}
			pn.lines = append(pn.lines, l)
		}
		panels = append(panels, pn)
	}
	zoneErr := svgPanel{title: "errors by zone", unit: "errors/s"}
	zoneFb := svgPanel{title: "fallbacks by zone", unit: "fallbacks/s"}
	color := 0
	for _, r := range results {
		var zones []string
		for _, p := range r.Series {
			for _, z := range p.Zones {
				if !slices.Contains(zones, z.Zone) {
					zones = append(zones, z.Zone)
				}
			}
		}
		for _, zone := range zones {
			label := zone
			if len(results) > 1 {
				label = r.Name + " " + zone
			}
			le := svgLine{label: label, color: svgColors[color%len(svgColors)]}
			lf := le
			color++
			for _, p := range r.Series {
				e, f := math.NaN(), math.NaN()
				for _, z := range p.Zones {
					if z.Zone == zone {
						e, f = perSecond(z.Errors, p.Dur), perSecond(z.Fallbacks, p.Dur)
					}
				}
				le.t, le.v = append(le.t, p.T.Seconds()), append(le.v, e)
				lf.t, lf.v = append(lf.t, p.T.Seconds()), append(lf.v, f)
			}
			zoneErr.lines = append(zoneErr.lines, le)
			zoneFb.lines = append(zoneFb.lines, lf)
		}
	}
	if len(zoneErr.lines) > 0 {
		panels = append(panels, zoneErr, zoneFb)
	}
	return panels
}

// WriteSVG draws the per-second series of results (throughput, errors, hit
// ratio, p99 latency, and per zone when the Target reports zones, with the
// events marked) as a standalone SVG document that any browser opens.
func WriteSVG(w io.Writer, title string, results ...*Result) error {
	panels := svgPanels(results)
	var maxT float64
	var events []EventMark
	for _, r := range results {
		for _, p := range r.Series {
			maxT = max(maxT, p.T.Seconds())
		}
		for _, e := range r.Events {
			maxT = max(maxT, e.At.Seconds())
		}
		events = append(events, r.Events...)
	}
	endT, stepT := timeAxis(maxT)
	x := func(t float64) float64 { return svgLeft + t/endT*svgPlotW }
	labels := eventLabels(events, x)
	top0 := svgTop + svgEventRow*labelRows(labels)
	height := top0 + len(panels)*svgPanelH + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", svgLeft, html.EscapeString(title))
	for _, l := range labels {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#d62728" text-anchor="%s">%s</text>`+"\n",
			l.x, svgTop-8+l.row*svgEventRow, l.anchor, html.EscapeString(l.text))
	}
	for pi, pn := range panels {
		top := float64(top0 + pi*svgPanelH + 20)
		writePanel(&b, pn, top, x, endT, stepT, events)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">time since the start of the measured phase (s)</text>`+"\n", svgLeft, height-8)
	b.WriteString("</svg>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

// writePanel draws one panel whose plot area starts at top: title,
// legend, frame, ticks, lines and event markers.
func writePanel(b *strings.Builder, pn svgPanel, top float64, x func(float64) float64, endT, stepT float64, events []EventMark) {
	ymax := pn.fixed
	if ymax == 0 {
		for _, l := range pn.lines {
			for _, v := range l.v {
				if !math.IsNaN(v) {
					ymax = max(ymax, v)
				}
			}
		}
	}
	ymax, stepY := valueAxis(ymax)
	y := func(v float64) float64 { return top + svgPlotH - math.Min(v, ymax)/ymax*svgPlotH }
	fmt.Fprintf(b, `<text x="%d" y="%.1f" font-weight="bold">%s (%s)</text>`+"\n", svgLeft, top-6, pn.title, pn.unit)
	// Legend, right of the title.
	lx := svgLeft + 8*len(pn.title+pn.unit) + 40
	for _, l := range pn.lines {
		fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="12" height="4" fill="%s"/><text x="%d" y="%.1f">%s</text>`+"\n",
			lx, top-12, l.color, lx+16, top-6, html.EscapeString(l.label))
		lx += 32 + 7*len(l.label)
	}
	fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", svgLeft, top, svgPlotW, svgPlotH)
	for _, v := range ticks(ymax, stepY) {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, svgLeft, y(v), svgLeft+svgPlotW, y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y(v)+4, axisLabel(v))
	}
	for _, t := range ticks(endT, stepT) {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%ss</text>`, x(t), top+svgPlotH+14, axisLabel(t))
	}
	b.WriteString("\n")
	for _, l := range pn.lines {
		// A path, not a polyline, so that NaN values leave a gap.
		var d strings.Builder
		pen := "M"
		for i, v := range l.v {
			if math.IsNaN(v) {
				pen = "M"
				continue
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", pen, x(l.t[i]), y(v))
			pen = "L"
		}
		fmt.Fprintf(b, `<path fill="none" stroke="%s" stroke-width="1.5" d="%s"/>`+"\n", l.color, strings.TrimSpace(d.String()))
	}
	for _, e := range events {
		ex := x(e.At.Seconds())
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/>`+"\n",
			ex, top, ex, top+svgPlotH)
	}
}

// svgEventRow is the height of one row of event labels, above the panels.
const svgEventRow = 15

// eventLabel is an event's label placed above the panels: its text starts
// (or, near the right edge, ends) at x, in row row.
type eventLabel struct {
	text   string
	x      float64
	anchor string // "start" or "end"
	row    int
}

// eventLabels places the events' labels ("5.1s a-1 killed") in rows so
// that none overlaps another: each goes into the first row where it clears
// the label before it. x maps seconds to the chart's x coordinate.
func eventLabels(events []EventMark, x func(float64) float64) []eventLabel {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b EventMark) int { return cmp.Compare(a.At, b.At) })
	var out []eventLabel
	var rowEnds []float64 // right end of the last label of each row
	for _, e := range sorted {
		l := eventLabel{text: axisLabel(math.Round(e.At.Seconds()*10)/10) + "s " + e.Label, x: x(e.At.Seconds()) + 3, anchor: "start"}
		width := svgCharW * float64(len([]rune(l.text)))
		left := l.x
		if l.x+width > svgWidth-4 {
			l.x, l.anchor, left = l.x-6, "end", l.x-6-width
		}
		l.row = len(rowEnds)
		for r, end := range rowEnds {
			if end+8 <= left {
				l.row = r
				break
			}
		}
		if l.row == len(rowEnds) {
			rowEnds = append(rowEnds, 0)
		}
		rowEnds[l.row] = left + width
		out = append(out, l)
	}
	return out
}

// svgCharW is the width of one character of a 12px sans-serif label, a
// little over the average, so that estimated widths do not fall short.
const svgCharW = 7

// labelRows is the number of rows the labels take.
func labelRows(labels []eventLabel) int {
	n := 0
	for _, l := range labels {
		n = max(n, l.row+1)
	}
	return n
}

// niceStep returns the smallest 1, 2 or 5 × 10^n that is at least v (1
// for v ≤ 0): tick steps people read at a glance.
func niceStep(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// timeAxis returns the end of the time axis of a run lasting t seconds and
// the step of its ticks (1, 2 or 5 × 10^n s, 3 to 7 of them). The axis
// fits the run: it ends at t, or at the tick just after t when that is
// within 5 % of it, so a 5 s run gets a 5 s axis and a 15 s one a 15 s
// axis, never a quarter of blank chart.
func timeAxis(t float64) (end, step float64) {
	if !(t > 0) || math.IsInf(t, 0) {
		return 1, 0.2
	}
	step = niceStep(t / 6)
	end = t
	if next := math.Ceil(t/step-1e-9) * step; next <= t*1.05 {
		end = next
	}
	return end, step
}

// valueAxis returns the top of a value axis holding values up to v and the
// step of its ticks: a 1, 2 or 5 × 10^n step, and the top the first tick
// at or above v (at most 5 steps above 0).
func valueAxis(v float64) (top, step float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1, 0.2
	}
	step = niceStep(v / 5)
	return math.Ceil(v/step-1e-9) * step, step
}

// ticks returns 0, step, 2·step, … up to end.
func ticks(end, step float64) []float64 {
	var out []float64
	for i := 0; float64(i)*step <= end*(1+1e-9); i++ {
		out = append(out, float64(i)*step)
	}
	return out
}

// axisLabel formats an axis value briefly: 250, 1.5k, 2M.
func axisLabel(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case v >= 1e4:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return trimZero(fmt.Sprintf("%.2f", v))
	}
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
