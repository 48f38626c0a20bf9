package views

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// Chart is a latency chart laid out in SVG user units, ready to draw. Computing the geometry in
// Go keeps the template a plain list of shapes.
type Chart struct {
	Width, Height            float64
	Left, Right, Top, Bottom float64 // margins
	Points                   []ChartPoint
	YTicks                   []ChartTick
	FirstLabel, LastLabel    string // times under the x axis
	Summary                  string // the figures in words, for the caption and screen readers
}

// ChartPoint is one check: where it is drawn and what it was. A clipped point was slower than
// the scale and sits on its top edge, labelled with its latency.
type ChartPoint struct {
	X, Y    float64
	Outcome domain.Outcome
	Title   string
	Clipped bool
	Label   string
}

// ChartTick is a horizontal grid line with its label.
type ChartTick struct {
	Y     float64
	Label string
}

// ViewBox is the SVG viewBox; the chart scales with the page's width, keeping its proportions.
func (c Chart) ViewBox() string { return "0 0 " + fmtF(c.Width) + " " + fmtF(c.Height) }

// Polyline joins the points, oldest first.
func (c Chart) Polyline() string {
	var b strings.Builder
	for i, p := range c.Points {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fmtF(p.X) + "," + fmtF(p.Y))
	}
	return b.String()
}

// latencyChart lays out checks (newest first, as stored) oldest to newest, left to right.
func latencyChart(checks []domain.Check) Chart {
	c := Chart{Width: 1000, Height: 190, Left: 58, Right: 16, Top: 18, Bottom: 24}
	if len(checks) == 0 {
		return c
	}
	ordered := slices.Clone(checks)
	slices.Reverse(ordered)
	ms := make([]int64, len(ordered))
	var top int64
	for i, ch := range ordered {
		ms[i] = ch.Latency.Milliseconds()
		top = max(top, ms[i])
	}
	sorted := slices.Clone(ms)
	slices.Sort(sorted)
	// One timeout must not flatten every other check against the floor: checks slower than
	// five times the median are clipped to the top and labelled, the scale set by the rest.
	scale := niceCeil(top)
	if median := max(sorted[len(sorted)/2], 1); len(sorted) >= 4 && top > 5*median {
		rest := sorted[0]
		for _, v := range sorted {
			if v <= 5*median {
				rest = v
			}
		}
		scale = niceCeil(rest * 5 / 4)
	}
	plotW, plotH := c.Width-c.Left-c.Right, c.Height-c.Top-c.Bottom
	for i, ch := range ordered {
		x := c.Left + plotW/2
		if len(ordered) > 1 {
			x = c.Left + plotW*float64(i)/float64(len(ordered)-1)
		}
		pt := ChartPoint{X: x, Y: c.Top + plotH*(1-float64(min(ms[i], scale))/float64(scale)), Outcome: ch.Outcome,
			Title: exactTime(ch.At) + ": " + outcomeLabel(ch.Outcome) + ", " + strconv.FormatInt(ms[i], 10) + " ms"}
		if ms[i] > scale {
			pt.Clipped, pt.Label = true, "↑ "+thousands(int(ms[i]))+" ms"
		}
		c.Points = append(c.Points, pt)
	}
	for _, f := range []float64{0, 0.5, 1} {
		v := int64(float64(scale) * f)
		c.YTicks = append(c.YTicks, ChartTick{Y: c.Top + plotH*(1-f), Label: strconv.FormatInt(v, 10) + " ms"})
	}
	c.FirstLabel, c.LastLabel = chartTime(ordered[0].At), chartTime(ordered[len(ordered)-1].At)
	c.Summary = fmt.Sprintf("%s: median %s ms, fastest %s ms, slowest %s ms.", plural(len(ms), "check", "checks"),
		thousands(int(sorted[len(sorted)/2])), thousands(int(sorted[0])), thousands(int(sorted[len(sorted)-1])))
	return c
}

// niceCeil rounds a top latency up to a round scale: 1, 2 or 5 times a power of ten.
func niceCeil(v int64) int64 {
	if v <= 10 {
		return 10
	}
	for p := int64(10); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if v <= m*p {
				return m * p
			}
		}
	}
}

func chartTime(t time.Time) string { return t.UTC().Format("2 Jan 15:04 UTC") }

// fmtF writes an SVG coordinate with one decimal at most.
func fmtF(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }
