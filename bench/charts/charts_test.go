package charts

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"

	"github.com/fanoutd/fanout/bench/harness"
)

func f(x float64) *float64 { return &x }

func sample() []harness.Summary {
	return []harness.Summary{
		{Target: "fanoutd", Workload: "converge", Runs: 3, OK: 3, Seconds: f(0.45), MinSeconds: f(0.41), MaxSeconds: f(0.62),
			CPU: 0.4, RSS: 69 << 20, Updates: 39534},
		{Target: "bird", Workload: "converge", Runs: 3, OK: 3, Seconds: f(0.73), MinSeconds: f(0.70), MaxSeconds: f(0.80),
			CPU: 0.56, RSS: 83 << 20, Updates: 19800},
		{Target: "gobgpd", Workload: "converge", Runs: 1, OK: 0, TimedOut: "20s", NotRun: 2},
		{Target: "fanoutd", Workload: "latency", Runs: 1, OK: 1, Seconds: f(0.4), MinSeconds: f(0.4), MaxSeconds: f(0.4),
			LatencyP50: f(3.2), LatencyP99: f(3.7)},
	}
}

// countColor counts the pixels of img that are exactly c (opaque).
func countColor(t *testing.T, img image.Image, c color.RGBA) int {
	var pix []byte
	step := 4
	switch m := img.(type) {
	case *image.RGBA:
		pix = m.Pix
	case *image.NRGBA:
		pix = m.Pix
	default:
		t.Fatalf("decoded image is a %T", img)
	}
	n := 0
	for i := 0; i+3 < len(pix); i += step {
		if pix[i] == c.R && pix[i+1] == c.G && pix[i+2] == c.B && pix[i+3] == c.A {
			n++
		}
	}
	return n
}

// TestWorkloadPNG: the image decodes, has the documented size, has bars in the colours of
// the targets with numbers and none in the colour of the one that timed out.
func TestWorkloadPNG(t *testing.T) {
	var b bytes.Buffer
	if err := Workload(&b, "converge: 10 speakers x 10000 prefixes", "converge", sample()); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("CHART_OUT"); out != "" { // to look at it
		if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if sz := img.Bounds().Size(); sz.X != Width || sz.Y != Height {
		t.Fatalf("image is %v, want %dx%d", sz, Width, Height)
	}
	for _, tg := range []string{"fanoutd", "bird"} {
		if n := countColor(t, img, Color(tg)); n < 2000 {
			t.Errorf("%s: %d pixels of its colour, want its bars (thousands)", tg, n)
		}
	}
	if n := countColor(t, img, Color("gobgpd")); n != 0 {
		t.Errorf("gobgpd timed out but has %d pixels of its colour", n)
	}
	if err := Workload(&b, "x", "storm", sample()); err == nil {
		t.Error("a workload without results drew a chart")
	}
}

func TestValueLabel(t *testing.T) {
	for v, want := range map[float64]string{0: "0.00", 0.00412: "0.00412", 0.456: "0.456", 3.14159: "3.14", 12.34: "12.3", 1234.5: "1234"} {
		if got := valueLabel(v); got != want {
			t.Errorf("valueLabel(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestWorkloads(t *testing.T) {
	w := Workloads(sample())
	if len(w) != 2 || w[0] != "converge" || w[1] != "latency" {
		t.Errorf("workloads %v", w)
	}
}
