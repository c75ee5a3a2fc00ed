// Package charts draws the side-by-side benchmark's numbers as PNG images for
// BENCHMARKS.md: one image per workload, four panels (time to full tables with the
// fastest-to-slowest spread, target CPU seconds, target peak RSS, UPDATEs received), a bar
// per target in a colour that is the same target's in every image. A target without a
// number (timed out, failed, not run) has no bar but a note where the bar would be.
//
// Drawing uses gonum.org/v1/plot; nothing here keeps state between calls.
package charts

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fanoutd/fanout/bench/harness"
)

// Width and Height are the size of every image in pixels.
const (
	Width  = 1200
	Height = 800
	dpi    = 96
)

// Palette is the colour of each known target, in harness.TargetNames order; other targets
// take grey.
var palette = map[string]color.RGBA{
	"fanoutd":  {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	"bird":     {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	"frr":      {R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
	"gobgpd":   {R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
	"openbgpd": {R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
}

// Color returns target's bar colour.
func Color(target string) color.RGBA {
	if c, ok := palette[target]; ok {
		return c
	}
	return color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
}

// panel is one of the four measures.
type panel struct {
	title string
	value func(s harness.Summary) (v, lo, hi float64, ok bool)
	label func(v, lo, hi float64) string // nil: the value
}

// latencyPanel replaces the time panel for a workload that measured propagation latency.
var latencyPanel = panel{"propagation latency (ms): bar p50, whisker p99", func(s harness.Summary) (float64, float64, float64, bool) {
	if s.LatencyP50 == nil || s.LatencyP99 == nil {
		return 0, 0, 0, false
	}
	return *s.LatencyP50, *s.LatencyP50, *s.LatencyP99, true
}, func(v, _, hi float64) string { return valueLabel(v) + " / " + valueLabel(hi) }}

var panels = []panel{
	{"time to the expected tables (s), median, bars fastest–slowest", func(s harness.Summary) (float64, float64, float64, bool) {
		if s.Seconds == nil {
			return 0, 0, 0, false
		}
		return *s.Seconds, *s.MinSeconds, *s.MaxSeconds, true
	}, nil},
	{"target CPU (s), median", func(s harness.Summary) (float64, float64, float64, bool) {
		return s.CPU, s.CPU, s.CPU, s.OK > 0
	}, nil},
	{"target peak RSS (MiB), median", func(s harness.Summary) (float64, float64, float64, bool) {
		v := float64(s.RSS) / (1 << 20)
		return v, v, v, s.OK > 0
	}, nil},
	{"UPDATEs received, all receivers (thousands)", func(s harness.Summary) (float64, float64, float64, bool) {
		v := float64(s.Updates) / 1000
		return v, v, v, s.OK > 0
	}, nil},
}

// Workload draws workload's chart from the summaries (other workloads' are ignored) as a
// PNG to w. title heads the image (the workload and its size).
func Workload(w io.Writer, title, workload string, ss []harness.Summary) error {
	var rows []harness.Summary
	for _, s := range ss {
		if s.Workload == workload {
			rows = append(rows, s)
		}
	}
	if len(rows) == 0 {
		return fmt.Errorf("chart %s: no results for the workload", workload)
	}
	names := make([]string, len(rows))
	for i, s := range rows {
		names[i] = s.Target
	}
	ps := slices.Clone(panels)
	if slices.ContainsFunc(rows, func(s harness.Summary) bool { return s.LatencyP50 != nil }) {
		ps[0] = latencyPanel
	}
	plots := make([][]*plot.Plot, 2)
	for i, pn := range ps {
		p, err := barPanel(pn, rows, names)
		if err != nil {
			return fmt.Errorf("chart %s: %w", workload, err)
		}
		plots[i/2] = append(plots[i/2], p)
	}
	px := func(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }
	img := vgimg.NewWith(vgimg.UseWH(px(Width), px(Height)), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	head := draw.TextStyle{Color: color.Black, Font: plot.DefaultFont, Handler: plot.DefaultTextHandler}
	head.Font.Size = vg.Points(15)
	head.XAlign, head.YAlign = draw.XCenter, draw.YTop
	titleH := px(36)
	dc.FillText(head, vg.Point{X: dc.Min.X + dc.Size().X/2, Y: dc.Max.Y - px(8)}, title)
	body := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: dc.Min, Max: vg.Point{X: dc.Max.X, Y: dc.Max.Y - titleH}}}
	tiles := draw.Tiles{Rows: 2, Cols: 2, PadTop: px(6), PadBottom: px(6), PadLeft: px(6), PadRight: px(10),
		PadX: px(30), PadY: px(24)}
	cs := plot.Align(plots, tiles, body)
	for r := range plots {
		for c := range plots[r] {
			plots[r][c].Draw(cs[r][c])
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// WriteFile draws workload's chart into the file at path.
func WriteFile(path, title, workload string, ss []harness.Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Workload(f, title, workload, ss); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// barPanel draws one measure: a bar per target that has it, a note for one that has not.
func barPanel(pn panel, rows []harness.Summary, names []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Tick.Label.Font.Size = vg.Points(11)
	p.Y.Tick.Label.Font.Size = vg.Points(10)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.NominalX(names...)
	top := 0.0
	var errPts plotter.XYs
	var errs plotter.YErrors
	var labels plotter.XYLabels
	for i, s := range rows {
		v, lo, hi, ok := pn.value(s)
		if !ok || math.IsNaN(v) {
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: 0})
			labels.Labels = append(labels.Labels, missing(s))
			continue
		}
		top = max(top, hi, v)
		bc, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(40))
		if err != nil {
			return nil, err
		}
		bc.XMin = float64(i)
		bc.Color = Color(s.Target)
		bc.LineStyle.Width = 0
		p.Add(bc)
		if hi > lo {
			errPts = append(errPts, plotter.XY{X: float64(i), Y: v})
			errs = append(errs, struct{ Low, High float64 }{v - lo, hi - v})
		}
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: hi}) // above the spread
		if pn.label != nil {
			labels.Labels = append(labels.Labels, pn.label(v, lo, hi))
		} else {
			labels.Labels = append(labels.Labels, valueLabel(v))
		}
	}
	if len(errPts) > 0 {
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{errPts, errs})
		if err != nil {
			return nil, err
		}
		eb.LineStyle.Width = vg.Points(1.2)
		p.Add(eb)
	}
	if top == 0 {
		top = 1
	}
	p.Y.Max = top * 1.18 // room for the value labels
	p.X.Min, p.X.Max = -0.6, float64(len(rows))-0.4
	if len(labels.XYs) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
			l.TextStyle[i].Font.Size = vg.Points(10)
			l.Offset = vg.Point{Y: vg.Points(3)}
		}
		p.Add(l)
	}
	return p, nil
}

// missing says why a target has no bar.
func missing(s harness.Summary) string {
	switch {
	case s.TimedOut != "":
		return "timed out after " + s.TimedOut
	case s.Runs == 0:
		return "not run"
	}
	return "failed"
}

// valueLabel prints v with three significant digits (no exponent for what a chart shows).
func valueLabel(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1 || v == 0:
		return fmt.Sprintf("%.2f", v)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Workloads returns the workloads of ss in first-seen order.
func Workloads(ss []harness.Summary) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s.Workload) {
			out = append(out, s.Workload)
		}
	}
	return out
}
