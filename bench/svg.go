package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// svgPanel is one chart of the stacked SVG: a value per Point.
type svgPanel struct {
	title string
	unit  string
	value func(Point) float64
	fixed float64 // fixed y maximum, 0 for automatic
}

var svgPanels = []svgPanel{
	{title: "throughput", unit: "ops/s", value: Point.Throughput},
	{title: "errors", unit: "errors/s", value: Point.ErrorRate},
	{title: "hit ratio", unit: "%", value: func(p Point) float64 {
		if p.Hits+p.Misses == 0 {
			return math.NaN() // no reads answered: no ratio
		}
		return 100 * p.HitRatio()
	}, fixed: 100},
	{title: "p99 latency", unit: "ms", value: func(p Point) float64 { return float64(p.P99) / 1e6 }},
}

var svgColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"}

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

// WriteSVG draws the per-second series of results (one colour each) as a
// standalone SVG document: stacked panels of throughput, errors per second,
// hit ratio (with a gap in seconds without answered reads) and p99
// latency over time, with every event as a dashed
// vertical line and its label. It uses no scripts or external resources,
// so any browser opens it.
func WriteSVG(w io.Writer, title string, results ...*Result) error {
	var maxT float64
	for _, r := range results {
		for _, p := range r.Series {
			maxT = max(maxT, p.T.Seconds())
		}
		for _, e := range r.Events {
			maxT = max(maxT, e.At.Seconds())
		}
	}
	if maxT <= 0 {
		maxT = 1
	}
	maxT = niceCeil(maxT)
	height := svgTop + len(svgPanels)*svgPanelH + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="16" font-weight="bold">%s</text>`+"\n", svgLeft, html.EscapeString(title))
	// Legend.
	lx := svgLeft
	for i, r := range results {
		c := svgColors[i%len(svgColors)]
		fmt.Fprintf(&b, `<rect x="%d" y="30" width="12" height="4" fill="%s"/><text x="%d" y="36">%s</text>`+"\n",
			lx, c, lx+16, html.EscapeString(r.Name))
		lx += 24 + 8*len(r.Name)
	}
	x := func(t float64) float64 { return svgLeft + t/maxT*svgPlotW }
	for pi, panel := range svgPanels {
		top := float64(svgTop + pi*svgPanelH + 20)
		ymax := panel.fixed
		if ymax == 0 {
			for _, r := range results {
				for _, p := range r.Series {
					if v := panel.value(p); !math.IsNaN(v) {
						ymax = max(ymax, v)
					}
				}
			}
			ymax = niceCeil(ymax)
		}
		y := func(v float64) float64 { return top + svgPlotH - v/ymax*svgPlotH }
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold">%s (%s)</text>`+"\n", svgLeft, top-6, panel.title, panel.unit)
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", svgLeft, top, svgPlotW, svgPlotH)
		for i := 0; i <= svgTickNum; i++ {
			v := ymax * float64(i) / svgTickNum
			yy := y(v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, svgLeft, yy, svgLeft+svgPlotW, yy)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, yy+4, axisLabel(v))
		}
		for i := 0; i <= 10; i++ {
			t := maxT * float64(i) / 10
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%ss</text>`, x(t), top+svgPlotH+14, axisLabel(t))
		}
		b.WriteString("\n")
		for ri, r := range results {
			if len(r.Series) == 0 {
				continue
			}
			// A path, not a polyline, so that seconds without a value (no
			// reads for the hit ratio) leave a gap.
			var d strings.Builder
			pen := "M"
			for _, p := range r.Series {
				v := panel.value(p)
				if math.IsNaN(v) {
					pen = "M"
					continue
				}
				fmt.Fprintf(&d, "%s%.1f %.1f ", pen, x(p.T.Seconds()), y(math.Min(v, ymax)))
				pen = "L"
			}
			fmt.Fprintf(&b, `<path fill="none" stroke="%s" stroke-width="1.5" d="%s"/>`+"\n",
				svgColors[ri%len(svgColors)], strings.TrimSpace(d.String()))
		}
		for _, r := range results {
			for _, e := range r.Events {
				ex := x(e.At.Seconds())
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/>`+"\n",
					ex, top, ex, top+svgPlotH)
				if pi == 0 {
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#d62728">%s</text>`+"\n", ex+4, top+14, html.EscapeString(e.Label))
				}
			}
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">time since the start of the measured phase (s)</text>`+"\n", svgLeft, height-8)
	b.WriteString("</svg>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v ≤ 0).
func niceCeil(v float64) float64 {
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
