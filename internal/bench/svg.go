package bench

import (
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
	for _, r := range results {
		for _, p := range r.Series {
			maxT = max(maxT, p.T.Seconds())
		}
		for _, e := range r.Events {
			maxT = max(maxT, e.At.Seconds())
		}
	}
	maxT = niceTime(maxT)
	height := svgTop + len(panels)*svgPanelH + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", svgLeft, html.EscapeString(title))
	x := func(t float64) float64 { return svgLeft + t/maxT*svgPlotW }
	for pi, pn := range panels {
		top := float64(svgTop + pi*svgPanelH + 20)
		ymax := pn.fixed
		if ymax == 0 {
			for _, l := range pn.lines {
				for _, v := range l.v {
					if !math.IsNaN(v) {
						ymax = max(ymax, v)
					}
				}
			}
			ymax = niceCeil(ymax)
		}
		y := func(v float64) float64 { return top + svgPlotH - math.Min(v, ymax)/ymax*svgPlotH }
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold">%s (%s)</text>`+"\n", svgLeft, top-6, pn.title, pn.unit)
		// Legend, right of the title.
		lx := svgLeft + 8*len(pn.title+pn.unit) + 40
		for _, l := range pn.lines {
			fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="12" height="4" fill="%s"/><text x="%d" y="%.1f">%s</text>`+"\n",
				lx, top-12, l.color, lx+16, top-6, html.EscapeString(l.label))
			lx += 32 + 7*len(l.label)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", svgLeft, top, svgPlotW, svgPlotH)
		for i := 0; i <= svgTickNum; i++ {
			v := ymax * float64(i) / svgTickNum
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, svgLeft, y(v), svgLeft+svgPlotW, y(v))
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y(v)+4, axisLabel(v))
		}
		for i := 0; i <= 10; i++ {
			t := maxT * float64(i) / 10
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%ss</text>`, x(t), top+svgPlotH+14, axisLabel(t))
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
			fmt.Fprintf(&b, `<path fill="none" stroke="%s" stroke-width="1.5" d="%s"/>`+"\n", l.color, strings.TrimSpace(d.String()))
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
// niceTime rounds a time axis up to a round value from a finer series than
// niceCeil's, so that a 20.4 s run gets a 25 s axis, not a 50 s one.
func niceTime(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

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
